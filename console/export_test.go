package console

import "io/fs"

// Files returns the embedded page files, for tests that read them.
func Files() fs.FS {
	web, _ := fs.Sub(webFiles, "web")
	return web
}

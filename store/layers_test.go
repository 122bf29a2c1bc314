package store_test

import (
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

// above are the packages of the module that sit above the store: nothing
// under store/ may import them, directly or through another package.
var above = []string{"flow", "kinds", "element", "segment", "flowtest"}

// Every package under store/ keeps below the engine, its tests excepted
// (they may run the engine's scenarios): a store's author builds and tests
// it without flow, kinds, element, segment or flowtest.
func TestStoreImportsNothingAbove(t *testing.T) {
	mod, err := os.ReadFile("../go.mod")
	require.NoError(t, err)
	modPath := ""
	for line := range strings.Lines(string(mod)) {
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			modPath = strings.TrimSpace(p)
		}
	}
	require.NotEmpty(t, modPath, "module path in go.mod")
	bad, err := importsAbove(os.DirFS(".."), modPath, "store", above)
	require.NoError(t, err)
	require.Empty(t, bad, "packages under store/ that import a package above the store")
}

// The check sees imports through other packages of the module, and
// ignores tests.
func TestImportsAboveFindsIndirectImports(t *testing.T) {
	fsys := fstest.MapFS{
		"store/store.go":              {Data: []byte("package store\n")},
		"store/memory/memory.go":      {Data: []byte("package memory\nimport (\n\t\"m/store\"\n\t\"m/internal/conv\"\n)\n")},
		"store/memory/memory_test.go": {Data: []byte("package memory\nimport \"m/flow\"\n")},
		"store/ok/ok.go":              {Data: []byte("package ok\nimport (\n\t\"fmt\"\n\t\"m/clock\"\n)\n")},
		"store/direct/direct.go":      {Data: []byte("package direct\nimport \"m/flowtest/storecheck\"\n")},
		"internal/conv/conv.go":       {Data: []byte("package conv\nimport \"m/segment\"\n")},
		"segment/segment.go":          {Data: []byte("package segment\n")},
		"flowtest/storecheck/a.go":    {Data: []byte("package storecheck\n")},
		"flow/flow.go":                {Data: []byte("package flow\n")},
		"clock/clock.go":              {Data: []byte("package clock\n")},
	}
	bad, err := importsAbove(fsys, "m", "store", above)
	require.NoError(t, err)
	require.Equal(t, []string{
		"m/store/direct imports m/flowtest/storecheck",
		"m/store/memory imports m/segment (through m/internal/conv)",
	}, bad)
}

// importsAbove returns, for each package under dir of the module in fsys,
// the first package of forbidden (or under one) that it imports through
// the module's non-test files, with the path it takes.
func importsAbove(fsys fs.FS, modPath, dir string, forbidden []string) ([]string, error) {
	imports := map[string][]string{} // package -> the module's packages it imports
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != "." && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "vendor") {
				return fs.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		src, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, src, parser.ImportsOnly)
		if err != nil {
			return err
		}
		pkg := modPath + "/" + path.Dir(p)
		if path.Dir(p) == "." {
			pkg = modPath
		}
		if _, ok := imports[pkg]; !ok {
			imports[pkg] = nil // a package importing none of the module's
		}
		for _, spec := range f.Imports {
			ip, err := strconv.Unquote(spec.Path.Value)
			if err != nil {
				return err
			}
			if (ip == modPath || strings.HasPrefix(ip, modPath+"/")) && !slices.Contains(imports[pkg], ip) {
				imports[pkg] = append(imports[pkg], ip)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	isForbidden := func(pkg string) bool {
		for _, f := range forbidden {
			if pkg == modPath+"/"+f || strings.HasPrefix(pkg, modPath+"/"+f+"/") {
				return true
			}
		}
		return false
	}
	var pkgs []string
	for pkg := range imports {
		if pkg == modPath+"/"+dir || strings.HasPrefix(pkg, modPath+"/"+dir+"/") {
			pkgs = append(pkgs, pkg)
		}
	}
	slices.Sort(pkgs)
	var bad []string
	for _, pkg := range pkgs {
		// Breadth first, so the path reported is a shortest one.
		via := map[string]string{pkg: ""}
		queue := []string{pkg}
		for len(queue) > 0 {
			p := queue[0]
			queue = queue[1:]
			if isForbidden(p) {
				var chain []string
				for q := via[p]; q != pkg; q = via[q] {
					chain = append([]string{q}, chain...)
				}
				msg := fmt.Sprintf("%s imports %s", pkg, p)
				if len(chain) > 0 {
					msg += " (through " + strings.Join(chain, ", ") + ")"
				}
				bad = append(bad, msg)
				break
			}
			for _, next := range imports[p] {
				if _, seen := via[next]; !seen {
					via[next] = p
					queue = append(queue, next)
				}
			}
		}
	}
	return bad, nil
}

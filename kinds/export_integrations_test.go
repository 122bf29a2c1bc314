package kinds

import "time"

// ReadResponseForTest reads one value of a response body by JSONPath, as a
// Call API step does, for fuzzing without a server.
func ReadResponseForTest(body, path string) (any, error) {
	ev, err := compileJSONPath(path)
	if err != nil {
		return nil, err
	}
	data, err := parseJSONBody([]byte(body))
	if err != nil {
		return nil, err
	}
	return readJSONPath(ev, data)
}

// MaxRedirects is the most redirects a Call API request follows.
const MaxRedirects = maxRedirects

// On returns the instant of c on t's calendar day in loc.
func On(c TimeOfDay, t time.Time, loc *time.Location) time.Time { return c.on(t, loc) }

// NextAt returns the first instant at or after t whose wall clock in loc
// reads c.
func NextAt(c TimeOfDay, t time.Time, loc *time.Location) time.Time { return c.nextAt(t, loc) }

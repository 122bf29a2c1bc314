package kinds

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

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/store"
)

func runValidate(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("validate", stderr)
	attrs := fs.String("attributes", "", "a JSON `file` declaring the host's custom person attributes and their types, such as {\"plan\": \"text\"}")
	if err := fs.Parse(args); err != nil || fs.NArg() == 0 {
		return usageError(stderr, fs, err, "name at least one flow document")
	}
	schema, err := readAttributes(*attrs)
	if err != nil {
		fmt.Fprintln(stderr, "flowkit validate:", err)
		return exitUsage
	}
	status := exitOK
	for _, name := range fs.Args() {
		data, err := readDocument(name)
		if err != nil {
			fmt.Fprintln(stderr, "flowkit validate:", err)
			status = exitProblem
			continue
		}
		problems := validateDocument(data, schema)
		for _, p := range problems {
			fmt.Fprintln(stdout, p.String(name))
			status = exitProblem
		}
		if len(problems) > 0 {
			continue
		}
		// A valid document may still hold likely mistakes: they are
		// printed, and do not fail the check.
		if f, err := flow.Parse(data); err == nil {
			for _, w := range f.Warnings() {
				fmt.Fprintf(stdout, "%s: warning: %s\n", name, w)
			}
		}
	}
	return status
}

// maxDocumentBytes is the longest flow document validate reads: the
// most flow.Parse accepts.
const maxDocumentBytes = 1 << 20

// readDocument reads a flow document, refusing one longer than
// maxDocumentBytes without reading the rest of it.
func readDocument(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxDocumentBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxDocumentBytes {
		return nil, fmt.Errorf("%s: a flow document is at most %d bytes (flow.Limits.MaxDocumentBytes)", name, maxDocumentBytes)
	}
	return data, nil
}

// readAttributes reads a file of custom attribute declarations, a JSON
// object of attribute names and types; "" declares none.
func readAttributes(name string) (store.Schema, error) {
	if name == "" {
		return nil, nil
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var s store.Schema
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: attribute declarations are a JSON object of names and types: %v", name, err)
	}
	for attr, t := range s {
		if !t.Valid() {
			return nil, fmt.Errorf("%s: attribute %q has unknown type %q", name, attr, t)
		}
	}
	return s, nil
}

func schemaJSON() []byte { return flow.Schema(nil) }

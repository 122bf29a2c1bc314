package flow_test

import (
	"bytes"
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/flowkit/flowkit/kinds"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/store/memory"
)

// compileSchema compiles flow.Schema with a real validator, format checks
// (date-time) on.
func compileSchema(t *testing.T) *jsonschema.Schema { return compileSchemaOf(t, nil) }

// compileSchemaOf compiles the schema of kinds (nil for the built-ins).
func compileSchemaOf(t *testing.T, kinds *element.Registry) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(flow.Schema(kinds)))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	require.NoError(t, c.AddResource(flow.SchemaID, doc))
	sch, err := c.Compile(flow.SchemaID)
	require.NoError(t, err)
	return sch
}

func schemaCheck(t *testing.T, sch *jsonschema.Schema, data []byte) error {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	return sch.Validate(inst)
}

// flowRefuses reports why Parse or an engine's Validate refuses data, or
// nil when both accept it.
func flowRefuses(data []byte) error { return flowRefusesWith(data, nil) }

// flowRefusesWith is flowRefuses with the element kinds of an engine.
func flowRefusesWith(data []byte, kinds *element.Registry) error {
	f, err := flow.ParseWith(data, kinds)
	if err != nil {
		return err
	}
	eng, err := flow.NewEngine(flow.Config{Store: memory.New(), Elements: kinds})
	if err != nil {
		panic(err)
	}
	return eng.Validate(f)
}

// flowDocuments collects the flow documents of the module: every
// example's and test data's *.json flow file, and every Go string literal
// (tests included) that is a JSON object with "elements".
func flowDocuments(t *testing.T) map[string][]byte {
	t.Helper()
	docs := map[string][]byte{}
	root := ".."
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != root {
			return filepath.SkipDir
		}
		switch {
		case strings.HasSuffix(path, ".json") && (strings.Contains(path, "examples") || strings.Contains(path, "testdata")):
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if isFlowDocument(data) {
				docs[path] = data
			}
		case strings.HasSuffix(path, ".go"):
			fset := token.NewFileSet()
			file, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			ast.Inspect(file, func(n ast.Node) bool {
				lit, ok := n.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					return true
				}
				s, err := strconv.Unquote(lit.Value)
				if err == nil && isFlowDocument([]byte(s)) {
					docs[fset.Position(lit.Pos()).String()] = []byte(s)
				}
				return true
			})
		}
		return nil
	})
	require.NoError(t, err)
	return docs
}

func isFlowDocument(data []byte) bool {
	var top map[string]json.RawMessage
	if json.Unmarshal(data, &top) != nil {
		return false
	}
	_, ok := top["elements"]
	return ok
}

// The schema accepts every example flow and every flow document of the
// module that flowkit accepts, and whatever it refuses flowkit refuses.
func TestSchemaAgreesWithParseAndValidate(t *testing.T) {
	sch := compileSchema(t)
	docs := flowDocuments(t)
	examples, refused := 0, 0
	for name, data := range docs {
		serr := schemaCheck(t, sch, data)
		if serr != nil {
			refused++
		}
		if strings.Contains(name, "examples") && strings.HasSuffix(name, "flow.json") {
			examples++
			require.NoError(t, serr, "example %s", name)
		}
		if serr != nil {
			require.Error(t, flowRefuses(data), "the schema refuses %s but flowkit accepts it: %v", name, serr)
		}
	}
	t.Logf("%d flow documents, %d examples, %d refused by the schema", len(docs), examples, refused)
	require.GreaterOrEqual(t, examples, 3, "example flow files found")
	require.GreaterOrEqual(t, len(docs), 15, "flow documents found")
}

// Documents the schema refuses are refused by Parse or Publish too.
func TestSchemaRefusesWhatFlowkitRefuses(t *testing.T) {
	sch := compileSchema(t)
	exit := `{"id":"done","type":"exit"}`
	for _, tc := range []struct{ name, doc string }{
		{"not an object", `[]`},
		{"no id", `{"elements":[` + exit + `]}`},
		{"empty id", `{"id":"","elements":[` + exit + `]}`},
		{"id not a string", `{"id":5,"elements":[` + exit + `]}`},
		{"no elements", `{"id":"f","elements":[]}`},
		{"unknown flow field", `{"id":"f","colour":"red","elements":[` + exit + `]}`},
		{"bad variable type", `{"id":"f","variables":{"x":{"type":"string"}},"elements":[` + exit + `]}`},
		{"variable without a type", `{"id":"f","variables":{"x":{}},"elements":[` + exit + `]}`},
		{"bad trigger category", `{"id":"f","trigger":{"category":"web","name":"x"},"elements":[` + exit + `]}`},
		{"trigger without a name", `{"id":"f","trigger":{"category":"external"},"elements":[` + exit + `]}`},
		{"schedule not a date-time", `{"id":"f","schedule":{"start":"tomorrow"},"elements":[` + exit + `]}`},
		{"reentry not a boolean", `{"id":"f","reentry":"yes","elements":[` + exit + `]}`},
		{"element not an object", `{"id":"f","elements":[5]}`},
		{"element without id", `{"id":"f","elements":[{"type":"exit"}]}`},
		{"element without type", `{"id":"f","elements":[{"id":"a"}]}`},
		{"unknown kind", `{"id":"f","elements":[{"id":"a","type":"sendMesage"}]}`},
		{"unknown element field", `{"id":"f","elements":[{"id":"a","type":"exit","colour":"red"}]}`},
		{"field of another kind", `{"id":"f","elements":[{"id":"a","type":"exit","tag":"x"}]}`},
		{"wrong field type", `{"id":"f","elements":[{"id":"a","type":"addTag","tag":7}]}`},
		{"nested wrong type", `{"id":"f","elements":[{"id":"p","type":"pause","mode":"for","period":{"amount":"three","unit":"days"}}]}`},
		{"nested unknown field", `{"id":"f","elements":[{"id":"w","type":"waitForEvent","event":{"name":"x","colour":"red"},"waitFor":{"amount":1,"unit":"days"}}]}`},
		{"next target not a string", `{"id":"f","elements":[{"id":"a","type":"addTag","tag":"x","next":{"next":5}}]}`},
		{"segment condition unknown field", `{"id":"f","elements":[{"id":"s","type":"segmentAudience","segments":[{"name":"a","condition":{"attribute":"firstName","op":"is","value":"x","colour":1}}]}]}`},
		{"unknown redirect policy", `{"id":"f","elements":[{"id":"c","type":"callApi","url":"https://api.example.com/x","redirects":"never"}]}`},
		{"more than 100 elements", `{"id":"f","elements":[` + strings.TrimSuffix(strings.Repeat(exit+",", 101), ",") + `]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Error(t, schemaCheck(t, sch, []byte(tc.doc)), "the schema accepts it")
			require.Error(t, flowRefuses([]byte(tc.doc)), "flowkit accepts it")
		})
	}
}

// A custom kind shows up in the schema with its branches, and its uses
// are checked like any other element's.
func TestSchemaIncludesCustomKinds(t *testing.T) {
	kind := "schema.test." + strconv.Itoa(os.Getpid())
	reg := kinds.Registry()
	require.NoError(t, kinds.RegisterCustom(reg, kind, kinds.CustomKind{
		Branches: []string{"added", "skipped"},
		Run: func(context.Context, *kinds.CustomCall) (kinds.CustomResult, error) {
			return kinds.CustomResult{}, nil
		},
	}))
	var schema struct {
		Defs map[string]struct {
			Properties map[string]struct {
				Properties map[string]any `json:"properties"`
			} `json:"properties"`
		} `json:"$defs"`
	}
	require.NoError(t, json.Unmarshal(flow.Schema(reg), &schema))
	def, ok := schema.Defs["kind."+kind]
	require.True(t, ok, "no definition of the custom kind")
	require.Contains(t, def.Properties, "config")
	require.Contains(t, def.Properties, "outputs")
	require.Contains(t, def.Properties["next"].Properties, "added")
	require.Contains(t, def.Properties["next"].Properties, "skipped")

	sch := compileSchemaOf(t, reg)
	good := `{"id":"f","elements":[{"id":"c","type":"` + kind + `","config":{"group":"vip"},"next":{"added":"done"}},{"id":"done","type":"exit"}]}`
	require.NoError(t, schemaCheck(t, sch, []byte(good)))
	require.NoError(t, flowRefusesWith([]byte(good), reg))
	bad := `{"id":"f","elements":[{"id":"c","type":"` + kind + `","settings":{}}]}`
	require.Error(t, schemaCheck(t, sch, []byte(bad)))
	require.Error(t, flowRefusesWith([]byte(bad), reg))
}

package flow

import (
	"encoding/json"
	"reflect"
	"strings"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/store"
)

// SchemaID is the $id of the JSON Schema that Schema returns.
const SchemaID = "https://github.com/flowkit/flowkit/flow.schema.json"

// Schema returns a JSON Schema (draft 2020-12) of flow documents as Parse
// reads them, so that editors can complete and check flow files. It is
// built from kinds (an engine's Config.Elements; nil for the built-in
// kinds) when called: every registered kind, custom kinds included, is
// described by the JSON form of its Go type (a
// custom kind's "config" is any JSON value its Validate accepts, and its
// branches are listed under "next").
//
// The schema checks the document's shape: fields, their JSON types,
// element kinds, required settings. A document it accepts may still be
// refused by Publish, which also checks references, expressions and
// segments; a document it refuses is refused by Parse or Publish.
func Schema(kinds *element.Registry) []byte {
	if kinds == nil {
		kinds = builtins
	}
	g := &schemaGen{defs: map[string]any{}}
	names := kinds.Kinds()
	dispatch := make([]any, 0, len(names))
	for _, k := range names {
		el, err := kinds.New(k)
		if err != nil {
			continue // unregistered between the two calls
		}
		g.defs["kind."+k] = g.kind(k, el)
		dispatch = append(dispatch, obj{
			"if":   obj{"properties": obj{"type": obj{"const": k}}, "required": []string{"type"}},
			"then": obj{"$ref": "#/$defs/kind." + k},
		})
	}
	g.defs["element"] = obj{
		"description": "One element of the flow: its id, its kind in \"type\", the kind's own fields and \"next\", which maps branch names to element ids.",
		"type":        "object",
		"required":    []string{"id", "type"},
		"properties": obj{
			"id":   obj{"type": "string", "minLength": 1},
			"type": obj{"enum": names},
		},
		"allOf": dispatch,
	}
	root := g.structSchema(reflect.TypeFor[Flow](), true)
	props := root["properties"].(obj)
	props["elements"] = obj{"type": "array", "minItems": 1, "maxItems": MaxElements, "items": obj{"$ref": "#/$defs/element"}}
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = SchemaID
	root["title"] = "flowkit flow"
	root["$defs"] = g.defs
	if v, ok := g.defs["flow.Variable"].(obj); ok {
		v["properties"].(obj)["type"] = obj{"enum": []store.Type{store.Text, store.Number, store.Bool, store.Date, store.DateTime, store.List, store.Object}}
	}
	if t, ok := g.defs["flow.Trigger"].(obj); ok {
		t["properties"].(obj)["category"] = obj{"enum": []store.Category{store.External, store.People, store.Channel, store.Product}}
		t["properties"].(obj)["name"] = obj{"type": "string", "minLength": 1}
	}
	props["id"] = obj{"type": "string", "minLength": 1}
	if r, ok := g.defs["flow.Reentry"].(obj); ok {
		r["properties"].(obj)["rule"] = obj{"enum": []string{ReenterAfterExit, ReenterOnce, ReenterAfterCoolDown, ReenterConcurrent}}
		props["reentry"] = obj{"description": "When a person may enter again: a rule, or true for as often as they like.",
			"oneOf": []any{obj{"type": "boolean"}, obj{"$ref": "#/$defs/flow.Reentry"}}}
	}
	callAPIEnums(g.defs)
	if en, ok := g.defs["flow.Entry"].(obj); ok {
		en["properties"].(obj)["type"] = obj{"enum": entryTypes}
	}
	data, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		// Every value above is a map, slice, string or number.
		panic("flow: schema does not encode: " + err.Error())
	}
	return append(data, '\n')
}

type obj = map[string]any

// callAPIEnums lists the values of Call API's fields that take one of a
// few words.
func callAPIEnums(defs map[string]any) {
	if c, ok := defs["kind.callApi"].(obj); ok {
		if props, ok := c["properties"].(obj); ok && props["redirects"] != nil {
			props["redirects"] = obj{"enum": []string{kinds.RedirectsFollow, kinds.RedirectsRefuse}}
		}
	}
}

// schemaGen builds schemas from Go types by their encoding/json form,
// keeping named struct types in $defs so that recursive types (segment
// conditions) stay finite.
type schemaGen struct {
	defs map[string]any
}

// kind describes one element kind: the node's own fields beside the
// kind's configuration.
func (g *schemaGen) kind(k string, el element.Element) obj {
	s := g.structSchema(reflect.TypeOf(el).Elem(), false)
	props := s["properties"].(obj)
	branches := obj{}
	for _, b := range append(el.Branches(), element.BranchError) {
		branches[b] = obj{"type": "string"}
	}
	props["id"] = obj{"type": "string", "minLength": 1}
	props["type"] = obj{"const": k}
	props["name"] = obj{"type": "string"}
	props["next"] = obj{
		"description": "Where each branch leads: an element id, or \"\" to leave the flow.",
		"type":        "object", "properties": branches, "additionalProperties": obj{"type": "string"},
	}
	s["title"] = k
	return s
}

var (
	timeType    = reflect.TypeFor[time.Time]()
	rawType     = reflect.TypeFor[json.RawMessage]()
	unmarshaler = reflect.TypeFor[json.Unmarshaler]()
)

// of returns the schema of values of type t.
func (g *schemaGen) of(t reflect.Type) any {
	switch t {
	case timeType:
		return obj{"type": "string", "format": "date-time"}
	case rawType:
		return obj{}
	}
	if t.Kind() == reflect.Pointer {
		return g.of(t.Elem())
	}
	if reflect.PointerTo(t).Implements(unmarshaler) {
		if s := g.custom(t); s != nil {
			return s
		}
	}
	switch t.Kind() {
	case reflect.String:
		return obj{"type": "string"}
	case reflect.Bool:
		return obj{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return obj{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return obj{"type": "number"}
	case reflect.Slice, reflect.Array:
		return obj{"type": "array", "items": g.of(t.Elem())}
	case reflect.Map:
		return obj{"type": "object", "additionalProperties": g.of(t.Elem())}
	case reflect.Struct:
		if t.Name() == "" {
			return g.structSchema(t, false)
		}
		name := defName(t)
		if _, ok := g.defs[name]; !ok {
			g.defs[name] = obj{} // placeholder, for recursion
			g.defs[name] = g.structSchema(t, t.PkgPath() == reflect.TypeFor[Flow]().PkgPath())
		}
		return obj{"$ref": "#/$defs/" + name}
	}
	return obj{}
}

// custom describes a type that decodes itself, by the JSON form of its
// zero value: a struct that encodes as an object is described by its
// fields, a type that encodes as text as a string. It returns nil to fall
// back to the type's fields, and {} (any value) when it cannot tell.
func (g *schemaGen) custom(t reflect.Type) any {
	data, err := json.Marshal(reflect.New(t).Interface())
	if err != nil || len(data) == 0 {
		return obj{}
	}
	switch data[0] {
	case '"':
		return obj{"type": "string"}
	case '{':
		if t.Kind() == reflect.Struct {
			return nil
		}
	case 't', 'f':
		return obj{"type": "boolean"}
	case '[':
		return obj{"type": "array"}
	case 'n':
	default:
		return obj{"type": "number"}
	}
	return obj{}
}

func defName(t reflect.Type) string {
	pkg := t.PkgPath()
	return pkg[strings.LastIndex(pkg, "/")+1:] + "." + t.Name()
}

// structSchema describes a struct by its exported fields' json names.
// Unknown fields are refused, as Parse refuses them. With required, the
// fields without omitempty or omitzero are required: the flow's own
// records follow that rule, element configurations are checked by their
// Validate instead.
func (g *schemaGen) structSchema(t reflect.Type, required bool) obj {
	props := obj{}
	var req []string
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					walk(ft)
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			props[name] = g.of(f.Type)
			if required && !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
				req = append(req, name)
			}
		}
	}
	walk(t)
	s := obj{"type": "object", "properties": props, "additionalProperties": false}
	if len(req) > 0 {
		s["required"] = req
	}
	return s
}

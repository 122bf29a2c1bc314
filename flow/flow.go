package flow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/store"
)

// MaxElements is the most elements a flow may have; larger journeys are
// split into flows joined by Add to Flow.
const MaxElements = 100

// Flow is a flow graph: elements joined by named branches, with its
// settings. Build one with New or read one with Parse; publish it with
// Engine.Publish. A published flow is immutable: the engine keeps its own
// copy.
type Flow struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// Version is set by Publish on the engine's copy; it is ignored on
	// input.
	Version int `json:"version,omitempty"`
	// TimeZone is an IANA name. Defaults to UTC.
	TimeZone string `json:"timezone,omitempty"`
	// Schedule bounds when the flow runs.
	Schedule Schedule `json:"schedule,omitzero"`
	// Variables are the flow's declared variables, by name.
	Variables map[string]Variable `json:"variables,omitempty"`
	// Trigger, when set, enters people into the flow when a matching event
	// is delivered: the short form of an event entry without conditions.
	Trigger *Trigger `json:"trigger,omitempty"`
	// Entries are the flow's entry points (see Entry). Defaults to the API
	// and Existing Flow entries, plus the Trigger.
	Entries []*Entry `json:"entries,omitempty"`
	// Reentry says when a person may enter again. Defaults to after their
	// previous participation ended (ReenterAfterExit); a refused entry
	// fails with ErrAlreadyInFlow, naming the rule.
	Reentry *Reentry `json:"reentry,omitempty"`
	// ExitRules take participants out wherever they are.
	ExitRules []*ExitRule `json:"exitRules,omitempty"`
	// Goals are the flow's conversions.
	Goals []*Goal `json:"goals,omitempty"`
	// Holdout holds a share of people out of every step of the flow that
	// would reach them, as a global control group (see Holdout).
	Holdout *Holdout `json:"holdout,omitempty"`
	// Start is the id of the element participants enter at. Defaults to the
	// first element.
	Start    string  `json:"start,omitempty"`
	Elements []*Node `json:"elements"`
}

// Schedule bounds a flow in time. No one enters before Start or after End;
// at End every participant still in the flow leaves it.
type Schedule struct {
	Start time.Time `json:"start,omitzero"`
	End   time.Time `json:"end,omitzero"`
}

// Variable declares a flow variable.
type Variable struct {
	Type store.Type `json:"type"`
	// Default is the value a participant starts with unless Enter gives
	// one; nil for empty.
	Default any `json:"default,omitempty"`
}

// Trigger is an event entry point: a delivered event of this category and
// name enters its person into the flow.
type Trigger struct {
	Category store.Category `json:"category"`
	Name     string         `json:"name"`
}

// Next maps an element's branch names to the ids of the elements they lead
// to. A branch with no target leaves the flow.
type Next map[string]string

// Node is one element of a flow: its id, its kind-specific configuration
// and where its branches lead. In JSON the configuration's fields sit beside
// "id", "type", "name" and "next".
type Node struct {
	ID      string
	Name    string
	Element element.Element
	Next    Next
}

// New starts a flow with an id and a name; add elements with Add.
func New(id, name string) *Flow { return &Flow{ID: id, Name: name} }

// In sets the flow's time zone and returns the flow.
func (f *Flow) In(timeZone string) *Flow { f.TimeZone = timeZone; return f }

// Var declares a variable with a type and a default (nil for none) and
// returns the flow.
func (f *Flow) Var(name string, t store.Type, def any) *Flow {
	if f.Variables == nil {
		f.Variables = map[string]Variable{}
	}
	f.Variables[name] = Variable{Type: t, Default: def}
	return f
}

// Add appends an element with the given id and branch targets and returns
// the flow. The first element added is the start unless Start is set.
func (f *Flow) Add(id string, e element.Element, next Next) *Flow {
	f.Elements = append(f.Elements, &Node{ID: id, Element: e, Next: next})
	return f
}

// Node returns the element with the given id, or nil.
func (f *Flow) Node(id string) *Node {
	for _, n := range f.Elements {
		if n != nil && n.ID == id {
			return n
		}
	}
	return nil
}

// MarshalJSON writes the node as one object: "id", "type", "name", the
// element's own fields, then "next".
func (n *Node) MarshalJSON() ([]byte, error) {
	if n.Element == nil {
		return nil, fmt.Errorf("element %q has no configuration", n.ID)
	}
	var b bytes.Buffer
	b.WriteString(`{"id":`)
	id, _ := json.Marshal(n.ID)
	b.Write(id)
	b.WriteString(`,"type":`)
	kind, _ := json.Marshal(n.Element.Kind())
	b.Write(kind)
	if n.Name != "" {
		name, _ := json.Marshal(n.Name)
		b.WriteString(`,"name":`)
		b.Write(name)
	}
	cfg, err := json.Marshal(n.Element)
	if err != nil {
		return nil, &ValidationError{ElementID: n.ID, Field: unmarshalableField(n.Element), Err: causeOf(err)}
	}
	cfg = bytes.TrimSpace(cfg)
	if len(cfg) < 2 || cfg[0] != '{' {
		return nil, fmt.Errorf("element %q: configuration is not a JSON object", n.ID)
	}
	if inner := bytes.TrimSpace(cfg[1 : len(cfg)-1]); len(inner) > 0 {
		b.WriteByte(',')
		b.Write(inner)
	}
	if len(n.Next) > 0 {
		next, err := json.Marshal(n.Next)
		if err != nil {
			return nil, err
		}
		b.WriteString(`,"next":`)
		b.Write(next)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads a node, decoding its configuration by its "type"
// among the built-in kinds (ParseWith reads other kinds). Unknown fields
// are refused.
func (n *Node) UnmarshalJSON(data []byte) error {
	return n.decode(data, builtins.New)
}

// builtins are the element kinds Parse reads.
var builtins = kinds.Registry()

// decode reads a node, making its element with newElement.
func (n *Node) decode(data []byte, newElement func(kind string) (element.Element, error)) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return &ValidationError{Err: fmt.Errorf("element is not a JSON object: %w", err)}
	}
	var head struct {
		ID   string `json:"id"`
		Type string `json:"type"`
		Name string `json:"name"`
		Next Next   `json:"next"`
	}
	// id first, so that errors in the other fields can name the element.
	for _, f := range []struct {
		key string
		dst any
	}{{"id", &head.ID}, {"type", &head.Type}, {"name", &head.Name}, {"next", &head.Next}} {
		if raw, ok := fields[f.key]; ok {
			if err := json.Unmarshal(raw, f.dst); err != nil {
				return &ValidationError{ElementID: head.ID, Field: f.key, Err: jsonErr(err)}
			}
			delete(fields, f.key)
		}
	}
	if head.ID == "" {
		return &ValidationError{Field: "id", Err: errors.New("element id is missing")}
	}
	if head.Type == "" {
		return &ValidationError{ElementID: head.ID, Field: "type", Err: errors.New("element type is missing")}
	}
	el, err := newElement(head.Type)
	if err != nil {
		return &ValidationError{ElementID: head.ID, Field: "type", Err: err}
	}
	rest, _ := json.Marshal(fields)
	dec := json.NewDecoder(bytes.NewReader(rest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(el); err != nil {
		field := fieldOf(err)
		// An unknown field deeper in names itself in the message.
		if field == "" && !strings.Contains(err.Error(), "unknown field ") {
			field = undecodableField(fields, head.Type, newElement)
		}
		return &ValidationError{ElementID: head.ID, Field: field, Err: jsonErr(err)}
	}
	*n = Node{ID: head.ID, Name: head.Name, Element: el, Next: head.Next}
	return nil
}

// Parse reads a flow from its JSON form, with the built-in element kinds
// only: ParseWith reads custom kinds too. Errors name the element and
// field where they can (a *ValidationError); Parse does not validate the
// graph: Publish does. A document longer than the default of
// Limits.MaxDocumentBytes (1 MiB) is refused before it is decoded;
// Engine.Parse reads one up to the engine's limit.
func Parse(data []byte) (*Flow, error) {
	return ParseWith(data, builtins)
}

// ParseWith reads a flow from its JSON form as Parse does, with Parse's
// limit on its length, making its
// elements from kinds (an engine's Config.Elements); nil means the
// built-in kinds.
func ParseWith(data []byte, kinds *element.Registry) (*Flow, error) {
	if kinds == nil {
		kinds = builtins
	}
	if err := checkDocument(len(data), defaultMaxDocumentBytes); err != nil {
		return nil, err
	}
	return parse(data, kinds.New)
}

// plainFlow is a Flow without methods, for decoding around its elements.
type plainFlow Flow

// flowDoc reads a flow with its elements left as JSON, to be made with a
// registry.
type flowDoc struct {
	*plainFlow
	Elements []json.RawMessage `json:"elements"`
}

// parse reads a flow, making its elements with newElement.
func parse(data []byte, newElement func(kind string) (element.Element, error)) (*Flow, error) {
	if err := checkDepth(data); err != nil {
		return nil, err
	}
	var f Flow
	doc := flowDoc{plainFlow: (*plainFlow)(&f)}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			// Name the types and fields of Flow, not of its stand-in.
			te.Field = strings.TrimPrefix(te.Field, "plainFlow.")
			switch te.Type {
			case reflect.TypeFor[flowDoc]():
				te.Type = reflect.TypeFor[Flow]()
			case reflect.TypeFor[[]json.RawMessage]():
				te.Type = reflect.TypeFor[[]*Node]()
			}
		}
		return nil, &ValidationError{Field: fieldOf(err), Err: jsonErr(err)}
	}
	if dec.More() {
		return nil, &ValidationError{Err: errors.New("flow json: data after the flow object")}
	}
	if doc.Elements != nil {
		f.Elements = make([]*Node, len(doc.Elements))
	}
	for i, raw := range doc.Elements {
		if string(bytes.TrimSpace(raw)) == "null" {
			continue
		}
		n := &Node{}
		if err := n.decode(raw, newElement); err != nil {
			return nil, err
		}
		f.Elements[i] = n
	}
	return &f, nil
}

// Clone returns a deep copy of the flow, made through its JSON form. Each
// element is copied as its own kind, custom kinds included.
func (f *Flow) Clone() (*Flow, error) { return f.clone(0) }

// clone is Clone, refusing a flow whose document is longer than max
// bytes (0 for no limit) before reading it back.
func (f *Flow) clone(max int) (*Flow, error) {
	data, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	if max > 0 {
		if err := checkDocument(len(data), max); err != nil {
			return nil, err
		}
	}
	byKind := map[string]element.Element{}
	for _, n := range f.Elements {
		if n != nil && n.Element != nil {
			byKind[n.Element.Kind()] = n.Element
		}
	}
	return parse(data, func(kind string) (element.Element, error) {
		if el := blank(byKind[kind]); el != nil {
			return el, nil
		}
		return builtins.New(kind)
	})
}

// blank returns a new, unconfigured element of el's kind (see
// element.Blanker), or nil when el is nil or not a pointer to a struct.
func blank(el element.Element) element.Element {
	if b, ok := el.(element.Blanker); ok {
		return b.Blank()
	}
	t := reflect.TypeOf(el)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil
	}
	e, _ := reflect.New(t.Elem()).Interface().(element.Element)
	return e
}

// undecodableField returns the first of an element's fields, in name
// order, that does not decode alone, or "": it names the field at fault
// when the error of a field's own UnmarshalJSON does not.
func undecodableField(fields map[string]json.RawMessage, kind string, newElement func(kind string) (element.Element, error)) string {
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		el, err := newElement(kind)
		if err != nil {
			return ""
		}
		one, _ := json.Marshal(map[string]json.RawMessage{k: fields[k]})
		if json.Unmarshal(one, el) != nil {
			return k
		}
	}
	return ""
}

// unmarshalableField returns the JSON name of the first field of the
// element's struct that does not encode alone, or "".
func unmarshalableField(el element.Element) string {
	v := reflect.ValueOf(el)
	for v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return ""
	}
	for i := range v.NumField() {
		sf := v.Type().Field(i)
		if !sf.IsExported() {
			continue
		}
		if _, err := json.Marshal(v.Field(i).Interface()); err != nil {
			name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
			if name == "" {
				name = sf.Name
			}
			return name
		}
	}
	return ""
}

// causeOf returns the error a MarshalJSON method returned, without
// encoding/json's words around it.
func causeOf(err error) error {
	for {
		var me *json.MarshalerError
		if !errors.As(err, &me) || me.Unwrap() == nil {
			return err
		}
		err = me.Unwrap()
	}
}

func fieldOf(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return te.Field
	}
	// encoding/json reports unknown fields only in words.
	if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
		f, uerr := strconv.Unquote(strings.TrimPrefix(msg, "json: unknown field "))
		if uerr == nil {
			return f
		}
	}
	return ""
}

func jsonErr(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("flow json: %v (at byte %d)", se, se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("json %s cannot be read as %s", te.Value, te.Type)
	}
	return err
}

// branchesOf lists the branches a node may use: its element's and "error",
// which any element takes when its step fails.
func branchesOf(n *Node) []string {
	return append(slices.Clone(n.Element.Branches()), element.BranchError)
}

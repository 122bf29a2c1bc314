package flow

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
)

// Limits bound the size of what an engine accepts, from flow authors and
// from the host, so that no input costs the host more than its limits
// allow. A refused flow is a *ValidationError and refused host input an
// *InputError, each naming the field at fault. Every check takes time
// linear in the input and stops at the first excess. A zero field means
// its default.
type Limits struct {
	// MaxDocumentBytes bounds a flow's JSON document: Parse and ParseWith
	// refuse a longer one before decoding it (with the default), and
	// Engine.Parse, Publish, Deploy and Validate with this limit.
	// Defaults to 1 MiB.
	MaxDocumentBytes int
	// MaxStringBytes bounds each id, name and text value: in a flow, its
	// id, name and time zone, its variables' names, its trigger's name
	// and its elements' ids, names and branch names (a long text inside
	// an element, such as a message body, counts toward
	// MaxDocumentBytes instead); from the host, the parts of a person
	// reference, an event's id and name, every name and text value in
	// an event's properties and in Enter's variables, and every text of
	// a profile UpdatePerson writes (names, attributes, addresses, tags).
	// Defaults to 4 KiB.
	MaxStringBytes int
	// MaxEventBytes bounds an event's properties, and the variables Enter
	// is given: the bytes of their names and text values, and 8 for each
	// other value. Defaults to 64 KiB.
	MaxEventBytes int
	// MaxEventDepth bounds how deep an event's properties, and Enter's
	// variables, nest: a property that is a number, a text or an empty
	// list is at depth 1, the values in a list or object one deeper.
	// It bounds the attribute values of a profile UpdatePerson writes
	// too. Defaults to 8.
	MaxEventDepth int
	// MaxPersonBytes bounds the profile UpdatePerson writes, counted as
	// MaxEventBytes counts: attributes, addresses, push registrations,
	// tags and the rest. Defaults to 64 KiB.
	MaxPersonBytes int
	// MaxPageSize bounds the Limit of an Events or Participants query
	// (a Limit of 0 still selects everything). Defaults to 1000.
	MaxPageSize int
}

// The defaults of Limits.
const (
	defaultMaxDocumentBytes = 1 << 20
	defaultMaxStringBytes   = 4 << 10
	defaultMaxEventBytes    = 64 << 10
	defaultMaxEventDepth    = 8
	defaultMaxPersonBytes   = 64 << 10
	defaultMaxPageSize      = 1000
)

// withDefaults returns l with each zero field at its default.
func (l Limits) withDefaults() Limits {
	set := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	set(&l.MaxDocumentBytes, defaultMaxDocumentBytes)
	set(&l.MaxStringBytes, defaultMaxStringBytes)
	set(&l.MaxEventBytes, defaultMaxEventBytes)
	set(&l.MaxEventDepth, defaultMaxEventDepth)
	set(&l.MaxPersonBytes, defaultMaxPersonBytes)
	set(&l.MaxPageSize, defaultMaxPageSize)
	return l
}

// limitField is one of Limits' fields, by its Config name.
type limitField struct {
	field string
	value int
}

// fields lists the limits by their Config names, for checkLimits.
func (l Limits) fields() []limitField {
	return []limitField{
		{"Limits.MaxDocumentBytes", l.MaxDocumentBytes},
		{"Limits.MaxStringBytes", l.MaxStringBytes},
		{"Limits.MaxEventBytes", l.MaxEventBytes},
		{"Limits.MaxEventDepth", l.MaxEventDepth},
		{"Limits.MaxPersonBytes", l.MaxPersonBytes},
		{"Limits.MaxPageSize", l.MaxPageSize},
	}
}

// own returns the engine's copy of a flow for Publish and Validate,
// refusing one past the limits before copying more than its document.
func (e *Engine) own(f *Flow) (*Flow, error) {
	if err := e.cfg.Limits.checkFlowStrings(f); err != nil {
		return nil, err
	}
	own, err := f.clone(e.cfg.Limits.MaxDocumentBytes)
	if err != nil {
		return nil, asValidation(err)
	}
	return own, nil
}

// Parse reads a flow document as ParseWith does with the engine's
// element kinds (Config.Elements), refusing one longer than its
// Limits.MaxDocumentBytes before decoding it.
func (e *Engine) Parse(data []byte) (*Flow, error) {
	if err := checkDocument(len(data), e.cfg.Limits.MaxDocumentBytes); err != nil {
		return nil, err
	}
	return parse(data, e.cfg.Elements.New)
}

// checkDocument refuses a flow document longer than max bytes.
func checkDocument(n, max int) error {
	if n > max {
		return &ValidationError{Field: "document", Err: fmt.Errorf("flow document is %d bytes, more than the limit of %d (Limits.MaxDocumentBytes)", n, max)}
	}
	return nil
}

// tooLong is the problem of a string over the limit; it does not quote
// the string, which may be huge or secret.
func tooLong(n, max int) error {
	return fmt.Errorf("is %d bytes long, more than the limit of %d (Limits.MaxStringBytes)", n, max)
}

// checkFlowStrings refuses a flow whose ids and names are longer than
// l.MaxStringBytes, before the flow is copied or compiled.
func (l Limits) checkFlowStrings(f *Flow) error {
	max := l.MaxStringBytes
	bad := func(id, field string, s string) error {
		if len(s) > max {
			return &ValidationError{ElementID: id, Field: field, Err: tooLong(len(s), max)}
		}
		return nil
	}
	for _, c := range []struct{ field, s string }{{"id", f.ID}, {"name", f.Name}, {"timezone", f.TimeZone}, {"start", f.Start}} {
		if err := bad("", c.field, c.s); err != nil {
			return err
		}
	}
	for name := range f.Variables {
		if len(name) > max {
			return &ValidationError{Field: "variables", Err: fmt.Errorf("a variable name %s", tooLong(len(name), max))}
		}
	}
	if f.Trigger != nil {
		if err := bad("", "trigger.name", f.Trigger.Name); err != nil {
			return err
		}
	}
	for i, n := range f.Elements {
		if n == nil {
			continue
		}
		if len(n.ID) > max {
			return &ValidationError{Field: "elements[" + strconv.Itoa(i) + "].id", Err: tooLong(len(n.ID), max)}
		}
		if err := bad(n.ID, "name", n.Name); err != nil {
			return err
		}
		for branch, to := range n.Next {
			if err := bad(n.ID, "next", branch); err != nil {
				return err
			}
			if err := bad(n.ID, "next."+branch, to); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkRef refuses a person reference whose parts are longer than
// MaxStringBytes.
func (l Limits) checkRef(who store.PersonRef) error {
	for _, c := range []struct{ field, s string }{{"externalId", who.ExternalID}, {"phone", who.Phone}, {"email", who.Email}} {
		if len(c.s) > l.MaxStringBytes {
			return &InputError{Field: c.field, Err: tooLong(len(c.s), l.MaxStringBytes)}
		}
	}
	return nil
}

// checkEvent refuses an event whose id, name or properties go past the
// limits, naming the field.
func (l Limits) checkEvent(ev *store.Event) error {
	for _, c := range []struct{ field, s string }{{"id", ev.ID}, {"name", ev.Name}} {
		if len(c.s) > l.MaxStringBytes {
			return &InputError{Field: c.field, Err: fmt.Errorf("%w: %s", ErrBadEvent, tooLong(len(c.s), l.MaxStringBytes))}
		}
	}
	m := newMeasure(l, l.MaxEventBytes, "MaxEventBytes")
	if field, err := m.object(ev.Properties, 0); err != nil {
		return &InputError{Field: "properties" + field, Err: fmt.Errorf("%w: event %q: %w", ErrBadEvent, ev.ID, err)}
	}
	return nil
}

// checkVars refuses variables given to Enter past the limits of event
// properties.
func (l Limits) checkVars(vars map[string]any) error {
	m := newMeasure(l, l.MaxEventBytes, "MaxEventBytes")
	if field, err := m.object(vars, 0); err != nil {
		return &InputError{Field: "vars" + field, Err: err}
	}
	return nil
}

// checkPerson refuses a profile past MaxPersonBytes or with a text
// longer than MaxStringBytes.
func (l Limits) checkPerson(p *store.Person) error {
	m := newMeasure(l, l.MaxPersonBytes, "MaxPersonBytes")
	texts := []struct{ field, s string }{
		{"externalId", p.ExternalID}, {"firstName", p.FirstName}, {"lastName", p.LastName},
		{"gender", p.Gender}, {"city", p.City}, {"country", p.Country},
		{"preferredLanguage", p.PreferredLanguage}, {"timeZone", p.TimeZone},
	}
	for _, t := range texts {
		if field, err := m.value(t.s, 0); err != nil {
			return &InputError{Field: t.field + field, Err: err}
		}
	}
	for _, list := range []struct {
		field string
		items []string
	}{{"phones", p.Phones}, {"emails", p.Emails}, {"tags", p.Tags}, {"doNotContact", p.DoNotContact}} {
		for i, s := range list.items {
			if field, err := m.value(s, 0); err != nil {
				return &InputError{Field: list.field + "[" + strconv.Itoa(i) + "]" + field, Err: err}
			}
		}
	}
	for i, r := range p.Push {
		for _, s := range []string{r.App, r.Token} {
			if field, err := m.value(s, 0); err != nil {
				return &InputError{Field: "push[" + strconv.Itoa(i) + "]" + field, Err: err}
			}
		}
	}
	for channel := range p.LastContacted {
		if field, err := m.value(channel, 0); err != nil {
			return &InputError{Field: "lastContacted" + field, Err: err}
		}
	}
	if field, err := m.object(p.Attributes, 0); err != nil {
		return &InputError{Field: "attributes" + field, Err: err}
	}
	return nil
}

// checkPage refuses a page size over MaxPageSize.
func (l Limits) checkPage(limit int) error {
	if limit > l.MaxPageSize {
		return &InputError{Field: "limit", Err: fmt.Errorf("page size %d is more than the limit of %d (Limits.MaxPageSize)", limit, l.MaxPageSize)}
	}
	return nil
}

// measure walks values against the limits, spending budget bytes. Its
// methods return the path to the value at fault (such as ".cart.items[2]")
// with the problem.
type measure struct {
	Limits
	budget  int
	limit   int    // the budget at the start
	what    string // the Limits field of the budget
	ordered bool   // maps in name order, once one was past a limit
}

// newMeasure returns a measure of budget bytes, what naming its field.
func newMeasure(l Limits, budget int, what string) *measure {
	return &measure{Limits: l, budget: budget, limit: budget, what: what}
}

// object measures the values of a map at depth, its names included.
func (m *measure) object(o map[string]any, depth int) (string, error) {
	// Each value costs 8 bytes or more: too many are refused before
	// sorting them.
	if len(o) > m.budget/8 {
		return "", fmt.Errorf("%d values are more than fit in the limit of %d bytes (Limits.%s)", len(o), m.limit, m.what)
	}
	if !m.ordered {
		// The sums do not depend on the order: a map within the limits is
		// measured as it comes, and one past them again in name order,
		// so that the field named is the same each time.
		budget := m.budget
		ok := true
		for k, v := range o {
			if _, err := m.entry(k, v, depth); err != nil {
				ok = false
				break
			}
		}
		if ok {
			return "", nil
		}
		m.budget, m.ordered = budget, true
	}
	for _, k := range slices.Sorted(maps.Keys(o)) {
		if field, err := m.entry(k, o[k], depth); err != nil {
			return field, err
		}
	}
	return "", nil
}

// entry measures one name and value of a map at depth.
func (m *measure) entry(k string, v any, depth int) (string, error) {
	if err := m.spend(len(k)); err != nil {
		return "." + k, err
	}
	if len(k) > m.MaxStringBytes {
		return "", fmt.Errorf("a name %s", tooLong(len(k), m.MaxStringBytes))
	}
	if field, err := m.value(v, depth+1); err != nil {
		return "." + k + field, err
	}
	return "", nil
}

// value measures one value at depth.
func (m *measure) value(v any, depth int) (string, error) {
	if depth > m.MaxEventDepth {
		return "", fmt.Errorf("nested more than %d deep (Limits.MaxEventDepth)", m.MaxEventDepth)
	}
	switch x := v.(type) {
	case string:
		if len(x) > m.MaxStringBytes {
			return "", tooLong(len(x), m.MaxStringBytes)
		}
		return "", m.spend(len(x))
	case []string:
		for i, s := range x {
			if field, err := m.value(s, depth+1); err != nil {
				return "[" + strconv.Itoa(i) + "]" + field, err
			}
		}
		return "", nil
	case []any:
		if err := m.spend(8); err != nil {
			return "", err
		}
		for i, e := range x {
			if field, err := m.value(e, depth+1); err != nil {
				return "[" + strconv.Itoa(i) + "]" + field, err
			}
		}
		return "", nil
	case map[string]any:
		if err := m.spend(8); err != nil {
			return "", err
		}
		return m.object(x, depth)
	case nil, bool, time.Time:
	}
	return "", m.spend(8)
}

// spend takes n bytes from the budget, failing once it is spent.
func (m *measure) spend(n int) error {
	if m.budget -= n; m.budget < 0 {
		return fmt.Errorf("more than the limit of %d bytes (Limits.%s)", m.limit, m.what)
	}
	return nil
}

// maxDocumentDepth is the deepest a flow document may nest arrays and
// objects: enough for a segment of segment.MaxDepth levels of groups
// (two each) inside an element, and for Call API's JSON templates.
const maxDocumentDepth = 2*segment.MaxDepth + 32

// checkDepth refuses a flow document that nests deeper than
// maxDocumentDepth, in one pass over its bytes before it is decoded,
// naming the element and its field when the excess is in one. It does
// not check the syntax: decoding does.
func checkDepth(data []byte) error {
	var (
		depth    int
		inString bool
		start    int                // where the string being read starts
		isObject []bool             // by depth - 1
		wantKey  []bool             // by depth - 1: an object's next string is a key
		keys     []string           // the keys of the first three levels
		index    int                // in the elements array
		ids      = map[int]string{} // element ids by index, as read so far
	)
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
				if depth == 0 || depth > 3 {
					continue // a bare string document, or below the levels named
				}
				raw := data[start : i+1]
				if isObject[depth-1] && wantKey[depth-1] {
					var k string
					_ = json.Unmarshal(raw, &k)
					keys[depth-1] = k
				} else if depth == 3 && keys[0] == "elements" && keys[2] == "id" {
					var id string
					_ = json.Unmarshal(raw, &id)
					ids[index] = id
				}
			}
			continue
		}
		switch c {
		case '"':
			inString, start = true, i
		case '{', '[':
			if depth++; depth > maxDocumentDepth {
				err := fmt.Errorf("nested more than %d levels deep", maxDocumentDepth)
				if keys[0] != "elements" {
					return &ValidationError{Field: keys[0], Err: err}
				}
				if id, ok := ids[index]; ok {
					return &ValidationError{ElementID: id, Field: keys[2], Err: err}
				}
				return &ValidationError{Field: "elements[" + strconv.Itoa(index) + "]." + keys[2], Err: err}
			}
			isObject = append(isObject, c == '{')
			wantKey = append(wantKey, c == '{')
			if depth <= 3 {
				for len(keys) < depth {
					keys = append(keys, "")
				}
				keys[depth-1] = ""
			}
		case '}', ']':
			if depth > 0 {
				depth--
				isObject, wantKey = isObject[:depth], wantKey[:depth]
			}
		case ':':
			if depth > 0 {
				wantKey[depth-1] = false
			}
		case ',':
			if depth > 0 {
				wantKey[depth-1] = isObject[depth-1]
				if depth == 2 && keys[0] == "elements" {
					index++
				}
			}
		}
	}
	return nil
}

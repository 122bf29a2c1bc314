package kinds

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/internal/clone"
	"github.com/flowkit/flowkit/internal/values"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
)

// predefinedEvents lists the event names of the categories whose events
// flowkit and its channels define; external events are named by the host.
var predefinedEvents = map[store.Category][]string{
	store.Channel: {store.MessageSent, store.MessageDelivered, store.MessageSeen, store.MessageClicked, store.MessageFailed},
	store.People: {store.AttributeChanged, store.TagAdded, store.TagRemoved,
		store.AddedToDoNotContact, store.RemovedFromDoNotContact,
		store.PhoneAdded, store.PhoneRemoved, store.EmailAdded, store.EmailRemoved},
	store.Product: {store.EnteredFlow, store.ExitedFlow},
}

// WaitForEvent holds a participant until an event of a category and name
// whose properties meet the conditions of Event.Where arrives, then goes
// on by "occurred"; when WaitFor passes first it goes on by "timeout".
//
// Conditions use the segment package's property operators (see
// segment.PropertyCondition). Their values may be placeholders read when
// an event arrives: "{{cartId}}" (a flow variable), "{{person.email}}" (an
// attribute), "{{entry.cartId}}" or, as in templates,
// "{{entry.properties.cartId}}" (a property of the event that entered the
// participant), so that an abandoned-cart flow waits for the order of its
// own cart, not for any order.
//
// Set saves properties of the matching event into flow variables, converted
// to the variables' declared types (a property the event lacks empties the
// variable; one that cannot be converted fails the step, which takes the
// element's "error" branch when it has one).
//
// WaitFor is the waiting period; zero waits indefinitely, which the engine
// bounds by the flow's schedule end and its inactivity limit (the
// participant then leaves the flow).
//
// The names of channel, people and product events are the predefined ones
// (store.MessageSent, store.AttributeChanged, store.EnteredFlow, ...):
// another name in those categories is refused at Publish, so that a
// misspelt name fails there instead of never matching.
//
// Only events that arrive after the participant reached the element count,
// unless IncludeFromEntrance is set: then an event the person's history
// holds from the participant's entry into the flow on (by event time,
// events recorded earlier in the same call included, the entering event
// itself excluded) counts too, the most recent first, and the participant
// goes on at once.
//
// Channel events are about one message. A channel event counts only for the
// participant whose message it is: when it has a "participantId" property,
// that must be this participant; when it has only a "messageId", the
// person's MessageSent event with that message id decides (a flow's send
// records its participant there). A channel event that names no participant
// and whose message no flow sent (a message the host sent itself) counts
// for every participant. AnyMessage turns this off: any message of the
// person counts, such as waiting in one flow for the opening of an email
// another flow sent.
type WaitForEvent struct {
	// Event selects the event: a category, a name and property conditions.
	Event segment.EventSpec `json:"event"`
	// Set saves event properties into flow variables.
	Set []*EventVariable `json:"set,omitempty"`
	// WaitFor is how long to wait; zero for indefinitely.
	WaitFor segment.Period `json:"waitFor,omitzero"`
	// IncludeFromEntrance also counts events since the participant entered
	// the flow.
	IncludeFromEntrance bool `json:"includeFromEntrance,omitempty"`
	// AnyMessage lets channel events about any message of the person count.
	AnyMessage bool `json:"anyMessage,omitempty"`

	where  *segment.Where
	events []string
	// shown are the programs of the conditions' placeholder values, for
	// reasons; nil when no value is a placeholder.
	shown []*element.Program
	// holding is the journal reason of the wait, made once when no
	// condition value is a placeholder.
	holding string
}

// EventVariable saves one value of the matching event into a flow
// variable: a property (a dotted name walks into nested objects, as in
// conditions), or the result of Formula, an expression that reads the
// event as "event" (event.time, event.properties.x).
type EventVariable struct {
	Variable string `json:"variable"`
	Property string `json:"property,omitempty"`
	Formula  string `json:"formula,omitempty"`

	typ  store.Type
	prog *element.Program
}

// Kind implements element.Element.
func (*WaitForEvent) Kind() string { return "waitForEvent" }

// Branches implements element.Element.
func (*WaitForEvent) Branches() []string { return []string{BranchOccurred, BranchTimeout} }

// Validate implements element.Element.
func (w *WaitForEvent) Validate(c *element.Compiler) error {
	ev := &w.Event
	if ev.Category == "" {
		return element.Errorf("event.category", "event category is missing: one of external, people, channel, product")
	}
	if !ev.Category.Valid() {
		return element.Errorf("event.category", "%q is not one of external, people, channel, product", ev.Category)
	}
	if strings.TrimSpace(ev.Name) == "" {
		return element.Errorf("event.name", "event name is missing")
	}
	if names, ok := predefinedEvents[ev.Category]; ok && !slices.Contains(names, ev.Name) {
		return element.Errorf("event.name", "%s events are %s, not %q", ev.Category, strings.Join(names, ", "), ev.Name)
	}
	if w.AnyMessage && ev.Category != store.Channel {
		return element.Errorf("anyMessage", "anyMessage applies to channel events, not %s", ev.Category)
	}
	if !w.WaitFor.IsZero() {
		if err := element.CheckPeriod(w.WaitFor, "waitFor"); err != nil {
			return err
		}
	}
	where, err := compileWhere(c, "event.", ev.Where)
	if err != nil {
		return err
	}
	w.where = where
	w.events = []string{ev.Name}
	w.shown = nil
	for i, cond := range ev.Where {
		if p := shownValue(c, cond.Value); p != nil {
			if w.shown == nil {
				w.shown = make([]*element.Program, len(ev.Where))
			}
			w.shown[i] = p
		}
	}
	w.holding = w.holdingReason(nil)
	for i, s := range w.Set {
		field := fmt.Sprintf("set[%d]", i)
		if s == nil || s.Variable == "" {
			return element.Errorf(field+".variable", "variable name is missing")
		}
		typ, err := declaredVar(c, field+".variable", s.Variable)
		if err != nil {
			return err
		}
		s.typ = typ
		switch {
		case (s.Property == "") == (s.Formula == ""):
			return element.Errorf(field, "variable %s: give exactly one of property, formula", s.Variable)
		case s.Formula != "":
			p, err := c.Expr(field+".formula", s.Formula)
			if err != nil {
				return err
			}
			if !p.Fits(typ) {
				return element.Errorf(field+".formula", "variable %s is %s but the formula gives %s", s.Variable, typ, p.Type)
			}
			s.prog = p
		}
	}
	return nil
}

// compileWhere compiles the property conditions of an event selection
// with the flow's declarations. Errors name the field under prefix
// ("event.where[1]").
func compileWhere(c *element.Compiler, prefix string, conds []segment.PropertyCondition) (*segment.Where, error) {
	if len(conds) == 0 {
		return nil, nil
	}
	where, err := segment.CompileWhere(conds, c.SegmentOptions())
	if err != nil {
		var ce *segment.ConditionError
		if errors.As(err, &ce) && ce.Path != "" {
			return nil, element.Errorf(prefix+ce.Path, "%v", ce.Err)
		}
		return nil, element.Errorf(prefix+"where", "%v", err)
	}
	return where, nil
}

// placeholder returns the name inside a value that is exactly "{{name}}".
func placeholder(v any) (string, bool) {
	s, ok := v.(string)
	if !ok {
		return "", false
	}
	if s, ok = strings.CutPrefix(s, "{{"); !ok {
		return "", false
	}
	if s, ok = strings.CutSuffix(s, "}}"); !ok {
		return "", false
	}
	return strings.TrimSpace(s), true
}

// Run implements element.Element.
func (w *WaitForEvent) Run(_ context.Context, r *element.Run) (element.Outcome, error) {
	if w.IncludeFromEntrance {
		if r.History == nil {
			return element.Outcome{}, errors.New("event history is not available")
		}
		past, err := r.History(&store.EventQuery{Name: w.Event.Name, Category: w.Event.Category, Since: r.EnteredAt})
		if err != nil {
			return element.Outcome{}, fmt.Errorf("event history: %w", err)
		}
		for i := len(past) - 1; i >= 0; i-- {
			ev := past[i]
			if r.Entry != nil && ev.ID == r.Entry.ID {
				continue
			}
			ok, err := w.matches(r, ev)
			if err != nil {
				return element.Outcome{}, err
			}
			if ok {
				return w.occurred(r, ev, " since entering the flow")
			}
		}
	}
	var until time.Time
	if !w.WaitFor.IsZero() {
		until = w.WaitFor.After(r.Now, r.TimeZone(false))
	}
	reason := w.holding
	if w.shown != nil {
		reason = w.holdingReason(r)
	}
	return element.Hold(element.Wait{Until: until, Events: w.events}, reason), nil
}

// holdingReason is the journal reason of the wait, with r's values of
// placeholders (r nil: as written).
func (w *WaitForEvent) holdingReason(r *element.Run) string {
	if w.WaitFor.IsZero() {
		return "waiting indefinitely for " + w.describe(r)
	}
	return fmt.Sprintf("waiting up to %s for %s", w.WaitFor, w.describe(r))
}

// Resume implements element.Resumer.
func (w *WaitForEvent) Resume(_ context.Context, r *element.Run, wk element.Wake) (element.Outcome, error) {
	if wk.Timer {
		return element.Next(BranchTimeout, fmt.Sprintf("no %s within %s", w.describe(r), w.WaitFor)), nil
	}
	ok, err := w.matches(r, wk.Event)
	if err != nil {
		return element.Outcome{}, err
	}
	if !ok {
		out := element.Hold(*r.Wait, "")
		if w.where != nil && wk.Event != nil && wk.Event.Category == w.Event.Category && wk.Event.Name == w.Event.Name {
			if m := w.where.Mismatch(wk.Event, r.Subject()); m != "" {
				out.Mismatch = fmt.Sprintf("event %s %q did not match: %s", wk.Event.Name, wk.Event.ID, m)
			}
		}
		return out, nil
	}
	return w.occurred(r, wk.Event, "")
}

// WaitsForEvents implements element.WaitsForEvents.
func (w *WaitForEvent) WaitsForEvents() []element.EventName {
	return []element.EventName{{Category: w.Event.Category, Name: w.Event.Name}}
}

// matches reports whether ev is an event the element waits for, for the
// participant of r: its category and name, the participant's own message
// for channel events, and the property conditions.
func (w *WaitForEvent) matches(r *element.Run, ev *store.Event) (bool, error) {
	if ev == nil || ev.Category != w.Event.Category || ev.Name != w.Event.Name {
		return false, nil
	}
	if ev.Category == store.Channel && !w.AnyMessage {
		own, err := ownMessage(r, ev)
		if err != nil || !own {
			return false, err
		}
	}
	if w.where == nil {
		return true, nil
	}
	sub := r.Subject()
	ok, err := w.where.Match(ev, sub)
	if err != nil {
		return false, fmt.Errorf("event %q: %w", ev.ID, err)
	}
	return ok, nil
}

// ownMessage reports whether a channel event is about a message of the
// participant of r, or about a message no flow sent (see WaitForEvent).
func ownMessage(r *element.Run, ev *store.Event) (bool, error) {
	me := r.Participant.String()
	if pid := element.FormatValue(ev.Properties["participantId"]); pid != "" {
		return pid == me, nil
	}
	mid := element.FormatValue(ev.Properties["messageId"])
	if mid == "" || r.History == nil {
		return true, nil
	}
	sent, err := r.History(&store.EventQuery{Category: store.Channel, Name: store.MessageSent})
	if err != nil {
		return false, fmt.Errorf("event history: %w", err)
	}
	for _, s := range sent {
		if element.FormatValue(s.Properties["messageId"]) != mid {
			continue
		}
		if pid := element.FormatValue(s.Properties["participantId"]); pid != "" {
			return pid == me, nil
		}
	}
	return true, nil
}

// occurred saves the variable sets and goes on by "occurred".
func (w *WaitForEvent) occurred(r *element.Run, ev *store.Event, how string) (element.Outcome, error) {
	saved, err := saveEventVars(r, ev, w.Set)
	if err != nil {
		return element.Outcome{}, err
	}
	// Appended rather than formatted: a wait for an event is the step a
	// busy flow runs most.
	var buf [160]byte
	b := append(buf[:0], w.Event.Category...)
	b = append(append(append(b, '/'), w.Event.Name...), " occurred"...)
	b = append(append(append(b, how...), " (event "...), ev.ID...)
	b = ev.Time.In(r.TimeZone(false)).AppendFormat(append(b, " at "...), "2006-01-02 15:04 MST")
	b = append(b, ')')
	if saved != "" {
		b = append(append(b, "; saved "...), saved...)
	}
	return element.Next(BranchOccurred, string(b)), nil
}

// saveEventVars evaluates every variable set for ev, then assigns them all,
// so that a failing set leaves the variables as they were. It returns the
// assignments in words.
func saveEventVars(r *element.Run, ev *store.Event, sets []*EventVariable) (string, error) {
	if len(sets) == 0 {
		return "", nil
	}
	prev := r.Event
	r.Event = ev
	defer func() { r.Event = prev }()
	got := make([]any, len(sets))
	for i, s := range sets {
		var raw any
		if s.prog != nil {
			v, err := s.prog.Eval(r)
			if err != nil {
				return "", fmt.Errorf("variable %q: %w", s.Variable, err)
			}
			raw = v
		} else {
			raw, _ = ev.Property(s.Property)
		}
		v, err := values.Convert(s.typ, raw)
		if err != nil {
			what := "formula"
			if s.prog == nil {
				what = fmt.Sprintf("event property %q", s.Property)
			}
			return "", fmt.Errorf("variable %q: %s: %w", s.Variable, what, err)
		}
		got[i] = v
	}
	words := make([]string, len(sets))
	for i, s := range sets {
		if r.Vars == nil {
			r.Vars = map[string]any{}
		}
		r.Vars[s.Variable] = clone.Value(got[i])
		if got[i] == nil {
			words[i] = s.Variable + " = empty"
		} else {
			words[i] = fmt.Sprintf("%s = %q", s.Variable, element.FormatValue(got[i]))
		}
	}
	return strings.Join(words, ", "), nil
}

// describe writes the event waited for in words, with r's values of
// placeholders (r nil: as written).
func (w *WaitForEvent) describe(r *element.Run) string {
	s := string(w.Event.Category) + "/" + w.Event.Name
	for i, c := range w.Event.Where {
		if i == 0 {
			s += " where "
		} else {
			s += " and "
		}
		var shown *element.Program
		if w.shown != nil {
			shown = w.shown[i]
		}
		s += describeShown(c.Property, c.Op, c.Value, shown, r)
	}
	return s
}

// describeCondition writes a condition in words, such as `cartId is
// {{cartId}}` or `plan is "premium"`.
func describeCondition(name string, op segment.Op, value any) string {
	s := name + " " + string(op)
	switch v := value.(type) {
	case nil:
	case string:
		if _, ok := placeholder(v); ok {
			s += " " + v
		} else {
			s += fmt.Sprintf(" %q", v)
		}
	case segment.Period, *segment.Period:
		s += fmt.Sprintf(" %v", v)
	default:
		s += " " + element.FormatValue(v)
	}
	return s
}

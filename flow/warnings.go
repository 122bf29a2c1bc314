package flow

import (
	"fmt"

	"github.com/flowkit/flowkit/element"
)

// Warning is something in a valid flow that is probably not what its
// author meant. Publish accepts such a flow; Warnings and `flowkit
// validate` point it out.
type Warning struct {
	// ElementID is the element concerned; "" for the flow's settings.
	ElementID string
	// Field is the part at fault, such as "event".
	Field string
	// Message says what and why.
	Message string
}

// String returns the warning as `element "id" field: message`.
func (w Warning) String() string {
	s := ""
	if w.ElementID != "" {
		s = fmt.Sprintf("element %q ", w.ElementID)
	}
	if w.Field != "" {
		s += w.Field + ": "
	}
	return s + w.Message
}

// Warnings returns what in the flow is valid but probably a mistake, in
// document order:
//   - an exit rule on the same event as a wait (Wait for an Event, or any
//     kind implementing element.WaitsForEvents): exit rules look at an
//     event before the participant's wait does, so a participant the rule
//     takes out never goes on by the wait's branch for that event.
func (f *Flow) Warnings() []Warning {
	var out []Warning
	for _, n := range f.Elements {
		if n == nil || n.Element == nil {
			continue
		}
		w, ok := n.Element.(element.WaitsForEvents)
		if !ok {
			continue
		}
		for _, ev := range w.WaitsForEvents() {
			for i, x := range f.ExitRules {
				if x == nil || x.Event == nil || x.Event.Category != ev.Category || x.Event.Name != ev.Name {
					continue
				}
				name := x.Name
				if name == "" {
					name = fmt.Sprintf("exit[%d]", i)
				}
				msg := fmt.Sprintf("exit rule %q takes participants out on every %s/%s event before this wait sees it: the wait never goes on by that event", name, ev.Category, ev.Name)
				if len(x.Event.Where) > 0 {
					msg = fmt.Sprintf("exit rule %q takes participants out on %s/%s events that meet its conditions before this wait sees them: for those events the wait never goes on", name, ev.Category, ev.Name)
				}
				out = append(out, Warning{ElementID: n.ID, Field: "event", Message: msg})
			}
		}
	}
	return out
}

package kinds

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
)

// ActionPaths holds a participant until the first of several actions
// (events), each with its own conditions and its own branch, the path's
// name; when WaitFor passes first it goes on by "timeout".
//
// Each path selects its event as Wait for Event does: a category, a
// name, property conditions whose values may be placeholders compared
// with the participant's variables and entry ("{{cartId}}",
// "{{entry.properties.cartId}}"), the participant's own message for
// channel events unless AnyMessage is set, and variables to save from
// the matching event. A path with IncludeFromEntrance also counts an
// event of the person's history since the participant entered the
// flow (the entering event excluded): when the wait starts, the
// earliest such event of any path is the first action, and the
// participant goes on at once.
//
// With Ranked set the participant is held until WaitFor ends whatever
// it does, then goes on by the path of the highest-priority action it
// took meanwhile (paths are listed by priority, the first highest), or
// by "timeout" when it took none; events from before the wait count
// for paths with IncludeFromEntrance. Ranked needs WaitFor.
type ActionPaths struct {
	// Paths are the actions, in priority order; each name is a branch.
	Paths []*ActionPath `json:"paths"`
	// WaitFor is how long to wait; zero for indefinitely.
	WaitFor segment.Period `json:"waitFor,omitzero"`
	// Ranked holds until WaitFor ends, then takes the highest-priority
	// action seen.
	Ranked bool `json:"ranked,omitempty"`

	events []string
}

// ActionPath is one action of ActionPaths: an event selection with the
// options of Wait for Event, and the branch it takes.
type ActionPath struct {
	// Name is the path's branch.
	Name string `json:"name"`
	// Event selects the event: a category, a name and property
	// conditions.
	Event segment.EventSpec `json:"event"`
	// Set saves event properties into flow variables.
	Set []*EventVariable `json:"set,omitempty"`
	// IncludeFromEntrance also counts events since the participant
	// entered the flow.
	IncludeFromEntrance bool `json:"includeFromEntrance,omitempty"`
	// AnyMessage lets channel events about any message of the person
	// count.
	AnyMessage bool `json:"anyMessage,omitempty"`

	wait *WaitForEvent
}

// Kind implements element.Element.
func (*ActionPaths) Kind() string { return "actionPaths" }

// Branches implements element.Element: the paths' names, then "timeout".
func (a *ActionPaths) Branches() []string {
	out := make([]string, 0, len(a.Paths)+1)
	for _, p := range a.Paths {
		if p != nil {
			out = append(out, p.Name)
		}
	}
	return append(out, BranchTimeout)
}

// Validate implements element.Element.
func (a *ActionPaths) Validate(c *element.Compiler) error {
	if len(a.Paths) == 0 {
		return element.Errorf("paths", "no paths: an action path needs at least one event")
	}
	names := map[string]bool{BranchTimeout: false}
	a.events = nil
	for i, p := range a.Paths {
		field := fmt.Sprintf("paths[%d]", i)
		if p == nil {
			return element.Errorf(field, "path is empty")
		}
		if p.Name == BranchTimeout {
			return element.Errorf(field+".name", "%q is the branch of the time limit, not a path's name", BranchTimeout)
		}
		if err := checkBranchName(p.Name, names); err != nil {
			return &element.FieldError{Field: field + ".name", Err: err}
		}
		w := &WaitForEvent{Event: p.Event, Set: p.Set, IncludeFromEntrance: p.IncludeFromEntrance, AnyMessage: p.AnyMessage}
		if err := w.Validate(c); err != nil {
			var fe *element.FieldError
			if errors.As(err, &fe) {
				return &element.FieldError{Field: field + "." + fe.Field, Err: fe.Err}
			}
			return &element.FieldError{Field: field, Err: err}
		}
		p.wait = w
		if !slices.Contains(a.events, p.Event.Name) {
			a.events = append(a.events, p.Event.Name)
		}
	}
	if !a.WaitFor.IsZero() {
		if err := element.CheckPeriod(a.WaitFor, "waitFor"); err != nil {
			return err
		}
	} else if a.Ranked {
		return element.Errorf("waitFor", "ranked action paths hold until the window ends: waitFor is required")
	}
	return nil
}

// WaitsForEvents implements element.WaitsForEvents.
func (a *ActionPaths) WaitsForEvents() []element.EventName {
	out := make([]element.EventName, 0, len(a.Paths))
	for _, p := range a.Paths {
		out = append(out, element.EventName{Category: p.Event.Category, Name: p.Event.Name})
	}
	return out
}

// stateSeen is the wait state of ranked paths: the name of the
// highest-priority path seen so far.
const stateSeen = "seen"

// Run implements element.Element.
func (a *ActionPaths) Run(_ context.Context, r *element.Run) (element.Outcome, error) {
	first, at, ev, err := a.lookBack(r)
	if err != nil {
		return element.Outcome{}, err
	}
	var until time.Time
	if !a.WaitFor.IsZero() {
		until = a.WaitFor.After(r.Now, r.TimeZone(false))
	}
	w := element.Wait{Until: until, Events: a.events}
	switch {
	case first >= 0 && !a.Ranked:
		return a.take(r, first, ev, " since entering the flow")
	case first >= 0:
		w.State = map[string]any{stateSeen: a.Paths[first].Name}
		return element.Hold(w, fmt.Sprintf("ranked: %s seen since entering the flow (%s at %s); holding %s for a higher-priority action",
			a.Paths[first].Name, ev.Name, at.In(r.TimeZone(false)).Format("2006-01-02 15:04 MST"), a.WaitFor)), nil
	}
	return element.Hold(w, a.holding()), nil
}

// lookBack finds the actions of the history since entry for paths with
// IncludeFromEntrance: the earliest event of any path, or for ranked
// paths the highest-priority path with an event. It returns -1 for none.
func (a *ActionPaths) lookBack(r *element.Run) (int, time.Time, *store.Event, error) {
	best, found := -1, (*store.Event)(nil)
	var at time.Time
	for i, p := range a.Paths {
		if !p.IncludeFromEntrance {
			continue
		}
		if r.History == nil {
			return -1, at, nil, errors.New("event history is not available")
		}
		past, err := r.History(&store.EventQuery{Name: p.Event.Name, Category: p.Event.Category, Since: r.EnteredAt})
		if err != nil {
			return -1, at, nil, fmt.Errorf("event history: %w", err)
		}
		for _, ev := range past { // oldest first
			if r.Entry != nil && ev.ID == r.Entry.ID {
				continue
			}
			ok, err := p.wait.matches(r, ev)
			if err != nil {
				return -1, at, nil, err
			}
			if !ok {
				continue
			}
			if best < 0 || (!a.Ranked && ev.Time.Before(at)) {
				best, at, found = i, ev.Time, ev
			}
			break
		}
		if a.Ranked && best >= 0 {
			break // paths come by priority
		}
	}
	return best, at, found, nil
}

// Resume implements element.Resumer.
func (a *ActionPaths) Resume(_ context.Context, r *element.Run, wk element.Wake) (element.Outcome, error) {
	seen := ""
	if r.Wait != nil {
		seen, _ = r.Wait.State[stateSeen].(string)
	}
	if wk.Timer {
		if a.Ranked && seen != "" {
			return element.Next(seen, fmt.Sprintf("ranked: the window of %s ended; %s was the highest-priority action seen", a.WaitFor, seen)), nil
		}
		return element.Next(BranchTimeout, fmt.Sprintf("no action within %s: %s", a.WaitFor, a.describe())), nil
	}
	rank := len(a.Paths)
	if seen != "" {
		rank = slices.IndexFunc(a.Paths, func(p *ActionPath) bool { return p.Name == seen })
	}
	for i, p := range a.Paths {
		if a.Ranked && i >= rank {
			break
		}
		ok, err := p.wait.matches(r, wk.Event)
		if err != nil {
			return element.Outcome{}, fmt.Errorf("path %q: %w", p.Name, err)
		}
		if !ok {
			continue
		}
		if !a.Ranked {
			return a.take(r, i, wk.Event, "")
		}
		w := *r.Wait
		w.State = map[string]any{stateSeen: p.Name}
		return element.Hold(w, fmt.Sprintf("ranked: %s seen (event %s); holding until the window ends for a higher-priority action", p.Name, wk.Event.ID)), nil
	}
	return element.Hold(*r.Wait, ""), nil
}

// take goes on by path i, saving its variables.
func (a *ActionPaths) take(r *element.Run, i int, ev *store.Event, how string) (element.Outcome, error) {
	p := a.Paths[i]
	saved, err := saveEventVars(r, ev, p.Set)
	if err != nil {
		return element.Outcome{}, fmt.Errorf("path %q: %w", p.Name, err)
	}
	reason := fmt.Sprintf("action path %q: %s/%s occurred first%s (event %s at %s)", p.Name, p.Event.Category, p.Event.Name, how,
		ev.ID, ev.Time.In(r.TimeZone(false)).Format("2006-01-02 15:04 MST"))
	if saved != "" {
		reason += "; saved " + saved
	}
	return element.Next(p.Name, reason), nil
}

// holding is the journal reason of the wait.
func (a *ActionPaths) holding() string {
	mode := "waiting"
	if a.Ranked {
		mode = "holding, ranked,"
	}
	if a.WaitFor.IsZero() {
		return fmt.Sprintf("%s indefinitely for the first of %s", mode, a.describe())
	}
	return fmt.Sprintf("%s up to %s for the first of %s", mode, a.WaitFor, a.describe())
}

// describe names the paths' events in words.
func (a *ActionPaths) describe() string {
	parts := make([]string, len(a.Paths))
	for i, p := range a.Paths {
		parts[i] = fmt.Sprintf("%s (%s)", p.Name, p.wait.describe(nil))
	}
	return strings.Join(parts, ", ")
}

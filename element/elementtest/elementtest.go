// Package elementtest tests one element kind alone, as the engine runs it:
// custom kinds are tested the way the built-in ones are. A Kit holds the
// flow and participant a step runs in and lends the element recording
// fakes of every port; Validate compiles the element as Publish does, Run
// and Resume run a step, and Effects reads back what the step recorded
// (profile changes, events, counters) as the engine would commit it.
//
//	k := elementtest.New(&MyKind{Field: "{{cartId}}"})
//	k.Variables = map[string]store.Type{"cartId": store.Text}
//	k.Vars = map[string]any{"cartId": "c-17"}
//	require.NoError(t, k.Validate())
//	out, err := k.Run(ctx)
//
// A Kit is not safe for concurrent use; its fakes are.
package elementtest

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

// Kit runs steps of one element. Its fields are the setting of the next
// step; change them between steps as the test needs.
type Kit struct {
	// Element is the element under test.
	Element element.Element

	// FlowID, ElementID and FlowVersion name the element's place.
	// Default to "flow", "element" and 1.
	FlowID      string
	ElementID   string
	FlowVersion int
	// Location is the flow's time zone. Defaults to UTC.
	Location *time.Location
	// Variables are the flow's declared variables, Schema the custom
	// person attributes and Computed the computed ones, which Validate
	// compiles against. Default to none.
	Variables map[string]store.Type
	Schema    store.Schema
	Computed  map[string]segment.Computed
	// Connected lists the branches the flow connects (see
	// element.Compiler.Connected). Defaults to none.
	Connected []string

	// Now is the time of the next step. Defaults to the time New was
	// called.
	Now time.Time
	// Participant is the participant's id. Defaults to a new one.
	Participant uuid.UUID
	// EnteredAt is when the participant entered the flow. Defaults to Now
	// at New.
	EnteredAt time.Time
	// Person is the person as the next step sees them; a step that
	// changes them replaces it. Defaults to a person with a new id and
	// nothing else.
	Person *store.Person
	// Vars are the participant's variables; steps change them in place.
	// Defaults to none.
	Vars map[string]any
	// Entry is the event that entered the participant; Event the event
	// the next step handles, if any. Default to none.
	Entry, Event *store.Event
	// History is the person's event history, which Run.History reads;
	// the events steps emit are added to it. Defaults to none.
	History []*store.Event
	// Settings are the host settings that {{env.NAME}} placeholders
	// read. Defaults to none: reading one fails the step.
	Settings map[string]string

	// Ports are lent to each step: New sets them to the fakes below,
	// which a test may replace or set to nil (a host without a Sender).
	Ports element.Ports
	// The fakes New lends the element in Ports.
	Sender        *Sender
	HTTP          *HTTP
	Conversations *Conversations
	Flows         *Flows

	seq     int64
	wait    *element.Wait
	arrived time.Time
	last    *element.Run
}

// New returns a kit for el, with the defaults documented on Kit.
func New(el element.Element) *Kit {
	now := time.Now().Round(0)
	k := &Kit{
		Element: el, FlowID: "flow", ElementID: "element", FlowVersion: 1, Location: time.UTC,
		Now: now, Participant: uuid.New(), EnteredAt: now, Person: &store.Person{ID: uuid.New()},
		Sender: &Sender{}, HTTP: &HTTP{}, Conversations: &Conversations{}, Flows: &Flows{},
	}
	k.Ports = element.Ports{Sender: k.Sender, HTTP: k.HTTP, Conversations: k.Conversations, Flows: k.Flows}
	return k
}

// compiler returns the compiler Validate uses.
func (k *Kit) compiler() *element.Compiler {
	return &element.Compiler{
		FlowID: k.FlowID, ElementID: k.ElementID, Variables: k.Variables, Schema: k.Schema,
		Computed: k.Computed, Location: k.Location, Connected: k.Connected,
	}
}

// Validate checks and compiles the element as Publish does. It must
// succeed before Run.
func (k *Kit) Validate() error { return k.Element.Validate(k.compiler()) }

// Run runs the element's step for the participant arriving at it. A
// panic in the element fails the step, as in the engine. When the step
// waits, its wait is kept for Resume.
func (k *Kit) Run(ctx context.Context) (element.Outcome, error) {
	k.arrived = k.Now
	r := k.newRun(nil)
	out, err := call(func() (element.Outcome, error) { return k.Element.Run(ctx, r) })
	return k.settle(r, out, err)
}

// Resume resumes the participant waiting at the element, with the wait
// the last step held it in, as the engine does when the wait's timer
// fires (w.Timer) or an event it waits for arrives (w.Event). It fails
// when the element does not wait or the participant does not.
func (k *Kit) Resume(ctx context.Context, w element.Wake) (element.Outcome, error) {
	res, ok := k.Element.(element.Resumer)
	if !ok {
		return element.Outcome{}, fmt.Errorf("elementtest: kind %q does not implement element.Resumer", k.Element.Kind())
	}
	if k.wait == nil {
		return element.Outcome{}, fmt.Errorf("elementtest: the participant is not waiting: its last step did not hold it")
	}
	r := k.newRun(w.Event)
	r.Wait = k.wait
	out, err := call(func() (element.Outcome, error) { return res.Resume(ctx, r, w) })
	return k.settle(r, out, err)
}

// Effects returns what the last step recorded, as the engine would commit
// it: the changed person (nil when unchanged), the events emitted and the
// counters added.
func (k *Kit) Effects() element.Effects {
	if k.last == nil {
		return element.Effects{}
	}
	return k.last.Effects()
}

// IdempotencyKey returns the last step's idempotency key, which it gave
// the ports it called.
func (k *Kit) IdempotencyKey() string {
	if k.last == nil {
		return ""
	}
	return k.last.IdempotencyKey()
}

func (k *Kit) newRun(ev *store.Event) *element.Run {
	if k.Vars == nil {
		k.Vars = map[string]any{}
	}
	if ev == nil {
		ev = k.Event
	}
	k.seq++
	ports := k.Ports
	if ports.Settings == nil {
		settings := k.Settings
		ports.Settings = func(name string) (string, bool) {
			v, ok := settings[name]
			return v, ok
		}
	}
	history := slices.Clone(k.History)
	r := new(element.Run)
	r.Reset(element.Run{
		Now: k.Now, Location: k.Location, FlowID: k.FlowID, FlowVersion: k.FlowVersion, ElementID: k.ElementID,
		Participant: k.Participant, Seq: k.seq, EnteredAt: k.EnteredAt, ArrivedAt: k.arrived,
		Person: k.Person, Vars: k.Vars, Entry: k.Entry, Event: ev, Ports: ports,
		History: func(q *store.EventQuery) ([]*store.Event, error) { return query(history, q), nil },
	})
	return r
}

// settle keeps what a step changed for the next, as the engine commits
// it: the person and events unless the step failed.
func (k *Kit) settle(r *element.Run, out element.Outcome, err error) (element.Outcome, error) {
	out, err = r.Redact(out, err)
	k.last = r
	k.Event = nil
	k.wait = nil
	if err != nil {
		return out, err
	}
	eff := r.Effects()
	if eff.Person != nil {
		k.Person = eff.Person
	}
	k.History = append(k.History, eff.Events...)
	if out.Wait != nil {
		w := *out.Wait
		k.wait = &w
	}
	return out, nil
}

// call runs a step, turning a panic into its error as the engine does.
func call(f func() (element.Outcome, error)) (out element.Outcome, err error) {
	defer func() {
		if v := recover(); v != nil {
			out, err = element.Outcome{}, fmt.Errorf("element panicked: %v", v)
		}
	}()
	return f()
}

// query returns the events of history q matches, as a Store does: oldest
// first, or the Limit most recent first.
func query(history []*store.Event, q *store.EventQuery) []*store.Event {
	var out []*store.Event
	for _, e := range history {
		if q.Matches(e) {
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(a, b *store.Event) int { return a.Time.Compare(b.Time) })
	if q.Limit > 0 {
		slices.Reverse(out)
		out = out[:min(q.Limit, len(out))]
	}
	return out
}

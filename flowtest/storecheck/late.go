package storecheck

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/stretchr/testify/require"
)

// lateTests are events that arrive after a participant's timer came due
// but before a (late) tick fired it: the timer goes first, as of its time.
var lateTests = []struct {
	name string
	run  func(*testing.T, Backend)
}{
	{"LateEventAfterWaitForEventLimit", testLateWaitForEvent},
	{"LateChangeAfterWaitForChangeLimit", testLateWaitForChange},
	{"LateChangeAfterWaitForDate", testLateWaitForDate},
	{"LateEventAfterScheduleEnd", testLateScheduleEnd},
	{"LateEventAfterInactivityBound", testLateInactivity},
	{"LateEventAfterQuietHours", testLateQuietHours},
	{"LateEventAfterCallAPIWindow", testLateCallAPIWindow},
}

// lateFlow publishes a flow whose first element is wait, going on to tags
// by branch, and enters ana; it returns the engine and clock.
func lateFlow(t *testing.T, b Backend, cfg flow.Config, wait element.Element, branches []string, edit func(*flow.Flow)) (*flow.Engine, *clock.Fake, *store.Participant) {
	t.Helper()
	clk := clock.NewFake(engineStart)
	eng := newEngine(t, b.New(t), clk, cfg)
	next := flow.Next{}
	f := flow.New("late", "Late")
	for _, br := range branches {
		next[br] = "tag-" + br
		f.Add("tag-"+br, &kinds.AddTag{Tag: br}, nil)
	}
	f.Elements = append([]*flow.Node{{ID: "wait", Element: wait, Next: next}}, f.Elements...)
	if edit != nil {
		edit(f)
	}
	activate(t, eng, f)
	id, err := eng.Enter(t.Context(), "late", store.PersonRef{ExternalID: "ana", Email: "ana@example.com"}, nil)
	require.NoError(t, err)
	p, err := eng.Participant(t.Context(), id)
	require.NoError(t, err)
	require.Equal(t, store.Waiting, p.Status, "%+v", p.Journal)
	return eng, clk, p
}

// requireLate checks that the participant took branch as of the timer's
// time and that its journal says why.
func requireLate(t *testing.T, eng *flow.Engine, p *store.Participant, branch string) *store.Participant {
	return requireLateAt(t, eng, p, branch, true)
}

// requireLateAt is requireLate; exact says the branch is journaled at the
// timer's time (steps that call outside are journaled when the call
// returns).
func requireLateAt(t *testing.T, eng *flow.Engine, p *store.Participant, branch string, exact bool) *store.Participant {
	t.Helper()
	got, err := eng.Participant(t.Context(), p.ID)
	require.NoError(t, err)
	var late, took *store.Step
	for i := range got.Journal {
		st := &got.Journal[i]
		if st.Element == "wait" && late == nil && st.Branch == "" && len(st.Reason) > 0 && containsAll(st.Reason, "its timer was due at", "the timer goes first") {
			late = st
		}
		if st.Element == "wait" && st.Branch != "" {
			took = st
		}
	}
	require.NotNil(t, late, "the journal says the timer went first: %+v", got.Journal)
	if branch == "" {
		require.True(t, got.Status.Done(), "%+v", got.Journal)
		return got
	}
	require.NotNil(t, took, "%+v", got.Journal)
	require.Equal(t, branch, took.Branch, "%+v", got.Journal)
	if exact {
		require.True(t, took.At.Equal(p.Wait.Until), "the branch is taken as of the timer's time %s, not %s", p.Wait.Until, took.At)
	}
	return got
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// recordingSender counts what it sends.
type recordingSender struct {
	mu sync.Mutex
	n  int
}

func (r *recordingSender) Send(context.Context, *element.Message) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	return fmt.Sprint("m", r.n), nil
}

func (r *recordingSender) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

func testLateWaitForEvent(t *testing.T, b Backend) {
	w := &kinds.WaitForEvent{Event: segment.EventSpec{Category: store.External, Name: "Paid"}, WaitFor: segment.Period{Amount: 1, Unit: segment.Minutes}}
	eng, clk, p := lateFlow(t, b, flow.Config{}, w, []string{"occurred", "timeout"}, nil)
	clk.Advance(2 * time.Minute)
	deliver(t, eng, "pay-1", "ana", "Paid", nil)
	requireLate(t, eng, p, "timeout")
}

func testLateWaitForChange(t *testing.T, b Backend) {
	w := &kinds.WaitForChange{Attributes: []*kinds.AttributeChange{{Attribute: "city"}}, WaitFor: segment.Period{Amount: 1, Unit: segment.Minutes}}
	eng, clk, p := lateFlow(t, b, flow.Config{}, w, []string{"changed", "notChanged"}, nil)
	clk.Advance(2 * time.Minute)
	_, err := eng.UpdatePerson(t.Context(), store.PersonRef{ExternalID: "ana"}, func(p *store.Person) error { p.City = "Split"; return nil })
	require.NoError(t, err)
	requireLate(t, eng, p, "notChanged")
}

func testLateWaitForDate(t *testing.T, b Backend) {
	ctx := t.Context()
	clk := clock.NewFake(engineStart)
	eng := newEngine(t, b.New(t), clk, flow.Config{})
	_, err := eng.UpdatePerson(ctx, store.PersonRef{ExternalID: "ana"}, func(p *store.Person) error {
		p.Attributes = map[string]any{"score": 1.0}
		p.BirthDate = engineStart.AddDate(-30, 0, 1)
		return nil
	})
	require.NoError(t, err)
	w := &kinds.WaitForDate{Attribute: store.AttrBirthDate, When: "isToday", EveryYear: true, At: kinds.At(9, 0)}
	f := flow.New("late", "Late").
		Add("wait", w, flow.Next{"reached": "tag-reached", "missed": "tag-missed"}).
		Add("tag-reached", &kinds.AddTag{Tag: "reached"}, nil).
		Add("tag-missed", &kinds.AddTag{Tag: "missed"}, nil)
	activate(t, eng, f)
	id, err := eng.Enter(ctx, "late", store.PersonRef{ExternalID: "ana"}, nil)
	require.NoError(t, err)
	p, err := eng.Participant(ctx, id)
	require.NoError(t, err)
	require.Equal(t, store.Waiting, p.Status, "%+v", p.Journal)
	clk.Set(p.Wait.Until.Add(time.Hour))
	// The birthday changes an hour after the wait came due, before a tick.
	_, err = eng.UpdatePerson(ctx, store.PersonRef{ExternalID: "ana"}, func(p *store.Person) error {
		p.BirthDate = p.BirthDate.AddDate(0, 0, 5)
		return nil
	})
	require.NoError(t, err)
	requireLate(t, eng, p, "reached")
}

func testLateScheduleEnd(t *testing.T, b Backend) {
	w := &kinds.WaitForEvent{Event: segment.EventSpec{Category: store.External, Name: "Paid"}}
	eng, clk, p := lateFlow(t, b, flow.Config{}, w, []string{"occurred", "timeout"}, func(f *flow.Flow) {
		f.Schedule.End = engineStart.Add(time.Minute)
	})
	clk.Advance(2 * time.Minute)
	deliver(t, eng, "pay-1", "ana", "Paid", nil)
	got := requireLate(t, eng, p, "")
	require.Contains(t, got.Reason, "flow schedule ended")
}

func testLateInactivity(t *testing.T, b Backend) {
	w := &kinds.WaitForEvent{Event: segment.EventSpec{Category: store.External, Name: "Paid"}}
	eng, clk, p := lateFlow(t, b, flow.Config{InactivityLimit: time.Hour}, w, []string{"occurred", "timeout"}, nil)
	clk.Advance(2 * time.Hour)
	deliver(t, eng, "pay-1", "ana", "Paid", nil)
	got := requireLate(t, eng, p, "")
	require.Contains(t, got.Reason, "no element activated")
}

// A send held by quiet hours goes out as of their end when any event of
// the person reaches it first.
func testLateQuietHours(t *testing.T, b Backend) {
	sent := &recordingSender{}
	cfg := flow.Config{ElementOptions: kinds.Options{SendMessage: kinds.SendMessageOptions{
		QuietHours: kinds.QuietHours{Start: kinds.At(0, 0), End: kinds.At(23, 0)}}}, Ports: flow.Ports{Sender: sent}}
	w := &kinds.SendMessage{Channel: "email", Body: "hi"}
	eng, clk, p := lateFlow(t, b, cfg, w, []string{"sent", "blocked", "capped"}, nil)
	clk.Set(p.Wait.Until.Add(10 * time.Minute))
	deliver(t, eng, "browse-1", "ana", "Browsed", nil)
	requireLateAt(t, eng, p, "sent", false)
	require.Equal(t, 1, sent.count())
}

// A call held until its delivery window opens is made as of the opening
// when an event of the person reaches it first.
func testLateCallAPIWindow(t *testing.T, b Backend) {
	a := newAPI(t, false)
	w := &kinds.CallAPI{URL: a.URL, Window: &kinds.TimeWindow{Start: kinds.At(0, 0), End: kinds.At(1, 0)}}
	eng, clk, p := lateFlow(t, b, flow.Config{}, w, []string{"2xx", "4xx", "5xx", "other"}, nil)
	clk.Set(p.Wait.Until.Add(10 * time.Minute))
	deliver(t, eng, "browse-1", "ana", "Browsed", nil)
	requireLateAt(t, eng, p, "2xx", false)
	require.Len(t, a.calls(), 1)
}

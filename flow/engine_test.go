package flow_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/flowtest"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC) // a Monday

type harness struct {
	ctx   context.Context
	clk   *clock.Fake
	store *memory.Store
	eng   *flow.Engine
}

func newHarness(t testing.TB, cfg flow.Config) *harness {
	t.Helper()
	h := &harness{ctx: context.Background(), clk: clock.NewFake(t0), store: memory.New()}
	cfg.Store, cfg.Clock = h.store, h.clk
	if cfg.Schema == nil {
		cfg.Schema = store.Schema{"age": store.Number, "plan": store.Text}
	}
	eng, err := flow.NewEngine(cfg)
	require.NoError(t, err)
	h.eng = eng
	return h
}

func (h *harness) publish(t testing.TB, f *flow.Flow) {
	t.Helper()
	_, err := h.eng.Publish(h.ctx, f)
	require.NoError(t, err)
	require.NoError(t, h.eng.Activate(h.ctx, f.ID))
}

func (h *harness) participant(t testing.TB, id uuid.UUID) *store.Participant {
	t.Helper()
	p, err := h.eng.Participant(h.ctx, id)
	require.NoError(t, err)
	return p
}

func pauseFor(amount int, unit segment.Unit) *kinds.Pause {
	return &kinds.Pause{Mode: kinds.PauseFor, Period: segment.Period{Amount: amount, Unit: unit}}
}

func tag(s string) *kinds.AddTag { return &kinds.AddTag{Tag: s} }

func TestEnterRefusedUnlessActive(t *testing.T) {
	h := newHarness(t, flow.Config{})
	f := flow.New("f", "F").Add("a", tag("x"), nil)
	_, err := h.eng.Publish(h.ctx, f)
	require.NoError(t, err)
	_, err = h.eng.Enter(h.ctx, "f", store.PersonRef{ExternalID: "p1"}, nil)
	require.ErrorIs(t, err, flow.ErrFlowNotActive)
	require.ErrorContains(t, err, `flow "f" is draft`)
	// Nothing was stored: the refused person was not created.
	_, err = h.eng.Person(h.ctx, store.PersonRef{ExternalID: "p1"})
	require.ErrorIs(t, err, store.ErrNotFound)

	_, err = h.eng.Enter(h.ctx, "nope", store.PersonRef{ExternalID: "p1"}, nil)
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestLifecycle(t *testing.T) {
	h := newHarness(t, flow.Config{})
	f := flow.New("f", "F").Add("wait", pauseFor(2, segment.Days), flow.Next{"next": "tag"}).Add("tag", tag("done"), nil)
	h.publish(t, f)
	ids := make([]uuid.UUID, 3)
	for i := range ids {
		var err error
		ids[i], err = h.eng.Enter(h.ctx, "f", store.PersonRef{ExternalID: fmt.Sprint("p", i)}, nil)
		require.NoError(t, err)
	}
	require.ErrorIs(t, h.eng.Activate(h.ctx, "f"), flow.ErrBadTransition)

	// Paused: due timers wait, new entries are refused.
	require.NoError(t, h.eng.Pause(h.ctx, "f"))
	_, err := h.eng.Enter(h.ctx, "f", store.PersonRef{ExternalID: "late"}, nil)
	require.ErrorIs(t, err, flow.ErrFlowNotActive)
	n, err := flowtest.Advance(h.ctx, h.eng, h.clk, 3*24*time.Hour)
	require.NoError(t, err)
	require.Zero(t, n)
	require.Equal(t, store.Waiting, h.participant(t, ids[0]).Status)
	_, ok, err := h.eng.NextDue(h.ctx)
	require.NoError(t, err)
	require.False(t, ok, "parked timers are not due")

	// Resumed: the parked timers fire late, at the tick's time.
	require.NoError(t, h.eng.Resume(h.ctx, "f"))
	n, err = h.eng.Tick(h.ctx)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	p := h.participant(t, ids[0])
	require.Equal(t, store.Completed, p.Status)
	require.Equal(t, t0.Add(3*24*time.Hour), p.ExitedAt)

	// Finished: no new entries; those inside run out.
	id, err := h.eng.Enter(h.ctx, "f", store.PersonRef{ExternalID: "p9"}, nil)
	require.NoError(t, err)
	require.NoError(t, h.eng.Finish(h.ctx, "f"))
	_, err = h.eng.Enter(h.ctx, "f", store.PersonRef{ExternalID: "p10"}, nil)
	require.ErrorIs(t, err, flow.ErrFlowNotActive)
	_, err = flowtest.Advance(h.ctx, h.eng, h.clk, 2*24*time.Hour)
	require.NoError(t, err)
	require.Equal(t, store.Completed, h.participant(t, id).Status)

	// Canceled: everybody still inside leaves at once.
	g := flow.New("g", "G").Add("wait", pauseFor(30, segment.Days), nil)
	h.publish(t, g)
	gid, err := h.eng.Enter(h.ctx, "g", store.PersonRef{ExternalID: "p1"}, nil)
	require.NoError(t, err)
	require.NoError(t, h.eng.Cancel(h.ctx, "g"))
	p = h.participant(t, gid)
	require.Equal(t, store.Canceled, p.Status)
	require.Equal(t, "flow canceled", p.Reason)
	_, ok, err = h.eng.NextDue(h.ctx)
	require.NoError(t, err)
	require.False(t, ok)
	require.ErrorIs(t, h.eng.Resume(h.ctx, "g"), flow.ErrBadTransition)
	st, err := h.eng.Stats(h.ctx, "g")
	require.NoError(t, err)
	require.Zero(t, st["wait"].Waiting)
}

func TestVersionPinning(t *testing.T) {
	h := newHarness(t, flow.Config{})
	v1 := flow.New("f", "F").Add("wait", pauseFor(1, segment.Days), flow.Next{"next": "t"}).Add("t", tag("v1"), nil)
	h.publish(t, v1)
	old, err := h.eng.Enter(h.ctx, "f", store.PersonRef{ExternalID: "old"}, nil)
	require.NoError(t, err)
	v2 := flow.New("f", "F").Add("wait", pauseFor(1, segment.Days), flow.Next{"next": "t"}).Add("t", tag("v2"), nil)
	v, err := h.eng.Publish(h.ctx, v2)
	require.NoError(t, err)
	require.Equal(t, 2, v)
	young, err := h.eng.Enter(h.ctx, "f", store.PersonRef{ExternalID: "young"}, nil)
	require.NoError(t, err)
	_, err = flowtest.Advance(h.ctx, h.eng, h.clk, 48*time.Hour)
	require.NoError(t, err)
	require.Equal(t, 1, h.participant(t, old).FlowVersion)
	require.Equal(t, 2, h.participant(t, young).FlowVersion)
	po, _ := h.eng.Person(h.ctx, store.PersonRef{ExternalID: "old"})
	py, _ := h.eng.Person(h.ctx, store.PersonRef{ExternalID: "young"})
	require.Equal(t, []string{"v1"}, po.Tags)
	require.Equal(t, []string{"v2"}, py.Tags)
}

func TestLoopWithoutWaitFailsParticipant(t *testing.T) {
	h := newHarness(t, flow.Config{MaxSteps: 50})
	f := flow.New("loop", "Loop").Var("n", store.Number, 0).
		Add("a", &kinds.UpdateVariable{Set: []*kinds.Assignment{{Variable: "n", Formula: "n + 1"}}}, flow.Next{"next": "b"}).
		Add("b", &kinds.UpdateVariable{Set: []*kinds.Assignment{{Variable: "n", Formula: "n + 1"}}}, flow.Next{"next": "a"})
	h.publish(t, f)
	id, err := h.eng.Enter(h.ctx, "loop", store.PersonRef{ExternalID: "p"}, nil)
	require.NoError(t, err, "the host does not fail: the participant does")
	p := h.participant(t, id)
	require.Equal(t, store.Failed, p.Status)
	require.Contains(t, p.Reason, "ran 50 steps in one call without waiting")
	require.Equal(t, 50.0, p.Vars["n"])
}

func TestLoopWithWaitRunsForever(t *testing.T) {
	h := newHarness(t, flow.Config{})
	f := flow.New("tick", "Weekly").Var("n", store.Number, 0).
		Add("a", &kinds.UpdateVariable{Set: []*kinds.Assignment{{Variable: "n", Formula: "n + 1"}}}, flow.Next{"next": "w"}).
		Add("w", pauseFor(1, segment.Weeks), flow.Next{"next": "a"})
	h.publish(t, f)
	id, err := h.eng.Enter(h.ctx, "tick", store.PersonRef{ExternalID: "p"}, nil)
	require.NoError(t, err)
	_, err = flowtest.Advance(h.ctx, h.eng, h.clk, 52*7*24*time.Hour)
	require.NoError(t, err)
	p := h.participant(t, id)
	require.Equal(t, store.Waiting, p.Status)
	require.Equal(t, 53.0, p.Vars["n"])
	require.Len(t, p.Journal, 100, "the journal keeps the most recent steps")
	require.Equal(t, p.Seq, p.Journal[len(p.Journal)-1].Seq)
	for i := 1; i < len(p.Journal); i++ {
		require.LessOrEqual(t, p.Journal[i-1].Seq, p.Journal[i].Seq, "oldest first")
		require.LessOrEqual(t, p.Journal[i].Seq-p.Journal[i-1].Seq, int64(1), "no step missing")
	}
}

// A journal limit holds within one call too: a chain longer than the
// limit leaves the most recent steps, oldest first.
func TestJournalLimitWithinOneCall(t *testing.T) {
	h := newHarness(t, flow.Config{JournalLimit: 3})
	f := flow.New("chain", "Chain")
	for i := range 6 {
		var next flow.Next
		if i < 5 {
			next = flow.Next{"next": fmt.Sprint("t", i+1)}
		}
		f.Add(fmt.Sprint("t", i), tag(fmt.Sprint("tag", i)), next)
	}
	h.publish(t, f)
	id, err := h.eng.Enter(h.ctx, "chain", store.PersonRef{ExternalID: "p"}, nil)
	require.NoError(t, err)
	p := h.participant(t, id)
	require.Equal(t, store.Completed, p.Status)
	var got []string
	for _, st := range p.Journal {
		got = append(got, st.Element)
	}
	require.Equal(t, []string{"t4", "t5", "t5"}, got, "t4's branch, t5's branch, then leaving from t5")
	require.Equal(t, p.Seq, p.Journal[2].Seq)
}

// A participant that leaves keeps FinishedJournalLimit steps, its exit
// the last; one still in the flow keeps JournalLimit.
func TestFinishedJournalLimit(t *testing.T) {
	h := newHarness(t, flow.Config{JournalLimit: 10, FinishedJournalLimit: 2})
	f := flow.New("chain", "Chain")
	for i := range 6 {
		next := flow.Next{"next": fmt.Sprint("t", i+1)}
		if i == 5 {
			next = flow.Next{"next": "wait"}
		}
		f.Add(fmt.Sprint("t", i), tag(fmt.Sprint("tag", i)), next)
	}
	f.Add("wait", pauseFor(1, segment.Days), nil)
	h.publish(t, f)
	id, err := h.eng.Enter(h.ctx, "chain", store.PersonRef{ExternalID: "p"}, nil)
	require.NoError(t, err)
	p := h.participant(t, id)
	require.Equal(t, store.Waiting, p.Status)
	require.Len(t, p.Journal, 7, "in the flow: JournalLimit applies")
	_, err = flowtest.Advance(h.ctx, h.eng, h.clk, 25*time.Hour)
	require.NoError(t, err)
	p = h.participant(t, id)
	require.Equal(t, store.Completed, p.Status)
	require.Len(t, p.Journal, 2)
	require.Equal(t, p.Seq, p.Journal[1].Seq, "the exit is the last step kept")
	require.Equal(t, p.Reason, p.Journal[1].Reason)
	require.Equal(t, "wait", p.Journal[0].Element)
}

func TestInactivityAndScheduleEnd(t *testing.T) {
	h := newHarness(t, flow.Config{})
	// A pause of two years is bounded by the one-year inactivity rule.
	f := flow.New("long", "Long").Add("w", pauseFor(730, segment.Days), flow.Next{"next": "t"}).Add("t", tag("never"), nil)
	h.publish(t, f)
	id, err := h.eng.Enter(h.ctx, "long", store.PersonRef{ExternalID: "p"}, nil)
	require.NoError(t, err)
	_, err = flowtest.Advance(h.ctx, h.eng, h.clk, 800*24*time.Hour)
	require.NoError(t, err)
	p := h.participant(t, id)
	require.Equal(t, store.Completed, p.Status)
	require.Equal(t, t0.Add(365*24*time.Hour), p.ExitedAt)
	require.Contains(t, p.Reason, "no element activated for a year")

	// The schedule end comes first.
	end := h.clk.Now().Add(40 * 24 * time.Hour)
	g := flow.New("sched", "Sched").Add("w", pauseFor(100, segment.Days), nil)
	g.Schedule.End = end
	h.publish(t, g)
	gid, err := h.eng.Enter(h.ctx, "sched", store.PersonRef{ExternalID: "p"}, nil)
	require.NoError(t, err)
	_, err = flowtest.Advance(h.ctx, h.eng, h.clk, 100*24*time.Hour)
	require.NoError(t, err)
	p = h.participant(t, gid)
	require.Equal(t, store.Completed, p.Status)
	require.Equal(t, end, p.ExitedAt)
	require.Contains(t, p.Reason, "flow schedule ended")
	_, err = h.eng.Enter(h.ctx, "sched", store.PersonRef{ExternalID: "q"}, nil)
	require.ErrorIs(t, err, flow.ErrFlowNotActive)
}

func TestReentryAndTriggers(t *testing.T) {
	h := newHarness(t, flow.Config{})
	f := flow.New("welcome", "Welcome").Var("src", store.Text, "api").
		Add("t", &kinds.AddTag{Tag: "{{src}}"}, flow.Next{"next": "w"}).
		Add("w", pauseFor(1, segment.Days), nil)
	f.Trigger = &flow.Trigger{Category: store.External, Name: "SignedUp"}
	h.publish(t, f)
	_, err := h.eng.Enter(h.ctx, "welcome", store.PersonRef{ExternalID: "p"}, map[string]any{"src": "web"})
	require.NoError(t, err)
	_, err = h.eng.Enter(h.ctx, "welcome", store.PersonRef{ExternalID: "p"}, nil)
	require.ErrorIs(t, err, flow.ErrAlreadyInFlow)
	_, err = h.eng.Enter(h.ctx, "welcome", store.PersonRef{ExternalID: "q"}, map[string]any{"nope": 1})
	require.ErrorContains(t, err, `variable "nope" is not declared`)

	ev := &store.Event{ID: "e1", Person: store.PersonRef{Email: "new@example.com"}, Category: store.External, Name: "SignedUp"}
	require.NoError(t, h.eng.Deliver(h.ctx, ev))
	require.NoError(t, h.eng.Deliver(h.ctx, ev), "a redelivered event is a no-op")
	ps, err := h.eng.Participants(h.ctx, store.ParticipantQuery{FlowID: "welcome"})
	require.NoError(t, err)
	require.Len(t, ps, 2)
	person, err := h.eng.Person(h.ctx, store.PersonRef{Email: "new@example.com"})
	require.NoError(t, err)
	require.Equal(t, []string{"api"}, person.Tags)
	evs, err := h.eng.Events(h.ctx, store.PersonRef{Email: "new@example.com"}, store.EventQuery{Name: "SignedUp"})
	require.NoError(t, err)
	require.Len(t, evs, 1)
	require.Equal(t, "e1", ps[1].Entry.ID)
}

func TestBadEvents(t *testing.T) {
	h := newHarness(t, flow.Config{})
	for name, ev := range map[string]*store.Event{
		"no id":       {Person: store.PersonRef{ExternalID: "p"}, Category: store.External, Name: "X"},
		"no person":   {ID: "1", Category: store.External, Name: "X"},
		"no category": {ID: "1", Person: store.PersonRef{ExternalID: "p"}, Name: "X"},
		"no name":     {ID: "1", Person: store.PersonRef{ExternalID: "p"}, Category: store.External},
		"bad prop":    {ID: "1", Person: store.PersonRef{ExternalID: "p"}, Category: store.External, Name: "X", Properties: map[string]any{"c": make(chan int)}},
	} {
		err := h.eng.Deliver(h.ctx, ev)
		require.ErrorIs(t, err, flow.ErrBadEvent, name)
	}
	require.ErrorIs(t, h.eng.Deliver(h.ctx, nil), flow.ErrBadEvent)
	_, err := h.eng.Person(h.ctx, store.PersonRef{ExternalID: "p"})
	require.ErrorIs(t, err, store.ErrNotFound, "a refused event creates nobody")
	err = h.eng.Deliver(h.ctx, &store.Event{ID: "1", Person: store.PersonRef{ID: uuid.New()}, Category: store.External, Name: "X"})
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestUpdatePersonEmitsPeopleEvents(t *testing.T) {
	h := newHarness(t, flow.Config{})
	who := store.PersonRef{ExternalID: "p"}
	_, err := h.eng.UpdatePerson(h.ctx, who, func(p *store.Person) error {
		p.FirstName = "Ana"
		p.Set("age", 27)
		p.AddTag("vip")
		p.Emails = []string{"ana@example.com"}
		return nil
	})
	require.NoError(t, err)
	p, err := h.eng.Person(h.ctx, store.PersonRef{Email: "ana@example.com"})
	require.NoError(t, err)
	require.Equal(t, 27.0, p.Attributes["age"], "converted to the schema's type")
	evs, err := h.eng.Events(h.ctx, who, store.EventQuery{Category: store.People})
	require.NoError(t, err)
	var names []string
	for _, e := range evs {
		names = append(names, fmt.Sprintf("%s:%v:%v:%v", e.Name, e.Properties["attribute"], e.Properties["tag"], e.Properties["address"]))
	}
	require.ElementsMatch(t, []string{"attributeChanged:age:<nil>:<nil>", "attributeChanged:firstName:<nil>:<nil>", "tagAdded:<nil>:vip:<nil>",
		"emailAdded:<nil>:<nil>:ana@example.com"}, names)

	_, err = h.eng.UpdatePerson(h.ctx, who, func(p *store.Person) error { p.Set("shoeSize", 42); return nil })
	require.ErrorContains(t, err, `attribute "shoeSize" is not declared`)
	_, err = h.eng.UpdatePerson(h.ctx, who, func(p *store.Person) error { p.Set("age", "old"); return nil })
	require.ErrorContains(t, err, `attribute "age"`)
	_, err = h.eng.UpdatePerson(h.ctx, who, func(p *store.Person) error { p.TimeZone = "Mars/Base"; return nil })
	require.ErrorContains(t, err, `time zone "Mars/Base"`)
	p, err = h.eng.Person(h.ctx, who)
	require.NoError(t, err)
	require.Equal(t, 27.0, p.Attributes["age"], "a refused update changes nothing")
	require.Empty(t, p.TimeZone)
}

// failing is an element whose step fails or panics.
type failing struct{ Panic bool }

func (*failing) Kind() string                     { return "test.failing" }
func (*failing) Branches() []string               { return []string{"next"} }
func (*failing) Validate(*element.Compiler) error { return nil }
func (f *failing) Run(context.Context, *element.Run) (element.Outcome, error) {
	if f.Panic {
		panic("boom")
	}
	return element.Outcome{}, errors.New("upstream said no")
}

func TestElementErrorsAndPanics(t *testing.T) {
	h := newHarness(t, flow.Config{})
	f := flow.New("err", "Err").
		Add("a", &failing{}, flow.Next{"error": "b"}).
		Add("b", &failing{Panic: true}, nil)
	h.publish(t, f)
	id, err := h.eng.Enter(h.ctx, "err", store.PersonRef{ExternalID: "p"}, nil)
	require.NoError(t, err)
	p := h.participant(t, id)
	require.Equal(t, store.Failed, p.Status)
	require.Equal(t, `element "b" failed: element panicked: boom`, p.Reason)
	require.Equal(t, "error", p.Journal[0].Branch)
	require.Equal(t, "failed: upstream said no", p.Journal[0].Reason)
	st, err := h.eng.Stats(h.ctx, "err")
	require.NoError(t, err)
	require.Equal(t, int64(1), st["a"].Errors)
	require.Equal(t, int64(1), st["a"].Left["error"])
	require.Equal(t, int64(1), st["b"].Errors)
}

func TestJournalExplains(t *testing.T) {
	h := newHarness(t, flow.Config{})
	f := flow.New("j", "J").In("Europe/Zagreb").
		Add("p", &kinds.Pause{Mode: kinds.PauseUntil, Weekday: "friday", At: kinds.At(13, 0)}, flow.Next{"next": "t"}).
		Add("t", tag("seen"), flow.Next{"next": "x"}).
		Add("x", &kinds.Exit{}, nil)
	h.publish(t, f)
	id, err := h.eng.Enter(h.ctx, "j", store.PersonRef{ExternalID: "p"}, nil)
	require.NoError(t, err)
	_, err = flowtest.Advance(h.ctx, h.eng, h.clk, 7*24*time.Hour)
	require.NoError(t, err)
	var lines []string
	for _, s := range h.participant(t, id).Journal {
		lines = append(lines, fmt.Sprintf("%s %s %s %s", s.At.UTC().Format("Mon 15:04"), s.Element, s.Branch, s.Reason))
	}
	require.Equal(t, []string{
		"Mon 09:00 p  pause Friday 13:00: until Fri 2026-03-06 13:00 CET",
		"Fri 12:00 p next pause over: Friday 13:00",
		`Fri 12:00 t next tagged "seen"`,
		"Fri 12:00 x  reached exit",
	}, lines)
}

// TestConcurrentCallsRunEachStepOnce hammers one flow from many goroutines:
// entries, event deliveries, profile updates and ticks. Every participant
// must take each step exactly once.
func TestConcurrentCallsRunEachStepOnce(t *testing.T) {
	h := newHarness(t, flow.Config{})
	f := flow.New("c", "C").Var("n", store.Number, 0).
		Add("inc1", &kinds.UpdateVariable{Set: []*kinds.Assignment{{Variable: "n", Formula: "n + 1"}}}, flow.Next{"next": "w1"}).
		Add("w1", pauseFor(1, segment.Hours), flow.Next{"next": "inc2"}).
		Add("inc2", &kinds.UpdateVariable{Set: []*kinds.Assignment{{Variable: "n", Formula: "n + 1"}}}, flow.Next{"next": "w2"}).
		Add("w2", pauseFor(2, segment.Hours), flow.Next{"next": "inc3"}).
		Add("inc3", &kinds.UpdateVariable{Set: []*kinds.Assignment{{Variable: "n", Formula: "n + 1"}}}, flow.Next{"next": "done"}).
		Add("done", &kinds.UpdateProfile{Set: []*kinds.Assignment{{Attribute: "age", Formula: "n"}}}, nil)
	h.publish(t, f)

	const people = 200
	var wg sync.WaitGroup
	var entered atomic.Int64
	for g := range 4 {
		wg.Go(func() {
			for i := g; i < people; i += 4 {
				_, err := h.eng.Enter(h.ctx, "c", store.PersonRef{ExternalID: fmt.Sprint("p", i)}, nil)
				if err == nil {
					entered.Add(1)
				}
				// Unrelated traffic for the same people.
				_ = h.eng.Deliver(h.ctx, &store.Event{ID: fmt.Sprint("ev", i), Person: store.PersonRef{ExternalID: fmt.Sprint("p", i)}, Category: store.External, Name: "Noise"})
			}
		})
	}
	stop := make(chan struct{})
	var tickers sync.WaitGroup
	for range 4 {
		tickers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					if _, err := h.eng.Tick(h.ctx); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	for i := range 12 {
		h.clk.Set(t0.Add(time.Duration(i+1) * 15 * time.Minute))
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
	close(stop)
	tickers.Wait()
	_, err := flowtest.AdvanceTo(h.ctx, h.eng, h.clk, t0.Add(24*time.Hour))
	require.NoError(t, err)

	require.EqualValues(t, people, entered.Load())
	ps, err := h.eng.Participants(h.ctx, store.ParticipantQuery{FlowID: "c"})
	require.NoError(t, err)
	require.Len(t, ps, people)
	for _, p := range ps {
		require.Equal(t, store.Completed, p.Status, "%s %+v %v", p.Reason, p.Wait, p.Journal)
		require.Equal(t, 3.0, p.Vars["n"], "each increment ran exactly once")
		require.EqualValues(t, 8, p.Seq, "8 steps: 3 increments, 2 pauses entered and resumed... journal: %v", p.Journal)
	}
	st, err := h.eng.Stats(h.ctx, "c")
	require.NoError(t, err)
	require.EqualValues(t, people, st["inc3"].Entered)
	require.EqualValues(t, people, st["w2"].Left["next"])
	require.Zero(t, st["w1"].Waiting)
}

func TestNoRealSleepingForAYear(t *testing.T) {
	h := newHarness(t, flow.Config{})
	f := flow.New("year", "Year").In("America/New_York").
		Add("m", &kinds.Pause{Mode: kinds.PauseFor, Period: segment.Period{Amount: 30, Unit: segment.Days}, At: kinds.At(10, 0)}, flow.Next{"next": "t"}).
		Add("t", &kinds.AddTag{Tag: "month"}, flow.Next{"next": "m"})
	h.publish(t, f)
	id, err := h.eng.Enter(h.ctx, "year", store.PersonRef{ExternalID: "p"}, nil)
	require.NoError(t, err)
	start := time.Now()
	_, err = flowtest.AdvanceTo(h.ctx, h.eng, h.clk, t0.AddDate(1, 0, 0).Add(-time.Hour))
	require.NoError(t, err)
	require.Less(t, time.Since(start), 5*time.Second)
	p := h.participant(t, id)
	require.Equal(t, store.Waiting, p.Status)
	loc, _ := time.LoadLocation("America/New_York")
	for _, s := range p.Journal {
		if s.Branch == "next" && s.Element == "m" {
			require.Equal(t, "10:00", s.At.In(loc).Format("15:04"), "every monthly pause ends at 10:00 local, DST or not")
		}
	}
}

func TestPublishRefusesBadFlowsAndKeepsNothing(t *testing.T) {
	h := newHarness(t, flow.Config{})
	bad := flow.New("bad", "Bad").Add("a", &kinds.UpdateVariable{Set: []*kinds.Assignment{{Variable: "x", Formula: "1 +"}}}, nil).Var("x", store.Number, nil)
	_, err := h.eng.Publish(h.ctx, bad)
	var ve *flow.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, "a", ve.ElementID)
	require.Equal(t, "set[0].formula", ve.Field)
	require.Regexp(t, `\(1:3\)`, err.Error(), "expr's line and column are kept")
	_, err = h.eng.Flow(h.ctx, "bad")
	require.ErrorIs(t, err, store.ErrNotFound)

	wrongType := flow.New("wt", "WT").Var("x", store.Number, nil).
		Add("a", &kinds.UpdateVariable{Set: []*kinds.Assignment{{Variable: "x", Formula: `"text"`}}}, nil)
	_, err = h.eng.Publish(h.ctx, wrongType)
	require.ErrorContains(t, err, `element "a": set[0].formula: variable x is number but the formula gives text`)

	many := flow.New("big", "Big")
	for i := range flow.MaxElements + 1 {
		next := flow.Next{"next": fmt.Sprint("e", i+1)}
		if i == flow.MaxElements {
			next = nil
		}
		many.Add(fmt.Sprint("e", i), tag("t"), next)
	}
	_, err = h.eng.Publish(h.ctx, many)
	require.ErrorContains(t, err, "flow has 101 elements, at most 100")
	many.Elements = many.Elements[:flow.MaxElements]
	many.Elements[flow.MaxElements-1].Next = nil
	_, err = h.eng.Publish(h.ctx, many)
	require.NoError(t, err)
}

func TestEngineConfig(t *testing.T) {
	_, err := flow.NewEngine(flow.Config{})
	require.ErrorContains(t, err, "Store is required")
	_, err = flow.NewEngine(flow.Config{Store: memory.New(), MaxSteps: -1})
	require.Error(t, err)
	_, err = flow.NewEngine(flow.Config{Store: memory.New(), Schema: store.Schema{"city": store.Text}})
	require.ErrorContains(t, err, "standard attribute")
	_, err = flow.NewEngine(flow.Config{Store: memory.New(), Schema: store.Schema{"x": "color"}})
	require.ErrorContains(t, err, "unknown type")
	eng, err := flow.NewEngine(flow.Config{Store: memory.New()})
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), eng.Now(), time.Minute, "the clock defaults to real time")
}

func TestAddToFlow(t *testing.T) {
	h := newHarness(t, flow.Config{})
	sec := flow.New("secondary", "Secondary").Var("coupon", store.Text, nil).
		Add("t", &kinds.AddTag{Tag: "{{coupon}}"}, nil)
	h.publish(t, sec)
	prim := flow.New("primary", "Primary").Var("friend", store.Text, nil).
		Add("me", &kinds.AddToFlow{Flow: "secondary", Variables: map[string]string{"coupon": "SELF"}}, flow.Next{"next": "friend", "failed": "oops"}).
		Add("friend", &kinds.AddToFlow{Flow: "secondary", Variables: map[string]string{"coupon": "REF-{{person.externalId}}"}, Participant: &kinds.Contact{Email: "{{friend}}"}}, flow.Next{"next": "w"}).
		Add("w", pauseFor(1, segment.Days), flow.Next{"next": "again"}).
		Add("again", &kinds.AddToFlow{Flow: "secondary"}, flow.Next{"failed": "oops"}).
		Add("oops", tag("transfer-failed"), nil)
	h.publish(t, prim)
	_, err := h.eng.Enter(h.ctx, "primary", store.PersonRef{ExternalID: "ann"}, map[string]any{"friend": "Bob@Example.com"})
	require.NoError(t, err)
	ann, err := h.eng.Person(h.ctx, store.PersonRef{ExternalID: "ann"})
	require.NoError(t, err)
	require.Equal(t, []string{"SELF"}, ann.Tags)
	bob, err := h.eng.Person(h.ctx, store.PersonRef{Email: "bob@example.com"})
	require.NoError(t, err, "the friend is created by contact")
	require.Equal(t, []string{"REF-ann"}, bob.Tags)

	require.NoError(t, h.eng.Cancel(h.ctx, "secondary"))
	_, err = flowtest.Advance(h.ctx, h.eng, h.clk, 25*time.Hour)
	require.NoError(t, err)
	ann, err = h.eng.Person(h.ctx, store.PersonRef{ExternalID: "ann"})
	require.NoError(t, err)
	require.Contains(t, ann.Tags, "transfer-failed", "a canceled secondary flow takes the failover branch")
	ps, err := h.eng.Participants(h.ctx, store.ParticipantQuery{FlowID: "primary"})
	require.NoError(t, err)
	require.True(t, strings.Contains(ps[0].Journal[len(ps[0].Journal)-3].Reason, `flow "secondary" is canceled`), ps[0].Journal)
}

func TestInactivityIsACalendarYear(t *testing.T) {
	h := newHarness(t, flow.Config{})
	h.clk.Set(time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC))
	f := flow.New("leap", "Leap").In("Europe/Zagreb").Add("w", pauseFor(800, segment.Days), nil)
	h.publish(t, f)
	id, err := h.eng.Enter(h.ctx, "leap", store.PersonRef{ExternalID: "p"}, nil)
	require.NoError(t, err)
	_, err = flowtest.Advance(h.ctx, h.eng, h.clk, 400*24*time.Hour)
	require.NoError(t, err)
	p := h.participant(t, id)
	require.Equal(t, time.Date(2028, 3, 1, 12, 0, 0, 0, time.UTC), p.ExitedAt.UTC(), "366 days across February 29")
	require.Equal(t, "no element activated for a year: left the flow", p.Reason)
}

// Ticks running at once share the due timers out: each fires once, and the
// counts add up.
func TestConcurrentTicksShareTimers(t *testing.T) {
	h := newHarness(t, flow.Config{TickBatch: 16})
	h.publish(t, flow.New("ct", "CT").Add("p", pauseFor(1, segment.Hours), flow.Next{"next": "t"}).Add("t", tag("woke"), nil))
	const n = 500
	for i := range n {
		_, err := h.eng.Enter(h.ctx, "ct", store.PersonRef{ExternalID: fmt.Sprint("p", i)}, nil)
		require.NoError(t, err)
	}
	h.clk.Advance(2 * time.Hour)
	var total atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			k, err := h.eng.Tick(h.ctx)
			if err != nil {
				t.Error(err)
			}
			total.Add(int64(k))
		})
	}
	wg.Wait()
	require.EqualValues(t, n, total.Load())
	st, err := h.eng.Stats(h.ctx, "ct")
	require.NoError(t, err)
	require.EqualValues(t, n, st["t"].Entered)
	_, ok, err := h.eng.NextDue(h.ctx)
	require.NoError(t, err)
	require.False(t, ok)
}

// Entering and leaving a flow are Product events in the person's history,
// named by the participant, so that a host can tell whose they are.
func TestProductEventsNameTheParticipant(t *testing.T) {
	h := newHarness(t, flow.Config{})
	h.publish(t, flow.New("f", "F").Add("a", tag("x"), nil))
	who := store.PersonRef{ExternalID: "p1"}
	id, err := h.eng.Enter(h.ctx, "f", who, nil)
	require.NoError(t, err)
	evs, err := h.eng.Events(h.ctx, who, store.EventQuery{Category: store.Product})
	require.NoError(t, err)
	var got []string
	for _, ev := range evs {
		got = append(got, ev.Name+" "+ev.ID)
	}
	require.Equal(t, []string{store.EnteredFlow + " " + id.String() + ":entered", store.ExitedFlow + " " + id.String() + ":exited"}, got)
}

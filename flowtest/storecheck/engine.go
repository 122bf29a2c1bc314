package storecheck

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/flowtest"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/storetest"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// Backend builds stores for Run.
type Backend struct {
	// New returns a fresh, empty store.
	New func(t *testing.T) store.Store
	// Processes returns n stores over one fresh, empty backend, standing
	// for n host processes (for the memory store, one store n times).
	// Without it, the scenarios of several processes are skipped.
	Processes func(t *testing.T, n int) []store.Store
	// Features declares the optional interfaces the stores implement, as
	// for storetest.Run: a scenario that needs one fails when it is
	// undeclared or declared unlike the store, and is skipped with the
	// declared reason when the store lacks it.
	Features storetest.Features
}

// Run runs the engine's scenarios on a store: the contract as the
// engine relies on it, end to end. A store that passes storetest.Run and
// Run works with the engine.
func Run(t *testing.T, b Backend) {
	t.Helper()
	for _, tc := range append([]struct {
		name string
		run  func(*testing.T, Backend)
	}{
		{"Journey", testEngineJourney},
		{"TwoProcessesTick", testEngineTwoProcessesTick},
		{"DeployAtStartUp", testEngineDeployAtStartUp},
		{"RollingDeploy", testEngineRollingDeploy},
		{"BulkCancel", testEngineBulkCancel},
		{"BulkRetry", testEngineBulkRetry},
		{"BulkResumed", testEngineBulkResumed},
		{"InFlight", testEngineInFlight},
		{"EraseInFlight", testEngineEraseInFlight},
		{"DiesMidEffect", testEngineDiesMidEffect},
		{"LeaseTakenOver", testEngineLeaseTakenOver},
		{"AudienceEntry", testEngineAudienceEntry},
		{"ScheduledAudience", testEngineScheduledAudience},
		{"DateEntry", testEngineDateEntry},
		{"WhenMatching", testEngineWhenMatching},
		{"PeopleByReference", testEnginePeopleByReference},
		{"NewPersonRace", testEngineNewPersonRace},
		{"TickAfterAnotherProcessPublished", testEngineTickAfterAnotherProcessPublished},
	}, slices.Concat(journeyTests, lateTests, sendTests, scheduleTests, phoneTests, templateTests, outcomeTests, actionTests)...) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, b)
		})
	}
}

// engineStart is a time with nanoseconds, which a store keeping
// microseconds alone would lose.
var engineStart = time.Date(2026, 1, 5, 10, 0, 0, 123456789, time.UTC)

// welcome tags a person, pauses two days, computes a score into their
// profile and exits.
func welcome() *flow.Flow {
	return flow.New("welcome", "Welcome").In("Europe/Zagreb").Var("n", store.Number, 1).
		Add("tag", &kinds.AddTag{Tag: "new"}, flow.Next{"next": "pause"}).
		Add("pause", &kinds.Pause{Mode: kinds.PauseFor, Period: segment.Period{Amount: 2, Unit: segment.Days}}, flow.Next{"next": "calc"}).
		Add("calc", &kinds.UpdateVariable{Set: []*kinds.Assignment{{Variable: "n", Formula: "n * 10 + 2"}}}, flow.Next{"next": "prof"}).
		Add("prof", &kinds.UpdateProfile{Set: []*kinds.Assignment{{Attribute: "score", Value: "{{n}}"}}}, flow.Next{"next": "done"}).
		Add("done", &kinds.Exit{}, nil)
}

// processes returns n stores over one backend, standing for n host
// processes, or skips the test when the backend cannot be shared.
func processes(t *testing.T, b Backend, n int) []store.Store {
	t.Helper()
	if b.Processes == nil {
		t.Skip("the backend declares no Processes: the store cannot be shared by several processes")
	}
	return b.Processes(t, n)
}

func newEngine(t *testing.T, s store.Store, clk clock.Clock, cfg flow.Config) *flow.Engine {
	t.Helper()
	cfg.Store, cfg.Clock, cfg.Schema = s, clk, store.Schema{"score": store.Number}
	eng, err := flow.NewEngine(cfg)
	require.NoError(t, err)
	return eng
}

func activate(t *testing.T, eng *flow.Engine, f *flow.Flow) {
	t.Helper()
	_, err := eng.Publish(t.Context(), f)
	require.NoError(t, err)
	require.NoError(t, eng.Activate(t.Context(), f.ID))
}

// People enter, wait two days of fake time to the nanosecond and
// complete, with their profiles updated; a redelivered event is a no-op.
func testEngineJourney(t *testing.T, b Backend) {
	s := b.New(t)
	ctx := t.Context()
	clk := clock.NewFake(engineStart)
	eng := newEngine(t, s, clk, flow.Config{})
	activate(t, eng, welcome())

	const people = 20
	ids := make([]uuid.UUID, people)
	for i := range ids {
		var err error
		ids[i], err = eng.Enter(ctx, "welcome", store.PersonRef{ExternalID: fmt.Sprint("person-", i)}, map[string]any{"n": float64(i)})
		require.NoError(t, err)
		clk.Advance(time.Minute + time.Nanosecond)
	}
	for _, id := range ids {
		p, err := eng.Participant(ctx, id)
		require.NoError(t, err)
		require.Equal(t, store.Waiting, p.Status)
	}
	next, ok, err := eng.NextDue(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, engineStart.Add(48*time.Hour), next.UTC(), "the first timer, to the nanosecond")

	fired, err := flowtest.AdvanceTo(ctx, eng, clk, engineStart.Add(72*time.Hour))
	require.NoError(t, err)
	require.Equal(t, people, fired)
	for i, id := range ids {
		p, err := eng.Participant(ctx, id)
		require.NoError(t, err)
		require.Equal(t, store.Completed, p.Status, "%+v", p.Journal)
		require.Nil(t, p.Wait)
		person, err := eng.Person(ctx, store.PersonRef{ExternalID: fmt.Sprint("person-", i)})
		require.NoError(t, err)
		require.Equal(t, float64(i*10+2), person.Attributes["score"])
		require.Equal(t, []string{"new"}, person.Tags)
	}
	_, ok, err = eng.NextDue(ctx)
	require.NoError(t, err)
	require.False(t, ok, "no timer is left")
	stats, err := eng.Stats(ctx, "welcome")
	require.NoError(t, err)
	require.Equal(t, int64(people), stats["pause"].Entered)
	require.Equal(t, int64(0), stats["pause"].Waiting)
	require.Equal(t, int64(people), stats["done"].Entered)

	ev := &store.Event{ID: "order-1", Person: store.PersonRef{ExternalID: "person-0"}, Category: store.External, Name: "Ordered", Time: clk.Now()}
	require.NoError(t, eng.Deliver(ctx, ev))
	require.NoError(t, eng.Deliver(ctx, ev))
	evs, err := eng.Events(ctx, store.PersonRef{ExternalID: "person-0"}, store.EventQuery{Name: "Ordered"})
	require.NoError(t, err)
	require.Len(t, evs, 1, "a redelivered event is kept once")
}

// Two processes enter people and tick at once: every timer fires exactly
// once. Each ticks until all have fired: a store whose processes own
// shares of the timers (see store.TimerClaimer) may hand some over from
// one to the other between ticks.
func testEngineTwoProcessesTick(t *testing.T, b Backend) {
	ctx := t.Context()
	clk := clock.NewFake(engineStart)
	var engines []*flow.Engine
	for _, s := range processes(t, b, 2) {
		engines = append(engines, newEngine(t, s, clk, flow.Config{}))
	}
	_, err := engines[0].Publish(ctx, welcome())
	require.NoError(t, err)
	require.NoError(t, engines[1].Activate(ctx, "welcome"))

	const people = 60
	ids := make([]uuid.UUID, people)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			var err error
			ids[i], err = engines[i%2].Enter(ctx, "welcome", store.PersonRef{Email: fmt.Sprintf("p%d@example.com", i)}, nil)
			require.NoError(t, err)
		})
	}
	wg.Wait()

	clk.Set(engineStart.Add(72 * time.Hour))
	fired := make([]int, 4)
	var total atomic.Int64
	deadline := time.Now().Add(30 * time.Second)
	for i := range fired {
		wg.Go(func() {
			for total.Load() < people && time.Now().Before(deadline) {
				n, err := engines[i%2].Tick(ctx)
				require.NoError(t, err)
				fired[i] += n
				total.Add(int64(n))
				if n == 0 {
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	require.Equal(t, people, fired[0]+fired[1]+fired[2]+fired[3], "fired per ticker: %v", fired)
	for _, id := range ids {
		p, err := engines[1].Participant(ctx, id)
		require.NoError(t, err)
		require.Equal(t, store.Completed, p.Status)
	}
	stats, err := engines[0].Stats(ctx, "welcome")
	require.NoError(t, err)
	require.Equal(t, int64(people), stats["calc"].Entered, "each participant left the pause once")
	require.Equal(t, int64(people), stats["done"].Entered)
}

// Eight goroutines over two processes deploy the same flow at start-up,
// twice over: it is published and activated once, and a changed flow
// deployed the same way is published once more.
func testEngineDeployAtStartUp(t *testing.T, b Backend) {
	ctx := t.Context()
	clk := clock.NewFake(engineStart)
	var engines []*flow.Engine
	for _, s := range processes(t, b, 2) {
		engines = append(engines, newEngine(t, s, clk, flow.Config{}))
	}
	deployAll := func(f func() *flow.Flow) (versions []int, published int) {
		versions = make([]int, 8)
		var n atomic.Int32
		var wg sync.WaitGroup
		for i := range versions {
			wg.Go(func() {
				v, changed, err := engines[i%2].Deploy(ctx, f())
				require.NoError(t, err)
				versions[i] = v
				if changed {
					n.Add(1)
				}
			})
		}
		wg.Wait()
		return versions, int(n.Load())
	}
	for round := range 2 {
		versions, published := deployAll(welcome)
		require.Equal(t, []int{1, 1, 1, 1, 1, 1, 1, 1}, versions, "round %d", round)
		want := 1
		if round > 0 {
			want = 0
		}
		require.Equal(t, want, published, "round %d: publishes", round)
	}
	changed := func() *flow.Flow {
		f := welcome()
		f.Elements[0].Element = &kinds.AddTag{Tag: "changed"}
		return f
	}
	versions, published := deployAll(changed)
	require.Equal(t, []int{2, 2, 2, 2, 2, 2, 2, 2}, versions)
	require.Equal(t, 1, published)
	info, err := engines[1].Flow(ctx, "welcome")
	require.NoError(t, err)
	require.Equal(t, store.FlowActive, info.Status)
	require.Equal(t, 2, info.Flow.Version)
	vs, err := engines[0].Versions(ctx, "welcome")
	require.NoError(t, err)
	require.Len(t, vs, 2)
}

// api is an HTTP endpoint that records each call's idempotency key and can
// hold calls until released.
type api struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []string
	paths   []string
	arrived chan struct{}
	release chan struct{}
}

func newAPI(t *testing.T, hold bool) *api {
	a := &api{arrived: make(chan struct{}, 16)}
	if hold {
		a.release = make(chan struct{})
	}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.keys = append(a.keys, r.Header.Get("Idempotency-Key"))
		a.paths = append(a.paths, r.URL.Path)
		a.mu.Unlock()
		select {
		case a.arrived <- struct{}{}:
		default: // nobody counts arrivals
		}
		if a.release != nil {
			select {
			case <-a.release:
			case <-r.Context().Done():
			}
		}
	}))
	t.Cleanup(a.Close)
	return a
}

// lastPath returns the path of the last call.
func (a *api) lastPath() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.paths[len(a.paths)-1]
}

func (a *api) calls() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.keys...)
}

// hook calls the API, then waits up to a day for a click, counting it.
func hook(url string) *flow.Flow {
	return flow.New("hook", "Hook").Var("n", store.Number, 0).
		Add("call", &kinds.CallAPI{URL: url, Method: "POST"},
			flow.Next{"2xx": "wait", "other": "wait"}).
		Add("wait", &kinds.WaitForEvent{Event: segment.EventSpec{Category: store.External, Name: "Clicked"}, WaitFor: segment.Period{Amount: 1, Unit: segment.Days}},
			flow.Next{"occurred": "count", "timeout": "done"}).
		Add("count", &kinds.UpdateVariable{Set: []*kinds.Assignment{{Variable: "n", Formula: "n + 1"}}}, flow.Next{"next": "done"}).
		Add("done", &kinds.Exit{}, nil)
}

func only(t *testing.T, eng *flow.Engine, flowID string) *store.Participant {
	t.Helper()
	ps, err := eng.Participants(t.Context(), store.ParticipantQuery{FlowID: flowID})
	require.NoError(t, err)
	require.Len(t, ps, 1)
	return ps[0]
}

// A call in flight holds no transaction: the participant shows as in
// flight (in the statistics too), an event for it is kept, and it is
// handed over once the result commits.
func testEngineInFlight(t *testing.T, b Backend) {
	ctx := t.Context()
	s := b.New(t)
	clk := clock.NewFake(engineStart)
	a := newAPI(t, true)
	eng := newEngine(t, s, clk, flow.Config{})
	activate(t, eng, hook(a.URL))

	ana := store.PersonRef{ExternalID: "ana"}
	done := make(chan error, 1)
	go func() {
		_, err := eng.Enter(ctx, "hook", ana, nil)
		done <- err
	}()
	select {
	case <-a.arrived:
	case err := <-done:
		t.Fatalf("entered without calling: %v", err)
	}
	p := only(t, eng, "hook")
	require.Equal(t, store.InFlight, p.Status)
	require.NotNil(t, p.Effect)
	stats, err := eng.Stats(ctx, "hook")
	require.NoError(t, err)
	require.Equal(t, int64(1), stats["call"].InFlight)
	// Another step of the same person commits meanwhile: the person is
	// not locked by the call.
	_, err = eng.UpdatePerson(ctx, ana, func(p *store.Person) error { p.FirstName = "Ana"; return nil })
	require.NoError(t, err)
	require.NoError(t, eng.Deliver(ctx, &store.Event{ID: "c1", Person: ana, Category: store.External, Name: "Clicked"}))

	close(a.release)
	require.NoError(t, <-done)
	p = only(t, eng, "hook")
	require.Equal(t, store.Completed, p.Status, "%+v", p.Journal)
	require.Equal(t, 1.0, p.Vars["n"], "the click held during the call counted once")
	stats, err = eng.Stats(ctx, "hook")
	require.NoError(t, err)
	require.Zero(t, stats["call"].InFlight)
	require.Zero(t, stats["wait"].Waiting)
	person, err := eng.Person(ctx, ana)
	require.NoError(t, err)
	require.Equal(t, "Ana", person.FirstName, "the change made during the call stays")
}

// Erasing a person whose participant is in flight takes it out of the
// in-flight count, as it takes their waiting participants out of the
// waiting count; the call's result, when it comes, finds nobody: it
// counts nothing and brings nobody back, and no lease is left to call
// again.
func testEngineEraseInFlight(t *testing.T, b Backend) {
	ctx := t.Context()
	s := b.New(t)
	if _, ok := s.(store.Eraser); !ok {
		t.Skip("the store does not implement store.Eraser")
	}
	clk := clock.NewFake(engineStart)
	a := newAPI(t, true)
	eng := newEngine(t, s, clk, flow.Config{})
	activate(t, eng, hook(a.URL))
	orders, err := flow.Parse([]byte(orderFlow))
	require.NoError(t, err)
	activate(t, eng, orders)

	ana := store.PersonRef{ExternalID: "ana"}
	waiting, err := eng.Enter(ctx, "orders", ana, nil)
	require.NoError(t, err)
	type result struct {
		id  uuid.UUID
		err error
	}
	done := make(chan result, 1)
	go func() {
		id, err := eng.Enter(ctx, "hook", ana, nil)
		done <- result{id, err}
	}()
	select {
	case <-a.arrived:
	case r := <-done:
		t.Fatalf("entered without calling: %v", r.err)
	}
	gauges := func() (inFlight, waiting int64) {
		return stats(t, eng, "hook")["call"].InFlight, stats(t, eng, "orders")["wait"].Waiting
	}
	inFlight, nWaiting := gauges()
	require.Equal(t, [2]int64{1, 1}, [2]int64{inFlight, nWaiting}, "in flight at call, waiting at wait")

	require.NoError(t, eng.Erase(ctx, ana))
	inFlight, nWaiting = gauges()
	require.Equal(t, [2]int64{0, 0}, [2]int64{inFlight, nWaiting}, "the erased person's participants are neither in flight nor waiting")
	_, err = eng.Participant(ctx, waiting)
	require.ErrorIs(t, err, store.ErrNotFound)

	close(a.release) // the call's result comes after the erasure
	r := <-done
	require.NoError(t, r.err)
	_, err = eng.Participant(ctx, r.id)
	require.ErrorIs(t, err, store.ErrNotFound, "the result brings the participant back")
	_, err = eng.Person(ctx, ana)
	require.ErrorIs(t, err, store.ErrNotFound, "the result brings the person back")
	require.Empty(t, participantsOf(t, eng, "hook"))
	st := stats(t, eng, "hook")
	require.Zero(t, st["call"].InFlight, "the result is not counted again")
	require.Nil(t, st["wait"], "the result moves nobody on")
	_, ok, err := eng.NextDue(ctx)
	require.NoError(t, err)
	require.False(t, ok, "no lease or wait of the erased person is left")
	_, err = flowtest.Advance(ctx, eng, clk, 10*time.Minute) // past the call's lease
	require.NoError(t, err)
	require.Len(t, a.calls(), 1, "nobody calls again")
}

// dyingStore fails the commit of the next result of a step in flight, as a
// process dying between its call and its result would leave it.
type dyingStore struct {
	store.Store
	die atomic.Int32
}

func (d *dyingStore) Update(ctx context.Context, id uuid.UUID, fn func(store.Tx) error) error {
	return d.Store.Update(ctx, id, func(tx store.Tx) error { return fn(dyingTx{tx, d}) })
}

type dyingTx struct {
	store.Tx
	d *dyingStore
}

func (t dyingTx) PutParticipant(p *store.Participant) error {
	if p.Status != store.InFlight && p.Effect == nil && t.d.die.Load() > 0 {
		ps, _ := t.Tx.Participants()
		for _, q := range ps {
			if q.ID == p.ID && q.Status == store.InFlight && t.d.die.Add(-1) >= 0 {
				return errors.New("the process died before the call's result committed")
			}
		}
	}
	return t.Tx.PutParticipant(p)
}

// A process that dies between the call and its result leaves the
// participant in flight; after the lease a tick calls again with the same
// idempotency key, and the participant moves on once.
func testEngineDiesMidEffect(t *testing.T, b Backend) {
	ctx := t.Context()
	d := &dyingStore{Store: b.New(t)}
	clk := clock.NewFake(engineStart)
	a := newAPI(t, false)
	eng := newEngine(t, d, clk, flow.Config{EffectLease: time.Minute})
	activate(t, eng, hook(a.URL))

	d.die.Store(1)
	_, err := eng.Enter(ctx, "hook", store.PersonRef{ExternalID: "bo"}, nil)
	require.ErrorContains(t, err, "died")
	require.Equal(t, store.InFlight, only(t, eng, "hook").Status)

	n, err := flowtest.Advance(ctx, eng, clk, 30*time.Second)
	require.NoError(t, err)
	require.Zero(t, n, "nothing is due within the lease")
	n, err = flowtest.Advance(ctx, eng, clk, time.Minute)
	require.NoError(t, err)
	require.Equal(t, 1, n, "the lease ended: the step runs again")

	p := only(t, eng, "hook")
	require.Equal(t, store.Waiting, p.Status, "%+v", p.Journal)
	require.Equal(t, "wait", p.Element)
	keys := a.calls()
	require.Len(t, keys, 2)
	require.Equal(t, keys[0], keys[1], "the retry carries the same idempotency key")
	require.NotEmpty(t, keys[0])
	stats, err := eng.Stats(ctx, "hook")
	require.NoError(t, err)
	require.Zero(t, stats["call"].InFlight)
	require.Equal(t, int64(1), stats["call"].Left["2xx"], "the step moved on once")
	require.Equal(t, int64(1), stats["wait"].Waiting)
}

// A call that outlives its lease is taken over by another process; the
// late result of the first is dropped, and one result commits.
func testEngineLeaseTakenOver(t *testing.T, b Backend) {
	ctx := t.Context()
	stores := processes(t, b, 2)
	clk := clock.NewFake(engineStart)
	a := newAPI(t, true)
	first := newEngine(t, stores[0], clk, flow.Config{EffectLease: time.Minute})
	second := newEngine(t, stores[1], clk, flow.Config{EffectLease: time.Minute})
	activate(t, first, hook(a.URL))

	done := make(chan error, 1)
	go func() {
		_, err := first.Enter(ctx, "hook", store.PersonRef{ExternalID: "cy"}, nil)
		done <- err
	}()
	<-a.arrived // the first process calls, and hangs past its lease
	clk.Advance(2 * time.Minute)
	ticked := make(chan error, 1)
	go func() {
		_, err := second.Tick(ctx)
		ticked <- err
	}()
	<-a.arrived // the second process calls too
	a.release <- struct{}{}
	a.release <- struct{}{}
	require.NoError(t, <-done)
	require.NoError(t, <-ticked)

	p := only(t, second, "hook")
	require.Equal(t, store.Waiting, p.Status, "%+v", p.Journal)
	keys := a.calls()
	require.Len(t, keys, 2)
	require.Equal(t, keys[0], keys[1])
	stats, err := second.Stats(ctx, "hook")
	require.NoError(t, err)
	require.Equal(t, int64(1), stats["call"].Left["2xx"], "one result committed")
	require.Equal(t, int64(1), stats["wait"].Entered)
	require.Zero(t, stats["call"].InFlight)
}

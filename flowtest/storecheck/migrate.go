package storecheck

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// RunMigration runs the live-migration scenarios on the stores newStore
// makes (a fresh, empty one each): people participants of a flow's
// version 1, each waiting two days for an event or held at an element
// version 2 lacks, are migrated to version 2, which waits three days,
// while other goroutines deliver events and tick; and a dry run on a
// quiet flow reports what the migration then does.
func RunMigration(t *testing.T, newStore func(*testing.T) store.Store, people int) {
	t.Helper()
	t.Run("WhileEventsAndTicksRun", func(t *testing.T) {
		t.Parallel()
		testMigrationLive(t, newStore(t), people)
	})
	t.Run("DryRunMatches", func(t *testing.T) {
		t.Parallel()
		testMigrationDryRun(t, newStore(t))
	})
}

// migrationV1 sends people whose external id starts with "hold-" to a
// 30-day pause, and the others to a two-day wait for a Poke.
func migrationV1(id string) *flow.Flow {
	return flow.New(id, "Migrated").In("Europe/Zagreb").
		Add("route", &kinds.SegmentAudience{Segments: []kinds.NamedSegment{
			{Name: "held", Condition: segment.Attr(store.AttrExternalID, segment.StartsWith, "hold-")},
		}}, flow.Next{"held": "hold", "other": "wait"}).
		Add("wait", &kinds.WaitForEvent{Event: segment.EventSpec{Category: store.External, Name: "Poke"},
			WaitFor: segment.Period{Amount: 2, Unit: segment.Days}}, flow.Next{"occurred": "done", "timeout": "done"}).
		Add("hold", &kinds.Pause{Mode: kinds.PauseFor, Period: segment.Period{Amount: 30, Unit: segment.Days}}, flow.Next{"next": "done"}).
		Add("done", &kinds.Exit{}, nil)
}

// migrationV2 waits three days for a Poke at "wait-2", and has no "hold".
func migrationV2(id string) *flow.Flow {
	return flow.New(id, "Migrated").In("Europe/Zagreb").
		Add("route", &kinds.SegmentAudience{Segments: []kinds.NamedSegment{
			{Name: "held", Condition: segment.Attr(store.AttrExternalID, segment.StartsWith, "hold-")},
		}}, flow.Next{"held": "wait-2", "other": "wait-2"}).
		Add("wait-2", &kinds.WaitForEvent{Event: segment.EventSpec{Category: store.External, Name: "Poke"},
			WaitFor: segment.Period{Amount: 3, Unit: segment.Days}}, flow.Next{"occurred": "done", "timeout": "done"}).
		Add("done", &kinds.Exit{}, nil)
}

// enterMigrants enters n people into the flow, one in ten at "hold", a
// batch of 100 a minute apart from the next, by four goroutines. It
// returns each participant's arrival at its element by id.
func enterMigrants(t *testing.T, eng *flow.Engine, clk *clock.Fake, flowID string, n int) map[uuid.UUID]time.Time {
	t.Helper()
	ctx := t.Context()
	const batch, workers = 100, 4
	for from := 0; from < n; from += batch {
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				for i := from + w; i < min(from+batch, n); i += workers {
					ext := fmt.Sprint("p-", i)
					if i%10 == 0 {
						ext = fmt.Sprint("hold-", i)
					}
					if _, err := eng.Enter(ctx, flowID, store.PersonRef{ExternalID: ext}, nil); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		require.NoError(t, <-errs)
		clk.Advance(time.Minute)
	}
	ps, err := eng.Participants(ctx, store.ParticipantQuery{FlowID: flowID})
	require.NoError(t, err)
	require.Len(t, ps, n)
	arrived := make(map[uuid.UUID]time.Time, n)
	for _, p := range ps {
		require.Equal(t, store.Waiting, p.Status)
		arrived[p.ID] = p.ArrivedAt
	}
	return arrived
}

// The migration races events and ticks for every participant: each ends
// moved once or refused, none is lost, and the moved keep their arrival
// times with waits of three days from them.
func testMigrationLive(t *testing.T, s store.Store, people int) {
	ctx := t.Context()
	clk := clock.NewFake(engineStart)
	eng := newEngine(t, s, clk, flow.Config{})
	activate(t, eng, migrationV1("live"))
	arrived := enterMigrants(t, eng, clk, "live", people)
	_, err := eng.Publish(ctx, migrationV2("live"))
	require.NoError(t, err)
	held := (people + 9) / 10

	m := flow.Migration{FlowID: "live", From: 1, To: 2, Map: map[string]string{"wait": "wait-2"}, MaxRows: 2 * people}
	dm := m
	dm.DryRun = true
	dry, err := eng.Migrate(ctx, dm)
	require.NoError(t, err)
	require.Equal(t, people-held, dry.Moved)
	require.Equal(t, held, dry.Refused)

	// Half of the two-day waits are due now; a tick fires them unless the
	// migration, which would make them three-day waits, comes first.
	clk.Set(engineStart.Add(48*time.Hour + time.Duration(people/200)*time.Minute))
	stop := make(chan struct{})
	var delivered, ticked atomic.Int64
	firstEvent := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		rnd := rand.New(rand.NewPCG(1, 2))
		// A Poke for one in five people, spread over the migration.
		for i := 0; i < people/5; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i > 0 {
				time.Sleep(20 * time.Microsecond)
			}
			who := rnd.IntN(people)
			ext := fmt.Sprint("p-", who)
			if who%10 == 0 {
				ext = fmt.Sprint("hold-", who) // held people ignore Pokes
			}
			err := eng.Deliver(ctx, &store.Event{ID: fmt.Sprint("poke-", i), Person: store.PersonRef{ExternalID: ext},
				Category: store.External, Name: "Poke"})
			if err != nil {
				t.Errorf("deliver: %v", err)
				return
			}
			if delivered.Add(1) == 1 {
				close(firstEvent)
			}
		}
	})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			n, err := eng.Tick(ctx)
			if err != nil {
				t.Errorf("tick: %v", err)
				return
			}
			ticked.Add(1)
			if n == 0 {
				time.Sleep(100 * time.Microsecond) // nothing due: let the others run
			}
		}
	})
	<-firstEvent
	rep, err := eng.Migrate(ctx, m)
	close(stop)
	wg.Wait()
	require.NoError(t, err)
	require.Positive(t, ticked.Load())
	t.Logf("%d participants: %d moved, %d refused, %d skipped; %d events and %d ticks meanwhile",
		people, rep.Moved, rep.Refused, rep.Skipped, delivered.Load(), ticked.Load())

	require.Zero(t, rep.Exited)
	require.Equal(t, held, rep.Refused, "every held participant is refused")
	require.Equal(t, map[string]int{`element "hold" has no mapping to version 2`: held}, rep.Refusals)
	if rep.Moved > 0 {
		require.Equal(t, map[flow.MigrationMove]int{{From: "wait", To: "wait-2"}: rep.Moved}, rep.Moves)
	}
	require.False(t, rep.Truncated)
	rows := map[uuid.UUID]flow.MigrationRow{}
	for _, r := range rep.Rows {
		_, dup := rows[r.Participant]
		require.False(t, dup, "participant %s handled twice", r.Participant)
		rows[r.Participant] = r
	}
	require.Len(t, rows, rep.Moved+rep.Refused)
	// The dry run said the same of everyone the events and ticks left be.
	for _, d := range dry.Rows {
		if r, ok := rows[d.Participant]; ok {
			require.Equal(t, d, r)
		}
	}

	ps, err := eng.Participants(ctx, store.ParticipantQuery{FlowID: "live"})
	require.NoError(t, err)
	require.Len(t, ps, people, "no participant lost or added")
	byState := map[string]int{}
	const migrated = "migrated from version 1 element wait to version 2 element wait-2"
	for _, p := range ps {
		byState[fmt.Sprintf("v%d %s %s", p.FlowVersion, p.Status, p.Element)]++
		require.True(t, p.ArrivedAt.Equal(arrived[p.ID]) || p.Status == store.Completed, "participant %s arrival moved", p.ID)
		moves := 0
		for _, st := range p.Journal {
			if st.Reason == migrated {
				moves++
			}
		}
		r, handled := rows[p.ID]
		switch {
		case handled && r.Outcome == flow.MigrationMoved:
			require.Equal(t, 2, p.FlowVersion)
			require.Equal(t, 1, moves, "participant %s journals its move once", p.ID)
			if p.Status == store.Waiting {
				require.Equal(t, "wait-2", p.Element)
				want := arrived[p.ID].Add(72 * time.Hour) // three days in January's Zagreb
				require.True(t, p.Wait.Until.Equal(want), "participant %s waits until %s, want %s", p.ID, p.Wait.Until, want)
				require.True(t, p.Wait.Deadline.Equal(want))
			} else {
				require.Equal(t, store.Completed, p.Status) // a Poke after its move
				require.Equal(t, "done", p.Element)
			}
		case handled:
			require.Equal(t, flow.MigrationRefused, r.Outcome)
			require.Equal(t, 1, p.FlowVersion)
			require.Equal(t, store.Waiting, p.Status)
			require.Equal(t, "hold", p.Element)
			require.Zero(t, moves)
		default: // a Poke or its timer came first
			require.Equal(t, 1, p.FlowVersion)
			require.Equal(t, store.Completed, p.Status, "participant %s neither moved nor refused", p.ID)
			require.Zero(t, moves)
		}
	}
	t.Logf("by version, status and element: %v", byState)
	require.Equal(t, held, byState["v1 waiting hold"])
	require.Equal(t, rep.Moved, byState["v2 waiting wait-2"]+byState["v2 completed done"])
	require.Equal(t, people-held-rep.Moved, byState["v1 completed done"])

	// The statistics moved along.
	v1, err := eng.VersionStats(ctx, "live", 1)
	require.NoError(t, err)
	v2, err := eng.VersionStats(ctx, "live", 2)
	require.NoError(t, err)
	stats := func(reps []flow.ElementReport, id string) flow.ElementStats {
		for _, r := range reps {
			if r.ID == id {
				return r.ElementStats
			}
		}
		t.Fatalf("no element %q", id)
		return flow.ElementStats{}
	}
	require.Zero(t, stats(v1, "wait").Waiting)
	require.EqualValues(t, rep.Moved, stats(v1, "wait").Other["migratedOut"])
	require.EqualValues(t, held, stats(v1, "hold").Waiting)
	require.EqualValues(t, rep.Moved, stats(v2, "wait-2").Entered)
	require.EqualValues(t, rep.Moved, stats(v2, "wait-2").Other["migratedIn"])
	require.EqualValues(t, byState["v2 waiting wait-2"], stats(v2, "wait-2").Waiting)

	// Migrating again moves no one twice.
	again, err := eng.Migrate(ctx, m)
	require.NoError(t, err)
	require.Zero(t, again.Moved)
	require.Equal(t, held, again.Refused)

	// The moved waits fire three days after arrival.
	last := arrived[ps[len(ps)-1].ID]
	clk.Set(last.Add(72*time.Hour - time.Nanosecond))
	_, err = eng.Tick(ctx)
	require.NoError(t, err)
	ps, err = eng.Participants(ctx, store.ParticipantQuery{FlowID: "live", Statuses: []store.Status{store.Waiting}})
	require.NoError(t, err)
	for _, p := range ps {
		if p.FlowVersion == 2 {
			require.True(t, p.ArrivedAt.Equal(last), "participant %s arrived at %s and still waits at %s", p.ID, p.ArrivedAt, clk.Now())
		}
	}
}

// A dry run reports what the migration then does, participant by
// participant, exits included, and changes nothing.
func testMigrationDryRun(t *testing.T, s store.Store) {
	ctx := t.Context()
	clk := clock.NewFake(engineStart)
	eng := newEngine(t, s, clk, flow.Config{})
	activate(t, eng, migrationV1("quiet"))
	arrived := enterMigrants(t, eng, clk, "quiet", 60)
	_, err := eng.Publish(ctx, migrationV2("quiet"))
	require.NoError(t, err)
	before, err := eng.Participants(ctx, store.ParticipantQuery{FlowID: "quiet"})
	require.NoError(t, err)

	m := flow.Migration{FlowID: "quiet", From: 1, To: 2, Map: map[string]string{"wait": "wait-2"}, ExitUnmapped: true, DryRun: true}
	dry, err := eng.Migrate(ctx, m)
	require.NoError(t, err)
	require.True(t, dry.DryRun)
	after, err := eng.Participants(ctx, store.ParticipantQuery{FlowID: "quiet"})
	require.NoError(t, err)
	require.Equal(t, before, after, "a dry run changes nothing")

	m.DryRun = false
	real, err := eng.Migrate(ctx, m)
	require.NoError(t, err)
	dry.DryRun = false
	require.Equal(t, dry, real)
	require.Equal(t, 54, real.Moved)
	require.Equal(t, 6, real.Exited)
	require.Equal(t, map[string]int{"hold": 6}, real.Exits)
	for _, r := range real.Rows {
		p, err := eng.Participant(ctx, r.Participant)
		require.NoError(t, err)
		require.True(t, p.ArrivedAt.Equal(arrived[p.ID]))
		if r.Outcome == flow.MigrationExited {
			require.Equal(t, store.Completed, p.Status)
			require.Equal(t, `migration to version 2: element "hold" has no mapping to version 2: left the flow`, p.Reason)
		}
	}
}

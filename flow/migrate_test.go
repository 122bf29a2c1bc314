package flow_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/flowtest"
	"github.com/flowkit/flowkit/flowtest/storecheck"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// The live-migration scenarios on the memory store, with 10,000 waiting
// participants (2,000 with -short).
func TestMigrationScenarios(t *testing.T) {
	people := 10_000
	if testing.Short() {
		people = 2_000
	}
	storecheck.RunMigration(t, func(*testing.T) store.Store { return memory.New() }, people)
}

// waitFlow waits for a Poke at "wait" (named by id), then exits.
func waitFlow(wait element.Element) *flow.Flow {
	next := flow.Next{"occurred": "done", "timeout": "done"}
	if _, ok := wait.(*kinds.Pause); ok {
		next = flow.Next{"next": "done"}
	}
	return flow.New("m", "Migrated").Add("wait", wait, next).Add("done", &kinds.Exit{}, nil)
}

func waitPoke(days int) *kinds.WaitForEvent {
	return &kinds.WaitForEvent{Event: segment.EventSpec{Category: store.External, Name: "Poke"},
		WaitFor: segment.Period{Amount: days, Unit: segment.Days}}
}

// enterAll enters n people a minute apart and returns their participants.
func (h *harness) enterAll(t *testing.T, flowID string, n int) []uuid.UUID {
	t.Helper()
	ids := make([]uuid.UUID, n)
	for i := range ids {
		var err error
		ids[i], err = h.eng.Enter(h.ctx, flowID, store.PersonRef{ExternalID: fmt.Sprint("p", i)}, nil)
		require.NoError(t, err)
		h.clk.Advance(time.Minute)
	}
	return ids
}

// Bad migrations are refused before anyone moves, each problem naming
// its field.
func TestMigrateRefusesBadInput(t *testing.T) {
	h := newHarness(t, flow.Config{})
	h.publish(t, waitFlow(waitPoke(2)))
	ids := h.enterAll(t, "m", 3)
	_, err := h.eng.Publish(h.ctx, flow.New("m", "Migrated").
		Add("wait-2", waitPoke(3), flow.Next{"occurred": "done", "timeout": "done"}).
		Add("done", &kinds.Exit{}, nil))
	require.NoError(t, err)

	for _, tc := range []struct {
		name string
		m    flow.Migration
		want []string
	}{
		{"no flow", flow.Migration{From: 1, To: 2}, []string{"migration: FlowID: flow id is missing"}},
		{"no versions", flow.Migration{FlowID: "m"}, []string{
			"migration: From: version 0 is not a version number: versions count from 1",
			"migration: To: version 0 is not a version number: versions count from 1"}},
		{"same version", flow.Migration{FlowID: "m", From: 2, To: 2}, []string{"migration: To: version 2 is the version migrated from"}},
		{"unknown flow", flow.Migration{FlowID: "n", From: 1, To: 2}, []string{`migration: FlowID: flow "n" does not exist: not found`}},
		{"unpublished", flow.Migration{FlowID: "m", From: 1, To: 3}, []string{`migration: To: flow "m" has no version 3: its latest is 2: not found`}},
		{"missing in To", flow.Migration{FlowID: "m", From: 1, To: 2, Map: map[string]string{"wait": "wiat"}},
			[]string{`migration: Map["wait"]: element "wiat" is not in version 2`}},
		{"missing in From", flow.Migration{FlowID: "m", From: 1, To: 2, Map: map[string]string{"wiat": "wait-2"}},
			[]string{`migration: Map["wiat"]: element "wiat" is not in version 1: did you mean "wait"?`}},
		{"not a wait", flow.Migration{FlowID: "m", From: 1, To: 2, Map: map[string]string{"wait": "done", "done": "wait-3"}}, []string{
			`migration: Map["done"]: element "wait-3" is not in version 2: did you mean "wait-2"?`,
			`migration: Map["wait"]: element "done" of version 2 is exit, which cannot hold the participants waiting at waitForEvent "wait"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := h.eng.Migrate(h.ctx, tc.m)
			require.Error(t, err)
			require.Nil(t, rep)
			require.Equal(t, tc.want, strings.Split(err.Error(), "\n"))
			var me *flow.MigrationError
			require.ErrorAs(t, err, &me)
			require.True(t, strings.HasPrefix(tc.want[0], "migration: "+me.Field+": "), "field %q", me.Field)
		})
	}
	_, err = h.eng.Migrate(h.ctx, flow.Migration{FlowID: "m", From: 1, To: 7})
	require.ErrorIs(t, err, store.ErrNotFound)
	for _, id := range ids {
		p := h.participant(t, id)
		require.Equal(t, 1, p.FlowVersion, "a refused migration moves no one")
		require.Equal(t, "wait", p.Element)
	}
}

// A pause becomes a wait for an event: the participant waits under the
// new element's configuration, from its arrival, and the new wait's
// event wakes it.
func TestMigrateRearmsUnderTheNewKind(t *testing.T) {
	h := newHarness(t, flow.Config{})
	h.publish(t, waitFlow(pauseFor(2, segment.Days)))
	ids := h.enterAll(t, "m", 2)
	_, err := h.eng.Publish(h.ctx, waitFlow(waitPoke(3)))
	require.NoError(t, err)
	h.clk.Advance(47 * time.Hour)

	rep, err := h.eng.Migrate(h.ctx, flow.Migration{FlowID: "m", From: 1, To: 2})
	require.NoError(t, err)
	require.Equal(t, 2, rep.Moved)
	require.Equal(t, []flow.MigrationRow{
		{Participant: ids[0], Person: h.participant(t, ids[0]).PersonID, Outcome: flow.MigrationMoved, From: "wait", To: "wait"},
		{Participant: ids[1], Person: h.participant(t, ids[1]).PersonID, Outcome: flow.MigrationMoved, From: "wait", To: "wait"},
	}, rep.Rows)
	p := h.participant(t, ids[0])
	require.Equal(t, 2, p.FlowVersion)
	require.True(t, p.ArrivedAt.Equal(t0))
	require.True(t, p.Wait.Until.Equal(t0.Add(72*time.Hour)))
	require.Equal(t, []string{"Poke"}, p.Wait.Events)
	last := p.Journal[len(p.Journal)-1]
	require.Equal(t, "wait", last.Element)
	require.Equal(t, "migrated from version 1 element wait to version 2 element wait", last.Reason)

	// Past the two days of version 1: still waiting, and a Poke wakes it.
	_, err = flowtest.Advance(h.ctx, h.eng, h.clk, 2*time.Hour)
	require.NoError(t, err)
	require.Equal(t, store.Waiting, h.participant(t, ids[0]).Status)
	require.NoError(t, h.eng.Deliver(h.ctx, &store.Event{ID: "e1", Person: store.PersonRef{ExternalID: "p0"}, Category: store.External, Name: "Poke"}))
	p = h.participant(t, ids[0])
	require.Equal(t, store.Completed, p.Status)
	require.Equal(t, "done", p.Element)
	// The other one times out three days after its arrival.
	_, err = flowtest.AdvanceTo(h.ctx, h.eng, h.clk, t0.Add(72*time.Hour+time.Minute-time.Nanosecond))
	require.NoError(t, err)
	require.Equal(t, store.Waiting, h.participant(t, ids[1]).Status)
	_, err = flowtest.Advance(h.ctx, h.eng, h.clk, time.Nanosecond)
	require.NoError(t, err)
	require.Equal(t, store.Completed, h.participant(t, ids[1]).Status)
}

// Positions with no place in the new version are refused, or exited when
// the host asks; a wait the new element would not hold is refused.
func TestMigrateUnmappedAndUnwaiting(t *testing.T) {
	h := newHarness(t, flow.Config{})
	h.publish(t, waitFlow(waitPoke(2)))
	ids := h.enterAll(t, "m", 2)
	// Version 2 exits where version 1 waited.
	_, err := h.eng.Publish(h.ctx, flow.New("m", "Migrated").Add("wait", &kinds.Exit{}, nil))
	require.NoError(t, err)
	// Version 3 pauses until Monday: the participants arrived on one.
	_, err = h.eng.Publish(h.ctx, waitFlow(&kinds.Pause{Mode: kinds.PauseUntil, Weekday: "Monday"}))
	require.NoError(t, err)

	const notWait = `element "wait" of version 2 is exit, which cannot hold a waiting participant`
	rep, err := h.eng.Migrate(h.ctx, flow.Migration{FlowID: "m", From: 1, To: 2})
	require.NoError(t, err)
	require.Equal(t, 2, rep.Refused)
	require.Equal(t, map[string]int{notWait: 2}, rep.Refusals)

	rep, err = h.eng.Migrate(h.ctx, flow.Migration{FlowID: "m", From: 1, To: 3})
	require.NoError(t, err)
	require.Equal(t, map[string]int{`element "wait" of version 3 would not wait from the participant's arrival: pause already over: Monday`: 2}, rep.Refusals)

	rep, err = h.eng.Migrate(h.ctx, flow.Migration{FlowID: "m", From: 1, To: 2, ExitUnmapped: true, MaxRows: 1})
	require.NoError(t, err)
	require.Equal(t, 2, rep.Exited)
	require.Equal(t, map[string]int{"wait": 2}, rep.Exits)
	require.Len(t, rep.Rows, 1)
	require.True(t, rep.Truncated)
	require.Equal(t, flow.MigrationRow{Participant: ids[0], Person: rep.Rows[0].Person, Outcome: flow.MigrationExited, From: "wait", Reason: notWait}, rep.Rows[0])
	for _, id := range ids {
		p := h.participant(t, id)
		require.Equal(t, store.Completed, p.Status)
		require.Equal(t, 1, p.FlowVersion)
		require.Equal(t, "migration to version 2: "+notWait+": left the flow", p.Reason)
	}
	stats, err := h.eng.Stats(h.ctx, "m")
	require.NoError(t, err)
	require.Zero(t, stats["wait"].Waiting)
}

// A participant in a step that calls outside is refused; once its result
// is in, migrating again moves it.
func TestMigrateRefusesInFlight(t *testing.T) {
	ctx := t.Context()
	w := &watchedStore{Store: memory.New()}
	clk := clock.NewFake(t0)
	g := &gateSender{w: w, arrived: make(chan struct{}), release: make(chan struct{})}
	eng := effectEngine(t, w, clk, g)
	done := make(chan error, 1)
	go func() {
		_, err := eng.Enter(ctx, "fx", store.PersonRef{Email: "ana@example.com"}, nil)
		done <- err
	}()
	<-g.arrived
	_, err := eng.Publish(ctx, effectFlow())
	require.NoError(t, err)
	m := flow.Migration{FlowID: "fx", From: 1, To: 2}
	rep, err := eng.Migrate(ctx, m)
	require.NoError(t, err)
	require.Equal(t, map[string]int{"in flight": 1}, rep.Refusals)
	close(g.release)
	require.NoError(t, <-done)

	rep, err = eng.Migrate(ctx, m)
	require.NoError(t, err)
	require.Equal(t, map[flow.MigrationMove]int{{From: "wait", To: "wait"}: 1}, rep.Moves)
	ps, err := eng.Participants(ctx, store.ParticipantQuery{FlowID: "fx"})
	require.NoError(t, err)
	require.Equal(t, 2, ps[0].FlowVersion)
	require.True(t, ps[0].Wait.Until.Equal(t0.Add(24*time.Hour)))
}

// A wait parked while the flow is paused stays parked on the new version
// and fires once the flow resumes.
func TestMigrateKeepsParkedWaits(t *testing.T) {
	h := newHarness(t, flow.Config{})
	h.publish(t, waitFlow(pauseFor(2, segment.Days)))
	ids := h.enterAll(t, "m", 1)
	_, err := h.eng.Publish(h.ctx, waitFlow(pauseFor(3, segment.Days)))
	require.NoError(t, err)
	require.NoError(t, h.eng.Pause(h.ctx, "m"))
	h.clk.Set(t0.Add(73 * time.Hour))
	_, err = h.eng.Tick(h.ctx)
	require.NoError(t, err)
	require.True(t, h.participant(t, ids[0]).Wait.Parked)

	_, err = h.eng.Migrate(h.ctx, flow.Migration{FlowID: "m", From: 1, To: 2})
	require.NoError(t, err)
	p := h.participant(t, ids[0])
	require.True(t, p.Wait.Parked)
	require.True(t, p.Wait.Until.Equal(t0.Add(72*time.Hour)))
	n, err := h.eng.Tick(h.ctx)
	require.NoError(t, err)
	require.Zero(t, n)
	require.Equal(t, store.Waiting, h.participant(t, ids[0]).Status)

	require.NoError(t, h.eng.Resume(h.ctx, "m"))
	_, err = h.eng.Tick(h.ctx)
	require.NoError(t, err)
	p = h.participant(t, ids[0])
	require.Equal(t, store.Completed, p.Status)
	require.Equal(t, 2, p.FlowVersion)
}

// Migration throughput on the memory store: b.N waiting participants
// moved to a version that waits three days instead of two.
func BenchmarkMigrate(b *testing.B) {
	h := newHarness(b, flow.Config{})
	h.publish(b, waitFlow(waitPoke(2)))
	for i := range b.N {
		_, err := h.eng.Enter(h.ctx, "m", store.PersonRef{ExternalID: fmt.Sprint("p", i)}, nil)
		require.NoError(b, err)
	}
	_, err := h.eng.Publish(h.ctx, waitFlow(waitPoke(3)))
	require.NoError(b, err)
	b.ReportAllocs()
	b.ResetTimer()
	rep, err := h.eng.Migrate(h.ctx, flow.Migration{FlowID: "m", From: 1, To: 2})
	b.StopTimer()
	require.NoError(b, err)
	require.Equal(b, b.N, rep.Moved)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "participants/s")
}

// A send held by quiet hours waits for its turn to call outside: it is
// refused, also when the host asks to exit the unmapped, and sent when
// the quiet hours end.
func TestMigrateRefusesWaitsToCallOutside(t *testing.T) {
	ctx := t.Context()
	w := &watchedStore{Store: memory.New()}
	clk := clock.NewFake(time.Date(2026, 5, 4, 22, 0, 0, 0, time.UTC))
	g := &gateSender{w: w}
	eng, err := flow.NewEngine(flow.Config{Store: w, Clock: clk,
		ElementOptions: kinds.Options{SendMessage: kinds.SendMessageOptions{
			QuietHours: kinds.QuietHours{Start: kinds.At(21, 0), End: kinds.At(8, 0)}}}, Ports: flow.Ports{Sender: g}})
	require.NoError(t, err)
	_, err = eng.Publish(ctx, effectFlow())
	require.NoError(t, err)
	require.NoError(t, eng.Activate(ctx, "fx"))
	id, err := eng.Enter(ctx, "fx", store.PersonRef{Email: "ana@example.com"}, nil)
	require.NoError(t, err)
	p, err := eng.Participant(ctx, id)
	require.NoError(t, err)
	require.Equal(t, store.Waiting, p.Status)
	require.Equal(t, "send", p.Element)
	_, err = eng.Publish(ctx, flow.New("fx", "Effects").Add("wait", waitPoke(1), flow.Next{"occurred": "done", "timeout": "done"}).
		Add("done", &kinds.Exit{}, nil))
	require.NoError(t, err)

	rep, err := eng.Migrate(ctx, flow.Migration{FlowID: "fx", From: 1, To: 2, ExitUnmapped: true})
	require.NoError(t, err)
	require.Equal(t, map[string]int{`waiting at sendMessage "send" for its turn to call outside: migrate it once it has gone on`: 1}, rep.Refusals)
	require.Zero(t, rep.Exited)
	_, err = flowtest.AdvanceTo(ctx, eng, clk, time.Date(2026, 5, 5, 8, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	require.Len(t, g.keys, 1, "sent once the quiet hours ended")
}

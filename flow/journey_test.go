package flow_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
)

// touchStore records, per person, the transactions the engine opens and
// the participant reads it makes in them, and counts flow-wide reads of
// participants.
type touchStore struct {
	store.Store
	mu      sync.Mutex
	updates map[uuid.UUID]int
	reads   map[uuid.UUID]int // Tx.Participants calls
	scans   int               // Store.Participants calls
}

func newTouchStore() *touchStore {
	return &touchStore{Store: memory.New(), updates: map[uuid.UUID]int{}, reads: map[uuid.UUID]int{}}
}

func (s *touchStore) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.updates)
	clear(s.reads)
	s.scans = 0
}

func (s *touchStore) Update(ctx context.Context, id uuid.UUID, fn func(store.Tx) error) error {
	s.mu.Lock()
	s.updates[id]++
	s.mu.Unlock()
	return s.Store.Update(ctx, id, func(tx store.Tx) error { return fn(touchTx{tx, s, id}) })
}

func (s *touchStore) Participants(ctx context.Context, q *store.ParticipantQuery) ([]*store.Participant, error) {
	s.mu.Lock()
	s.scans++
	s.mu.Unlock()
	return s.Store.Participants(ctx, q)
}

type touchTx struct {
	store.Tx
	s  *touchStore
	id uuid.UUID
}

func (tx touchTx) Participants() ([]*store.Participant, error) {
	tx.s.mu.Lock()
	tx.s.reads[tx.id]++
	tx.s.mu.Unlock()
	return tx.Tx.Participants()
}

// An exit-rule event reaches only its person's participants: with a
// thousand other people waiting in the flow, delivering one person's
// event opens that person's transaction alone, reads no other
// participant, changes none of theirs, and takes out only that person.
func TestExitRuleEventReachesOnlyItsPerson(t *testing.T) {
	others := 1000
	if testing.Short() {
		others = 200
	}
	ctx := context.Background()
	st := newTouchStore()
	eng, err := flow.NewEngine(flow.Config{Store: st, Clock: clock.NewFake(t0)})
	require.NoError(t, err)
	f := flow.New("cart", "Cart").Add("hold", pauseFor(3, segment.Days), nil)
	f.ExitRules = []*flow.ExitRule{{Name: "ordered", Event: &segment.EventSpec{Category: store.External, Name: "OrderCompleted"}}}
	_, err = eng.Publish(ctx, f)
	require.NoError(t, err)
	require.NoError(t, eng.Activate(ctx, "cart"))
	for i := range others {
		_, err := eng.Enter(ctx, "cart", store.PersonRef{ExternalID: fmt.Sprint("other-", i)}, nil)
		require.NoError(t, err)
	}
	mine, err := eng.Enter(ctx, "cart", store.PersonRef{ExternalID: "ana"}, nil)
	require.NoError(t, err)
	ana, err := eng.Participant(ctx, mine)
	require.NoError(t, err)
	before, err := eng.Participants(ctx, store.ParticipantQuery{FlowID: "cart"})
	require.NoError(t, err)
	require.Len(t, before, others+1)

	st.reset()
	require.NoError(t, eng.Deliver(ctx, &store.Event{ID: "o-1", Person: store.PersonRef{ExternalID: "ana"}, Category: store.External, Name: "OrderCompleted"}))
	st.mu.Lock()
	require.Equal(t, map[uuid.UUID]int{ana.PersonID: 1}, st.updates, "transactions opened by the delivery")
	require.Equal(t, map[uuid.UUID]int{ana.PersonID: 1}, st.reads, "participant reads by the delivery")
	require.Zero(t, st.scans, "flow-wide participant reads by the delivery")
	st.mu.Unlock()

	after, err := eng.Participants(ctx, store.ParticipantQuery{FlowID: "cart"})
	require.NoError(t, err)
	require.Len(t, after, others+1)
	for i, p := range after {
		require.Equal(t, before[i].ID, p.ID)
		if p.ID == mine {
			require.Equal(t, store.Completed, p.Status)
			require.Contains(t, p.Reason, `exit rule "ordered"`)
			continue
		}
		require.Equal(t, before[i].Version, p.Version, "participant %s changed", p.ID)
		require.Equal(t, store.Waiting, p.Status)
	}
}

// Bad journey settings are refused by Validate and Publish with a
// *flow.ValidationError naming the field, and a refused flow is not
// stored.
func TestJourneySettingsRefused(t *testing.T) {
	ev := func(name string) *segment.EventSpec {
		return &segment.EventSpec{Category: store.External, Name: name}
	}
	for _, tc := range []struct {
		name  string
		setup func(f *flow.Flow)
		field string
		says  string
	}{
		{"audience on an unknown attribute", func(f *flow.Flow) {
			f.Entries = []*flow.Entry{{Type: flow.EntryAudience, Segment: &segment.Condition{Attribute: "shoeSize", Op: segment.Is, Value: 42}}}
		}, "entries[0].segment", "shoeSize"},
		{"audience with an operator of another type", func(f *flow.Flow) {
			f.Entries = []*flow.Entry{{Type: flow.EntryAudience, Segment: &segment.Condition{Attribute: "age", Op: segment.Contains, Value: "4"}}}
		}, "entries[0].segment", "contains"},
		{"date entry on a text attribute", func(f *flow.Flow) {
			f.Entries = []*flow.Entry{{Type: flow.EntryDate, Date: &flow.DateEntry{Attribute: "plan"}}}
		}, "entries[0].date.attribute", "not a date"},
		{"negative cool-down", func(f *flow.Flow) {
			f.Reentry = &flow.Reentry{Rule: flow.ReenterAfterCoolDown, CoolDown: segment.Period{Amount: -2, Unit: segment.Days}}
		}, "reentry.coolDown", "must be positive"},
		{"unknown re-entry rule", func(f *flow.Flow) {
			f.Reentry = &flow.Reentry{Rule: "twice"}
		}, "reentry.rule", `"twice"`},
		{"exit rule with event and unless", func(f *flow.Flow) {
			f.ExitRules = []*flow.ExitRule{{Event: ev("OrderCompleted"), Unless: &segment.Condition{Tag: "vip", Op: segment.Has}}}
		}, "exitRules[0]", "exactly one of event, unless"},
		{"exit rule with neither", func(f *flow.Flow) {
			f.ExitRules = []*flow.ExitRule{{Event: ev("OrderCompleted")}, {Name: "empty"}}
		}, "exitRules[1]", "exactly one of event, unless"},
		{"goal without a name", func(f *flow.Flow) {
			f.Goals = []*flow.Goal{{Event: *ev("OrderCompleted")}}
		}, "goals[0].name", "a goal needs a name"},
		{"two goals of one name", func(f *flow.Flow) {
			f.Goals = []*flow.Goal{{Name: "ordered", Event: *ev("OrderCompleted")}, {Name: "ordered", Event: *ev("OrderShipped")}}
		}, "goals[1].name", `two goals are named "ordered"`},
		{"event entry without a name", func(f *flow.Flow) {
			f.Entries = []*flow.Entry{{Type: flow.EntryEvent, Event: &segment.EventSpec{Category: store.External}}}
		}, "entries[0].event.name", "event name is missing"},
		{"runAtActivation false without a schedule", func(f *flow.Flow) {
			off := false
			f.Entries = []*flow.Entry{{Type: flow.EntryAudience, Segment: &segment.Condition{Attribute: "age", Op: segment.GreaterThan, Value: 18}, RunAtActivation: &off}}
		}, "entries[0].runAtActivation", "needs a schedule"},
		{"unknown entry type", func(f *flow.Flow) {
			f.Entries = []*flow.Entry{{Type: flow.EntryAPI}, {Type: "webhook"}}
		}, "entries[1].type", `"webhook" (one of api, event, audience, date, existingFlow)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, flow.Config{})
			f := flow.New("journey", "Journey").Add("hold", pauseFor(1, segment.Days), nil)
			tc.setup(f)
			for _, err := range []error{h.eng.Validate(f), publishErr(h, f)} {
				var ve *flow.ValidationError
				require.ErrorAs(t, err, &ve)
				fields := []string{}
				var found *flow.ValidationError
				for _, v := range flow.ValidationErrors(err) {
					fields = append(fields, v.Field)
					if v.Field == tc.field && found == nil {
						found = v
					}
				}
				require.NotNil(t, found, "no problem of field %s among %v: %v", tc.field, fields, err)
				require.Empty(t, found.ElementID, "a flow-level setting is no element's")
				require.Contains(t, found.Error(), tc.says)
			}
			_, err := h.eng.Flow(h.ctx, "journey")
			require.ErrorIs(t, err, store.ErrNotFound, "a refused flow is not stored")
		})
	}
}

func publishErr(h *harness, f *flow.Flow) error {
	_, err := h.eng.Publish(h.ctx, f)
	return err
}

// Re-entry rules read from both JSON forms, the earlier boolean and the
// rule object, and are written back as they were read.
func TestReentryJSON(t *testing.T) {
	const exit = `{"id":"done","type":"exit"}`
	for _, tc := range []struct {
		name, reentry, written string
		want                   flow.Reentry
	}{
		{"true", `true`, `true`, flow.Reentry{Rule: flow.ReenterConcurrent}},
		{"false", `false`, `{"rule":"afterExit"}`, flow.Reentry{Rule: flow.ReenterAfterExit}},
		{"cool-down", `{"rule": "afterCoolDown", "coolDown": {"amount": 2, "unit": "days"}}`,
			`{"rule":"afterCoolDown","coolDown":{"amount":2,"unit":"days"}}`,
			flow.Reentry{Rule: flow.ReenterAfterCoolDown, CoolDown: segment.Period{Amount: 2, Unit: segment.Days}}},
		{"concurrent with a bound", `{"rule": "concurrent", "max": 3}`, `{"rule":"concurrent","max":3}`,
			flow.Reentry{Rule: flow.ReenterConcurrent, Max: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := `{"id": "again", "name": "Again", "reentry": ` + tc.reentry + `, "elements": [` + exit + `]}`
			f, err := flow.Parse([]byte(doc))
			require.NoError(t, err)
			require.NotNil(t, f.Reentry)
			require.Equal(t, tc.want, *f.Reentry)
			h := newHarness(t, flow.Config{})
			require.NoError(t, h.eng.Validate(f))

			data, err := json.Marshal(f)
			require.NoError(t, err)
			var top map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(data, &top))
			require.JSONEq(t, tc.written, string(top["reentry"]))
			g, err := flow.Parse(data)
			require.NoError(t, err)
			require.Equal(t, *f.Reentry, *g.Reentry)
		})
	}
	// The schema test collects these documents from this file too; both
	// forms are flow documents it accepts.
	for _, doc := range []string{
		`{"id": "again", "reentry": true, "elements": [{"id": "done", "type": "exit"}]}`,
		`{"id": "again", "reentry": {"rule": "afterCoolDown", "coolDown": {"amount": 2, "unit": "days"}}, "elements": [{"id": "done", "type": "exit"}]}`,
	} {
		f, err := flow.Parse([]byte(doc))
		require.NoError(t, err)
		require.NoError(t, newHarness(t, flow.Config{}).eng.Validate(f))
	}
}

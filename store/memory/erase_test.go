package memory

import (
	"strings"
	"testing"
	"time"

	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/storetest"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// After Erase, none of the store's maps, indexes or timer structures
// holds the person's id, keys, participant ids or event ids.
func TestEraseLeavesNoTrace(t *testing.T) {
	ctx := t.Context()
	s := New()
	_, err := s.PublishFlow(ctx, &store.FlowVersion{FlowID: "f", Document: []byte(`{}`), PublishedAt: time.Now()})
	require.NoError(t, err)
	due := time.Date(2030, 1, 15, 10, 0, 0, 0, time.UTC)
	gone := storetest.EraseRecords(t, s, "f", due)
	kept := storetest.EraseRecords(t, s, "f", due)
	// The erased person's first timer is claimed, in flight; a later one
	// stays in the heap.
	claimed, err := s.ClaimTimers(ctx, due, 1, time.Hour)
	require.NoError(t, err)
	require.Equal(t, gone.Person.ID, claimed[0].PersonID)
	later := &store.Participant{ID: uuid.New(), PersonID: gone.Person.ID, FlowID: "f", FlowVersion: 1, Status: store.Waiting,
		Element: "wait", Wait: &store.Wait{Until: due.Add(time.Hour)}}
	require.NoError(t, s.Update(ctx, gone.Person.ID, func(tx store.Tx) error { return tx.PutParticipant(later) }))
	gone.Participants = append(gone.Participants, later)
	_, err = s.FindPerson(ctx, store.PersonRef{Email: gone.Person.Emails[0]}) // noted as recent
	require.NoError(t, err)

	require.NotEmpty(t, s.traces(gone.Needles()), "the person is stored before the erasure")
	require.NoError(t, s.Erase(ctx, gone.Person.ID, nil))
	require.Empty(t, s.traces(gone.Needles()))
	require.NotEmpty(t, s.traces(kept.Needles()), "the other person is kept")
	timers, err := s.DueTimers(ctx, due.Add(2*time.Hour), 10)
	require.NoError(t, err)
	require.Len(t, timers, 1, "the other person's timer is still due")
	require.Equal(t, kept.Person.ID, timers[0].PersonID)
}

// traces lists where the store holds any of the needles.
func (s *Store) traces(needles []string) []string {
	var out []string
	has := func(where string, values ...string) {
		for _, v := range values {
			for _, n := range needles {
				if strings.Contains(v, n) {
					out = append(out, where+": "+n)
				}
			}
		}
	}
	ids := func(id uuid.UUID) string { return id.String() }
	for i := range s.people {
		for id, ps := range s.people[i].m {
			has("people", ids(id), ids(ps.id))
			if ps.person != nil {
				has("person", ids(ps.person.ID), ps.person.ExternalID)
				has("person", ps.person.Phones...)
				has("person", ps.person.Emails...)
			}
			for _, p := range ps.parts {
				has("participants", ids(p.id), ids(ps.id))
			}
			for _, f := range ps.events {
				has("events", f.id(), ids(f.event(ps.id).PersonID))
			}
			for id := range ps.eventIDs {
				has("event ids", id)
			}
		}
	}
	for i := range s.parts {
		for id, ps := range s.parts[i].m {
			has("participant index", ids(id), ids(ps.id))
		}
	}
	for i := range s.keys {
		for _, m := range s.keys[i].m {
			for k, ps := range m {
				has("keys", k, ids(ps.id))
			}
		}
	}
	for i := range s.recent {
		if ps := s.recent[i].p.Load(); ps != nil {
			has("recent", ids(ps.id))
		}
	}
	for _, e := range s.timers {
		has("timers", ids(e.part))
	}
	for _, e := range s.inflight {
		has("claimed timers", ids(e.part))
	}
	return out
}

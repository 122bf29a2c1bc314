package memory

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// The index of a flow's participants pages through them in ID order
// whatever the order they came and went in, across block splits.
func TestFlowIndexPagesInOrder(t *testing.T) {
	var ix flowIndex
	rng := rand.New(rand.NewPCG(3, 4))
	var want []uuid.UUID
	for i := range 5 * indexBlock {
		var id uuid.UUID
		for j := range id {
			id[j] = byte(rng.IntN(256))
		}
		ix.add(id)
		ix.add(id) // twice: once held
		want = append(want, id)
		if i%5 == 0 {
			gone := want[rng.IntN(len(want))]
			ix.remove(gone)
			ix.remove(gone)
			want = slices.DeleteFunc(want, func(x uuid.UUID) bool { return x == gone })
		}
	}
	slices.SortFunc(want, compareID)
	require.Equal(t, want, ix.after(nil, uuid.Nil, len(want)+1), "the whole index")
	for _, page := range []int{1, 7, 50, indexBlock, 3 * indexBlock} {
		var got []uuid.UUID
		for after := uuid.Nil; ; {
			ids := ix.after(nil, after, page)
			got = append(got, ids...)
			if len(ids) < page {
				break
			}
			after = ids[len(ids)-1]
		}
		require.Equal(t, want, got, "pages of %d", page)
	}
	reversed := slices.Clone(want)
	slices.Reverse(reversed)
	for _, page := range []int{1, 7, indexBlock + 3} {
		var got []uuid.UUID
		for before := uuid.Nil; ; {
			ids := ix.before(nil, before, page)
			got = append(got, ids...)
			if len(ids) < page {
				break
			}
			before = ids[len(ids)-1]
		}
		require.Equal(t, reversed, got, "pages of %d, descending", page)
	}
	// A cursor the index does not hold starts after where it would be.
	mid := want[len(want)/2]
	mid[15]++
	require.Equal(t, want[len(want)/2+1], ix.after(nil, mid, 1)[0])
	for _, id := range want {
		ix.remove(id)
	}
	require.Empty(t, ix.after(nil, uuid.Nil, 10))
	require.Empty(t, ix.blocks)

	// Time-ordered IDs, as uuid.NewV7 makes them, fill each block.
	for range 3*indexBlock + 1 {
		ix.add(uuid.Must(uuid.NewV7()))
	}
	require.Len(t, ix.blocks, 4)
	for _, b := range ix.blocks[:3] {
		require.Len(t, b, indexBlock)
	}
}

// BenchmarkParticipantsPage reads a page of 50 of a flow's participants
// in the middle of a million (ten thousand with -short), with and
// without a status filter half of them pass: ns/op is the time of one
// page.
func BenchmarkParticipantsPage(b *testing.B) {
	n := 1_000_000
	if testing.Short() {
		n = 10_000
	}
	ctx := context.Background()
	s := New()
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	ids := make([]uuid.UUID, n)
	for i := range n {
		person := uuid.Must(uuid.NewV7())
		p := &store.Participant{ID: uuid.Must(uuid.NewV7()), PersonID: person, FlowID: "f", FlowVersion: 1,
			Status: store.Waiting, Element: "wait", EnteredAt: at, ArrivedAt: at, LastActivityAt: at}
		if i%2 == 1 {
			p.Status = store.Active
		}
		ids[i] = p.ID
		if err := s.Update(ctx, person, func(tx store.Tx) error { return tx.PutParticipant(p) }); err != nil {
			b.Fatal(err)
		}
		// Another flow's participants, which a page of "f" skips.
		other := &store.Participant{ID: uuid.Must(uuid.NewV7()), PersonID: person, FlowID: "g", FlowVersion: 1,
			Status: store.Active, Element: "x", EnteredAt: at, ArrivedAt: at, LastActivityAt: at}
		if err := s.Update(ctx, person, func(tx store.Tx) error { return tx.PutParticipant(other) }); err != nil {
			b.Fatal(err)
		}
	}
	slices.SortFunc(ids, compareID)
	for _, bc := range []struct {
		name     string
		statuses []store.Status
	}{{"all", nil}, {"waiting", []store.Status{store.Waiting}}} {
		b.Run(fmt.Sprint(bc.name), func(b *testing.B) {
			q := &store.ParticipantQuery{FlowID: "f", Statuses: bc.statuses, After: ids[n/2], Limit: 50}
			b.ReportAllocs()
			for b.Loop() {
				page, err := s.Participants(ctx, q)
				if err != nil {
					b.Fatal(err)
				}
				if len(page) != 50 {
					b.Fatalf("a page of %d, want 50", len(page))
				}
			}
		})
	}
}

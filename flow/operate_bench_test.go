package flow_test

import (
	"context"
	"testing"

	"github.com/flowkit/flowkit/flowtest/storecheck"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	"github.com/google/uuid"
)

// BenchmarkOperations retries 100,000 failed participants (2,000 with
// -short) in bulk on the memory store, then cancels them (see
// storecheck.BenchOperations). Run with -benchtime 1x.
func BenchmarkOperations(b *testing.B) {
	n := 100_000
	if testing.Short() {
		n = 2_000
	}
	s := memory.New()
	ctx := context.Background()
	for range n {
		id, _ := uuid.NewV7()
		p := &store.Person{ID: id}
		if err := s.Update(ctx, id, func(tx store.Tx) error { return tx.PutPerson(p) }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	storecheck.BenchOperations(b, s, n)
}

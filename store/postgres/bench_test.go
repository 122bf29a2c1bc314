package postgres_test

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// BenchmarkUpdate measures Store.Update against the database in
// FLOWKIT_TEST_POSTGRES:
//
//	FLOWKIT_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//		go test -run '^$' -bench Update -benchtime 3s ./store/postgres/
//
// "step" is what an engine step writes: it reads the person and their
// participant, moves the participant on, adds an event and counts (three
// round trips: begin, the event's duplicate check, commit). "read" only
// reads (two). "parallel" runs on as many goroutines as the pool allows
// updates, each on people of its own.
func BenchmarkUpdate(b *testing.B) {
	s := newStore(b)
	const people = 256
	type rec struct {
		person uuid.UUID
		part   *store.Participant
	}
	recs := make([]*rec, people)
	for i := range recs {
		r := &rec{person: uuid.New()}
		r.part = &store.Participant{ID: uuid.New(), PersonID: r.person, FlowID: "bench", FlowVersion: 1,
			Status: store.Waiting, Element: "wait", Vars: map[string]any{"n": 0.0, "cart": "c-1"},
			Wait: &store.Wait{Until: time.Now().Add(time.Hour), Events: []string{"Ordered"}}}
		require.NoError(b, s.Update(b.Context(), r.person, func(tx store.Tx) error {
			if err := tx.PutPerson(&store.Person{ID: r.person, ExternalID: "bench-" + r.person.String(),
				Emails: []string{r.person.String() + "@example.com"}, Attributes: map[string]any{"plan": "gold"}}); err != nil {
				return err
			}
			return tx.PutParticipant(r.part)
		}))
		recs[i] = r
	}
	var seq atomic.Int64
	step := func(r *rec) error {
		return s.Update(b.Context(), r.person, func(tx store.Tx) error {
			if _, err := tx.Person(); err != nil {
				return err
			}
			parts, err := tx.Participants()
			if err != nil {
				return err
			}
			p := parts[0]
			p.Vars["n"] = p.Vars["n"].(float64) + 1
			p.Seq++
			p.Wait.Until = p.Wait.Until.Add(time.Second)
			p.Journal = append(p.Journal, store.Step{Seq: p.Seq, At: time.Now(), Element: "wait", Reason: "bench"})
			if len(p.Journal) > 20 {
				p.Journal = p.Journal[1:]
			}
			if err := tx.PutParticipant(p); err != nil {
				return err
			}
			if err := tx.AddEvent(&store.Event{ID: fmt.Sprint("bench-", seq.Add(1)), Category: store.External, Name: "Viewed",
				Properties: map[string]any{"page": "/cart"}, Time: time.Now()}); err != nil {
				return err
			}
			tx.Count(store.Counter{FlowID: "bench", FlowVersion: 1, Element: "wait", Key: "steps", N: 1})
			return nil
		})
	}
	read := func(r *rec) error {
		return s.Update(b.Context(), r.person, func(tx store.Tx) error {
			_, err := tx.Participants()
			return err
		})
	}
	report := func(b *testing.B) {
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
	}
	for _, bc := range []struct {
		name string
		fn   func(*rec) error
	}{{"step", step}, {"read", read}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := bc.fn(recs[i%people]); err != nil {
					b.Fatal(err)
				}
				i++
			}
			report(b)
		})
		b.Run(bc.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			// As many goroutines as the store runs updates at once, each
			// on people of its own: recs[g], recs[g+n], recs[g+2n], ...
			procs := runtime.GOMAXPROCS(0)
			perProc := max(1, (int(testPool(b).Config().MaxConns)*3/4)/procs)
			n := perProc * procs
			b.SetParallelism(perProc)
			var next atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				g := int(next.Add(1)) - 1
				for i := g; pb.Next(); i += n {
					if err := bc.fn(recs[i%people]); err != nil {
						b.Error(err)
						return
					}
				}
			})
			report(b)
		})
	}
}

package flow_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// failingCommits is the memory store, whose transactions lend their
// records (store.SharingTx), with commits that fail while fail is set:
// each transaction runs, then writes nothing.
type failingCommits struct {
	*memory.Store
	fail atomic.Bool
}

var errCommitFailed = errors.New("test: commit failed")

func (s *failingCommits) Update(ctx context.Context, id uuid.UUID, fn func(store.Tx) error) error {
	return s.Store.Update(ctx, id, func(tx store.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		if s.fail.Load() {
			return errCommitFailed
		}
		return nil
	})
}

func (s *failingCommits) UpdateBatch(ctx context.Context, ids []uuid.UUID, fn func(int, store.Tx) error) ([]error, error) {
	return s.Store.UpdateBatch(ctx, ids, func(i int, tx store.Tx) error {
		if err := fn(i, tx); err != nil {
			return err
		}
		if s.fail.Load() {
			return errCommitFailed
		}
		return nil
	})
}

// A step that ran on lent records and did not commit leaves the
// participant as it was, journal included (the step was written past
// the stored journal's end), and the steps that commit after keep the
// most recent Config.JournalLimit steps in order.
func TestLentRecordsRollBack(t *testing.T) {
	ctx := context.Background()
	st := &failingCommits{Store: memory.New()}
	clk := clock.NewFake(t0)
	eng, err := flow.NewEngine(flow.Config{Store: st, Clock: clk, JournalLimit: 3, TimerLease: time.Minute})
	require.NoError(t, err)
	// A drip: pause a day, again and again.
	f := flow.New("drip", "Drip").Add("p", pauseFor(1, segment.Days), flow.Next{"next": "p"})
	_, err = eng.Publish(ctx, f)
	require.NoError(t, err)
	require.NoError(t, eng.Activate(ctx, "drip"))
	id, err := eng.Enter(ctx, "drip", store.PersonRef{ExternalID: "p"}, nil)
	require.NoError(t, err)

	for day := 1; day <= 5; day++ {
		before, err := eng.Participant(ctx, id)
		require.NoError(t, err)
		clk.Advance(24 * time.Hour)
		st.fail.Store(true)
		n, err := eng.Tick(ctx)
		require.ErrorIs(t, err, errCommitFailed)
		require.Zero(t, n)
		after, err := eng.Participant(ctx, id)
		require.NoError(t, err)
		require.Equal(t, before, after, "day %d: a step that did not commit changed nothing", day)

		st.fail.Store(false)
		clk.Advance(time.Minute) // the failed timer's lease
		n, err = eng.Tick(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		p, err := eng.Participant(ctx, id)
		require.NoError(t, err)
		require.Equal(t, before.Version+1, p.Version)
		require.True(t, clk.Now().Add(24*time.Hour).Equal(p.Wait.Until), "day %d: re-armed a day after the step", day)
		require.LessOrEqual(t, len(p.Journal), 3)
		require.Equal(t, p.Seq, p.Journal[len(p.Journal)-1].Seq, "day %d: the latest step last", day)
		for i := 1; i < len(p.Journal); i++ {
			require.Equal(t, p.Journal[i-1].Seq+1, p.Journal[i].Seq, "day %d: no step lost or left from the failed one", day)
			require.True(t, p.Journal[i].At.After(p.Journal[i-1].At) || p.Journal[i].At.Equal(p.Journal[i-1].At))
		}
		require.Equal(t, clk.Now(), p.Journal[len(p.Journal)-1].At.In(clk.Now().Location()))
	}
}

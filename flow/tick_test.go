package flow_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// brokenPerson fails every Update of one person, as a record the store
// cannot read would.
type brokenPerson struct {
	*memory.Store
	broken uuid.UUID
}

func (b *brokenPerson) Update(ctx context.Context, id uuid.UUID, fn func(store.Tx) error) error {
	if id == b.broken {
		return errors.New("this person's records cannot be read")
	}
	return b.Store.Update(ctx, id, fn)
}

func (b *brokenPerson) UpdateBatch(ctx context.Context, ids []uuid.UUID, fn func(int, store.Tx) error) ([]error, error) {
	return b.Store.UpdateBatch(ctx, ids, func(i int, tx store.Tx) error {
		if ids[i] == b.broken {
			return errors.New("this person's records cannot be read")
		}
		return fn(i, tx)
	})
}

// A timer whose step fails does not keep the rest of its batch from
// firing: they fire in the same Tick, and it fires once the person can be
// read again, after its lease.
func TestTickFiresPastAFailure(t *testing.T) {
	ctx := t.Context()
	st := &brokenPerson{Store: memory.New()}
	clk := clock.NewFake(t0)
	eng, err := flow.NewEngine(flow.Config{Store: st, Clock: clk, TimerLease: 10 * time.Second})
	require.NoError(t, err)
	_, err = eng.Publish(ctx, flow.New("p", "Pause").Add("pause", pauseFor(1, "hours"), nil))
	require.NoError(t, err)
	require.NoError(t, eng.Activate(ctx, "p"))
	var ids []uuid.UUID
	for i := range 50 {
		id, err := eng.Enter(ctx, "p", store.PersonRef{ExternalID: fmt.Sprint("p", i)}, nil)
		require.NoError(t, err)
		ids = append(ids, id)
	}
	first, err := eng.Participant(ctx, ids[0])
	require.NoError(t, err)
	st.broken = first.PersonID

	clk.Advance(time.Hour)
	n, err := eng.Tick(ctx)
	require.ErrorContains(t, err, "cannot be read")
	require.Equal(t, 49, n, "every other timer fired")

	st.broken = uuid.Nil
	n, err = eng.Tick(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "the failed timer is claimed until its lease ends")
	clk.Advance(10 * time.Second)
	n, err = eng.Tick(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n, "and fires after it")
}

// claimCounter records the limit of each ClaimTimers call and makes each
// step slow, as a slow database would.
type claimCounter struct {
	*memory.Store
	limits []int
}

func (c *claimCounter) ClaimTimers(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]store.Timer, error) {
	c.limits = append(c.limits, limit)
	return c.Store.ClaimTimers(ctx, now, limit, lease)
}

func (c *claimCounter) Update(ctx context.Context, id uuid.UUID, fn func(store.Tx) error) error {
	time.Sleep(20 * time.Millisecond)
	return c.Store.Update(ctx, id, fn)
}

func (c *claimCounter) UpdateBatch(ctx context.Context, ids []uuid.UUID, fn func(int, store.Tx) error) ([]error, error) {
	time.Sleep(time.Duration(len(ids)) * 20 * time.Millisecond)
	return c.Store.UpdateBatch(ctx, ids, fn)
}

// Once Tick has seen how long its steps take, it claims no more timers
// than it fires within half the lease, so its claims do not run out while
// it works through them and other tickers do not take them over.
func TestTickClaimsWhatFitsTheLease(t *testing.T) {
	ctx := t.Context()
	st := &claimCounter{Store: memory.New()}
	clk := clock.NewFake(t0)
	eng, err := flow.NewEngine(flow.Config{Store: st, Clock: clk, TimerLease: 400 * time.Millisecond})
	require.NoError(t, err)
	_, err = eng.Publish(ctx, flow.New("p", "Pause").Add("pause", pauseFor(1, "hours"), nil))
	require.NoError(t, err)
	require.NoError(t, eng.Activate(ctx, "p"))
	enterAndTick := func(batch int) {
		t.Helper()
		for i := range 20 {
			_, err := eng.Enter(ctx, "p", store.PersonRef{ExternalID: fmt.Sprint("b", batch, "-", i)}, nil)
			require.NoError(t, err)
		}
		clk.Advance(time.Hour)
		n, err := eng.Tick(ctx)
		require.NoError(t, err)
		require.Equal(t, 20, n)
	}
	enterAndTick(1)
	require.Equal(t, []int{1000}, st.limits, "the first claim knows nothing yet")
	st.limits = nil
	enterAndTick(2)
	// Each fire takes 20 ms or more: half the lease holds 10 at most.
	for _, l := range st.limits {
		require.LessOrEqual(t, l, 10, "claims once the fire time is known: %v", st.limits)
	}
	require.GreaterOrEqual(t, len(st.limits), 2, "so 20 timers take several claims: %v", st.limits)
}

// shardedStore spreads people over four shards, as a distributed database
// does, and records the shards of each batch the engine commits.
type shardedStore struct {
	*memory.Store
	batches [][]int // the shards of each batch's people
}

func shardOf(id uuid.UUID) int { return int(id[15] % 4) }

func (s *shardedStore) ClaimTimers(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]store.Timer, error) {
	ts, err := s.Store.ClaimTimers(ctx, now, limit, lease)
	for i := range ts {
		ts[i].Shard = shardOf(ts[i].PersonID)
	}
	slices.SortStableFunc(ts, func(a, b store.Timer) int { return a.Shard - b.Shard })
	return ts, err
}

func (s *shardedStore) UpdateBatch(ctx context.Context, ids []uuid.UUID, fn func(int, store.Tx) error) ([]error, error) {
	var shards []int
	for _, id := range ids {
		shards = append(shards, shardOf(id))
	}
	s.batches = append(s.batches, shards)
	return s.Store.UpdateBatch(ctx, ids, fn)
}

// A tick commits the timers of one shard of a sharded store per batch, so
// that no batch is a transaction across shards.
func TestTickBatchesByShard(t *testing.T) {
	ctx := t.Context()
	st := &shardedStore{Store: memory.New()}
	clk := clock.NewFake(t0)
	eng, err := flow.NewEngine(flow.Config{Store: st, Clock: clk})
	require.NoError(t, err)
	_, err = eng.Publish(ctx, flow.New("p", "Pause").Add("pause", pauseFor(1, "hours"), nil))
	require.NoError(t, err)
	require.NoError(t, eng.Activate(ctx, "p"))
	for i := range 100 {
		_, err := eng.Enter(ctx, "p", store.PersonRef{ExternalID: fmt.Sprint("p", i)}, nil)
		require.NoError(t, err)
	}
	st.batches = nil
	clk.Advance(time.Hour)
	n, err := eng.Tick(ctx)
	require.NoError(t, err)
	require.Equal(t, 100, n)
	// A batch for each shard, and a second one only where the first was
	// full (a batch holds at most 32 people).
	var shards []int
	for i, b := range st.batches {
		for _, s := range b {
			require.Equal(t, b[0], s, "a batch of one shard: %v", st.batches)
		}
		if i > 0 && st.batches[i-1][0] == b[0] {
			require.Len(t, st.batches[i-1], 32, "a shard's batch is split only when full: %v", st.batches)
			continue
		}
		shards = append(shards, b[0])
	}
	require.Equal(t, []int{0, 1, 2, 3}, shards, "a batch for each shard: %v", st.batches)
}

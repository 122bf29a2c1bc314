package flow_test

import (
	"context"
	"errors"
	"fmt"
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

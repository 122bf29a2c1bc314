package clock_test

import (
	"sync"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/stretchr/testify/require"
)

func TestFakeSetAndAdvance(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := clock.NewFake(start)
	require.Equal(t, start, c.Now())
	require.Equal(t, start.Add(365*24*time.Hour), c.Advance(365*24*time.Hour))
	c.Set(start)
	require.Equal(t, start, c.Now())
}

func TestFakeConcurrent(t *testing.T) {
	c := clock.NewFake(time.Unix(0, 0))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				c.Advance(time.Second)
				_ = c.Now()
			}
		})
	}
	wg.Wait()
	require.Equal(t, time.Unix(8000, 0), c.Now())
}

func TestRealMoves(t *testing.T) {
	var c clock.Clock = clock.Real{}
	a := c.Now()
	require.False(t, c.Now().Before(a))
}

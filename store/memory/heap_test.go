package memory

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

func TestTimerHeapPopsInOrder(t *testing.T) {
	var h timerHeap
	var want []timerEntry
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		e := timerEntry{due: rng.Int64N(500), seq: uint64(i), part: uuid.New()}
		want = append(want, e)
		h.push(e)
		if i%7 == 0 { // interleave pops with pushes
			got := h.pop()
			i := slices.IndexFunc(want, func(x timerEntry) bool { return x == got })
			for _, x := range want {
				require.False(t, x.before(&got), "popped %v while %v was waiting", got, x)
			}
			want = slices.Delete(want, i, i+1)
		}
	}
	slices.SortFunc(want, func(a, b timerEntry) int {
		if a.before(&b) {
			return -1
		}
		return 1
	})
	for _, w := range want {
		require.Equal(t, w, h.pop())
	}
	require.Empty(t, h)
}

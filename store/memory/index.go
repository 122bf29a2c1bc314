package memory

import (
	"bytes"
	"slices"
	"sync"

	"github.com/google/uuid"
)

// flowIndexes list each flow's participant IDs in order, so that a page
// of Store.Participants reads only the IDs after its cursor instead of
// every participant of the store.
type flowIndexes struct {
	mu sync.RWMutex
	m  map[string]*flowIndex
}

// flowIndex is one flow's participant IDs, sorted, in blocks of at most
// indexBlock: inserting or removing one moves at most a block, and a
// page finds its start by two binary searches. Participant IDs are
// time-ordered (UUIDv7), so most inserts append to the last block.
type flowIndex struct {
	mu     sync.RWMutex
	blocks [][]uuid.UUID // each sorted and not empty; in order
}

const indexBlock = 512

// of returns the index of a flow, created when create is set.
func (fx *flowIndexes) of(flowID string, create bool) *flowIndex {
	fx.mu.RLock()
	ix := fx.m[flowID]
	fx.mu.RUnlock()
	if ix != nil || !create {
		return ix
	}
	fx.mu.Lock()
	defer fx.mu.Unlock()
	if fx.m == nil {
		fx.m = map[string]*flowIndex{}
	}
	if ix = fx.m[flowID]; ix == nil {
		ix = &flowIndex{}
		fx.m[flowID] = ix
	}
	return ix
}

func compareID(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) }

// block returns the index of the block where id belongs: the last whose
// first ID is not after id, or 0.
func (ix *flowIndex) block(id uuid.UUID) int {
	i, _ := slices.BinarySearchFunc(ix.blocks, id, func(b []uuid.UUID, id uuid.UUID) int {
		if compareID(b[0], id) <= 0 {
			return -1
		}
		return 1
	})
	return max(i-1, 0)
}

// add inserts id; adding an ID the index holds changes nothing.
func (ix *flowIndex) add(id uuid.UUID) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if len(ix.blocks) == 0 {
		ix.blocks = [][]uuid.UUID{append(make([]uuid.UUID, 0, 16), id)}
		return
	}
	bi := ix.block(id)
	b := ix.blocks[bi]
	j, found := slices.BinarySearchFunc(b, id, compareID)
	if found {
		return
	}
	if j == len(b) && len(b) == indexBlock && bi == len(ix.blocks)-1 {
		// Past the end of a full last block, as time-ordered IDs come:
		// a new block, so that the blocks behind stay full.
		nb := make([]uuid.UUID, 1, 16)
		nb[0] = id
		ix.blocks = append(ix.blocks, nb)
		return
	}
	b = slices.Insert(b, j, id)
	if len(b) <= indexBlock {
		ix.blocks[bi] = b
		return
	}
	// Split a full block in two halves, each with room to grow.
	half := len(b) / 2
	hi := make([]uuid.UUID, len(b)-half, indexBlock)
	copy(hi, b[half:])
	clear(b[half:])
	ix.blocks[bi] = b[:half]
	ix.blocks = slices.Insert(ix.blocks, bi+1, hi)
}

// remove deletes id, when the index holds it.
func (ix *flowIndex) remove(id uuid.UUID) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if len(ix.blocks) == 0 {
		return
	}
	bi := ix.block(id)
	b := ix.blocks[bi]
	j, found := slices.BinarySearchFunc(b, id, compareID)
	if !found {
		return
	}
	b = slices.Delete(b, j, j+1)
	if len(b) == 0 {
		ix.blocks = slices.Delete(ix.blocks, bi, bi+1)
		return
	}
	ix.blocks[bi] = b
}

// after appends to out up to n IDs after the cursor (all from the start
// when after is uuid.Nil), in order, and returns it.
func (ix *flowIndex) after(out []uuid.UUID, after uuid.UUID, n int) []uuid.UUID {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if len(ix.blocks) == 0 {
		return out
	}
	bi, j := 0, 0
	if after != uuid.Nil {
		bi = ix.block(after)
		var found bool
		j, found = slices.BinarySearchFunc(ix.blocks[bi], after, compareID)
		if found {
			j++
		}
	}
	for ; bi < len(ix.blocks) && n > 0; bi, j = bi+1, 0 {
		b := ix.blocks[bi][j:]
		k := min(len(b), n)
		out = append(out, b[:k]...)
		n -= k
	}
	return out
}

// before appends to out up to n IDs before the cursor (all from the
// end when before is uuid.Nil), in descending order, and returns it.
func (ix *flowIndex) before(out []uuid.UUID, before uuid.UUID, n int) []uuid.UUID {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if len(ix.blocks) == 0 {
		return out
	}
	bi := len(ix.blocks) - 1
	j := len(ix.blocks[bi]) // IDs at [0, j) of block bi come next
	if before != uuid.Nil {
		bi = ix.block(before)
		j, _ = slices.BinarySearchFunc(ix.blocks[bi], before, compareID)
	}
	for ; bi >= 0 && n > 0; bi-- {
		b := ix.blocks[bi][:j]
		for k := len(b) - 1; k >= 0 && n > 0; k-- {
			out = append(out, b[k])
			n--
		}
		if bi > 0 {
			j = len(ix.blocks[bi-1])
		}
	}
	return out
}

// indexParticipant notes a new participant in its flow's index.
func (s *Store) indexParticipant(flowID string, id uuid.UUID) {
	s.byFlow.of(flowID, true).add(id)
}

// unindexParticipant takes a participant out of its flow's index.
func (s *Store) unindexParticipant(flowID string, id uuid.UUID) {
	if ix := s.byFlow.of(flowID, false); ix != nil {
		ix.remove(id)
	}
}

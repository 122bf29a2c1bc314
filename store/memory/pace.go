package memory

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/flowkit/flowkit/store"
)

var _ store.PaceKeeper = (*Store)(nil)

// paces are the sending-speed budgets of store.PaceKeeper.
type paces struct {
	mu sync.Mutex
	m  map[string]*paceState
}

type paceState struct {
	booked, claimed time.Time // zero for none yet
}

func (ps *paces) get(key string) *paceState {
	if ps.m == nil {
		ps.m = map[string]*paceState{}
	}
	p := ps.m[key]
	if p == nil {
		p = &paceState{}
		ps.m[key] = p
	}
	return p
}

// ReservePace implements store.PaceKeeper.
func (s *Store) ReservePace(_ context.Context, p *store.PaceReserveParams) (time.Time, bool, error) {
	if p.Interval <= 0 {
		return time.Time{}, false, fmt.Errorf("reserve pace %q: interval %v is not positive", p.Key, p.Interval)
	}
	s.paces.mu.Lock()
	defer s.paces.mu.Unlock()
	st := s.paces.get(p.Key)
	slot := p.Now.Round(0)
	if !st.booked.IsZero() {
		if next := st.booked.Add(p.Interval); next.After(slot) {
			slot = next
		}
	}
	if !p.NotAfter.IsZero() && !slot.Before(p.NotAfter) {
		return time.Time{}, false, nil
	}
	st.booked = slot
	return slot, true, nil
}

// ClaimPace implements store.PaceKeeper.
func (s *Store) ClaimPace(_ context.Context, p *store.PaceClaimParams) (bool, time.Time, error) {
	if p.Interval <= 0 {
		return false, time.Time{}, fmt.Errorf("claim pace %q: interval %v is not positive", p.Key, p.Interval)
	}
	s.paces.mu.Lock()
	defer s.paces.mu.Unlock()
	st := s.paces.get(p.Key)
	if !st.claimed.IsZero() {
		if next := st.claimed.Add(p.Interval); p.At.Before(next) {
			return false, next, nil
		}
	}
	st.claimed = p.At.Round(0)
	return true, time.Time{}, nil
}

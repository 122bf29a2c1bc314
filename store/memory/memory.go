// Package memory is the embedded flowkit Store: every record in the
// process's memory, one lock per person, a timer heap for due participants.
// It is the default for single-process hosts and for tests; its records do
// not outlive the process.
package memory

import (
	"context"
	"fmt"
	"hash/maphash"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowkit/flowkit/internal/clone"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

const shardCount = 64

var _ store.Store = (*Store)(nil)

// Store is an in-memory store.Store. The zero value is not usable; call New.
type Store struct {
	flowMu   sync.RWMutex
	flowRev  atomic.Int64 // bumped by every flow change
	flows    map[string]*store.FlowState
	versions map[string][]*store.FlowVersion

	people [shardCount]peopleShard
	parts  [shardCount]partShard
	// byFlow lists each flow's participants in ID order (see index.go).
	byFlow flowIndexes

	// keys find people by external id, phone and email, in shards by the
	// key's hash so that lookups from many goroutines seldom share a lock.
	keys    [shardCount]keyShard
	keySeed maphash.Seed
	// recent holds, per shard, the person FindPerson found last, for the
	// Update that follows it.
	recent [shardCount]recentPerson

	timerMu sync.Mutex
	timers  timerHeap
	// slots hold each armed participant's live heap entry; a participant
	// names its slot in personState.slots, a heap entry in timerEntry.slot.
	// Freed slots are reused: the entry's seq tells a stale entry apart.
	slots     []armedTimer
	freeSlots []uint32
	timerSeq  uint64          // numbers heap entries
	inflight  []inflightTimer // handed out, not yet requeued

	// counters are spread over shards by person, so that commits of
	// different people seldom wait for one lock; Counters sums them.
	counters [counterShards]counterShard

	// audience lists people and keeps audience runs (see people.go).
	audience audienceState

	paces paces // sending-speed budgets (see pace.go)

	operations operationRuns // bulk operations' progress (see operations.go)

	decisions decisions // experiments' decisions (see experiments.go)

	// origins holds the origins parts share (see originOf), and
	// originCount counts them.
	origins     sync.Map
	originCount atomic.Int64
}

const counterShards = 8

type counterShard struct {
	mu sync.Mutex
	m  map[counterKey]int64
}

type peopleShard struct {
	mu sync.RWMutex
	m  map[uuid.UUID]*personState
}

type partShard struct {
	mu sync.RWMutex
	m  map[uuid.UUID]*personState
}

type counterKey struct {
	flowID  string
	version int
	element string
	key     string
}

// personState holds everything of one person; mu serializes Updates.
type personState struct {
	mu sync.Mutex
	// removed is set, under mu, when the state leaves the index: an Update
	// that locked it meanwhile starts over.
	removed  bool
	id       uuid.UUID
	person   *store.Person
	parts    []*part
	events   []fact // by time
	eventIDs map[string]struct{}
	// Room for the first participant and event, which most people have:
	// two objects fewer for the collector per person.
	partsBuf  [1]*part
	eventsBuf [1]fact
}

// New returns an empty Store.
func New() *Store {
	s := &Store{
		flows:    map[string]*store.FlowState{},
		versions: map[string][]*store.FlowVersion{},
		keySeed:  maphash.MakeSeed(),
	}
	for i := range s.people {
		s.people[i].m = map[uuid.UUID]*personState{}
		s.parts[i].m = map[uuid.UUID]*personState{}
	}
	for i := range s.keys {
		for k := range s.keys[i].m {
			s.keys[i].m[k] = map[string]*personState{}
		}
	}
	for i := range s.counters {
		s.counters[i].m = map[counterKey]int64{}
	}
	return s
}

func shardOf(id uuid.UUID) int { return int(id[15]) % shardCount }

// PublishFlow implements store.Store.
func (s *Store) PublishFlow(ctx context.Context, v *store.FlowVersion) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if v.FlowID == "" {
		return 0, fmt.Errorf("publish flow: flow id is empty: %w", store.ErrInvalid)
	}
	s.flowMu.Lock()
	defer s.flowMu.Unlock()
	st := store.FlowState{FlowID: v.FlowID, Status: store.FlowDraft}
	if cur, ok := s.flows[v.FlowID]; ok {
		st = *cur
	}
	if v.Version != 0 && v.Version != st.Latest+1 {
		return 0, fmt.Errorf("flow %q: version %d asked for, but the latest is %d: %w", v.FlowID, v.Version, st.Latest, store.ErrConflict)
	}
	c := *v
	c.Version = st.Latest + 1
	c.Document = slices.Clone(v.Document)
	s.versions[v.FlowID] = append(s.versions[v.FlowID], &c)
	st.Latest = c.Version
	st.UpdatedAt = v.PublishedAt
	s.flows[v.FlowID] = &st
	s.flowRev.Add(1)
	return c.Version, nil
}

// FlowVersion implements store.Store.
func (s *Store) FlowVersion(ctx context.Context, flowID string, version int) (*store.FlowVersion, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.flowMu.RLock()
	defer s.flowMu.RUnlock()
	vs := s.versions[flowID]
	if version < 1 || version > len(vs) {
		return nil, fmt.Errorf("flow %q version %d: %w", flowID, version, store.ErrNotFound)
	}
	c := *vs[version-1]
	c.Document = slices.Clone(c.Document)
	return &c, nil
}

// Flow implements store.Store.
func (s *Store) Flow(ctx context.Context, flowID string) (*store.FlowState, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.flowMu.RLock()
	defer s.flowMu.RUnlock()
	st, ok := s.flows[flowID]
	if !ok {
		return nil, fmt.Errorf("flow %q: %w", flowID, store.ErrNotFound)
	}
	c := *st
	return &c, nil
}

// Flows implements store.Store.
func (s *Store) Flows(ctx context.Context) ([]store.FlowState, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.flowMu.RLock()
	defer s.flowMu.RUnlock()
	out := make([]store.FlowState, 0, len(s.flows))
	for _, st := range s.flows {
		out = append(out, *st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].FlowID < out[j].FlowID })
	return out, nil
}

// SetFlowStatus implements store.Store.
func (s *Store) SetFlowStatus(ctx context.Context, flowID string, from, to store.FlowStatus, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.flowMu.Lock()
	defer s.flowMu.Unlock()
	st, ok := s.flows[flowID]
	if !ok {
		return fmt.Errorf("flow %q: %w", flowID, store.ErrNotFound)
	}
	if st.Status != from {
		return fmt.Errorf("flow %q is %s, not %s: %w", flowID, st.Status, from, store.ErrConflict)
	}
	c := *st
	c.Status = to
	c.UpdatedAt = at
	s.flows[flowID] = &c
	s.flowRev.Add(1)
	return nil
}

// FlowsRevision implements store.Store.
func (s *Store) FlowsRevision(context.Context) (int64, error) { return s.flowRev.Load(), nil }

// FindPerson implements store.Store.
func (s *Store) FindPerson(ctx context.Context, ref store.PersonRef) (uuid.UUID, error) {
	if err := ctx.Err(); err != nil {
		return uuid.Nil, err
	}
	if ref.ID != uuid.Nil {
		sh := &s.people[shardOf(ref.ID)]
		sh.mu.RLock()
		ps := sh.m[ref.ID]
		sh.mu.RUnlock()
		if ps != nil {
			ps.mu.Lock()
			ok := ps.person != nil
			ps.mu.Unlock()
			if ok {
				return ref.ID, nil
			}
		}
		return uuid.Nil, personNotFound(ref.ID.String())
	}
	k := ref.Key()
	if k == (store.Key{}) {
		return uuid.Nil, errNoKey
	}
	sh := s.keyShard(k)
	sh.mu.RLock()
	ps := sh.m[k.Kind][k.Value]
	sh.mu.RUnlock()
	if ps == nil {
		return uuid.Nil, personNotFound(spelling(ref, k))
	}
	// The caller's Update most likely follows: spare it the lookup.
	s.recent[shardOf(ps.id)].p.Store(ps)
	return ps.id, nil
}

// spelling returns the key as the reference gave it, for errors.
func spelling(ref store.PersonRef, k store.Key) string {
	switch k.Kind {
	case store.ByPhone:
		return ref.Phone
	case store.ByEmail:
		return ref.Email
	}
	return ref.ExternalID
}

// errNoKey is FindPerson's error for a reference with no usable key.
var errNoKey = fmt.Errorf("person reference names no id, external id, phone number or email address: %w", store.ErrNotFound)

// recentPerson is one slot of Store.recent, a cache line to itself so
// that goroutines noting different people do not contend.
type recentPerson struct {
	p atomic.Pointer[personState]
	_ [56]byte
}

// personNotFound is the error for an unknown person, named by key or id.
// Entering a new person meets it twice, so it is formatted only when
// read.
type personNotFound string

func (e personNotFound) Error() string {
	return "person " + string(e) + ": " + store.ErrNotFound.Error()
}

func (e personNotFound) Unwrap() error { return store.ErrNotFound }

// keyShard holds a map per kind of key: plain string keys hash and
// compare faster than a kind and a string together. The keys share the
// people's strings.
type keyShard struct {
	mu sync.RWMutex
	m  [3]map[string]*personState // by store.KeyKind
	_  [16]byte                   // a cache line each: readers write the lock's count
}

func (s *Store) keyShardIndex(k store.Key) int {
	return int(maphash.String(s.keySeed, k.Value) % shardCount)
}

func (s *Store) keyShard(k store.Key) *keyShard { return &s.keys[s.keyShardIndex(k)] }

func (s *Store) state(id uuid.UUID, create bool) *personState {
	sh := &s.people[shardOf(id)]
	sh.mu.RLock()
	ps := sh.m[id]
	sh.mu.RUnlock()
	if ps != nil || !create {
		return ps
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if ps = sh.m[id]; ps == nil {
		ps = &personState{id: id}
		ps.parts, ps.events = ps.partsBuf[:0], ps.eventsBuf[:0]
		sh.m[id] = ps
		s.audience.note(id)
	}
	return ps
}

// Update implements store.Store.
func (s *Store) Update(ctx context.Context, personID uuid.UUID, fn func(store.Tx) error) error {
	if personID == uuid.Nil {
		return fmt.Errorf("update: person id is nil: %w", store.ErrNotFound)
	}
	return s.locked(ctx, personID, txFunc{plain: fn}, false)
}

var _ store.Eraser = (*Store)(nil)

// Erase implements store.Eraser. The person's timers leave the timer heap
// at once, which takes a pass over the heap.
func (s *Store) Erase(ctx context.Context, personID uuid.UUID, fn func(store.Tx) error) error {
	if personID == uuid.Nil {
		return fmt.Errorf("erase: person id is nil: %w", store.ErrNotFound)
	}
	if fn == nil {
		fn = func(store.Tx) error { return nil }
	}
	return s.locked(ctx, personID, txFunc{plain: fn}, true)
}

// txFunc is a transaction function: Update's, or UpdateRef's, which
// also gets the person's ID.
type txFunc struct {
	plain func(store.Tx) error
	ref   func(uuid.UUID, store.Tx) error
}

func (f txFunc) call(id uuid.UUID, tx store.Tx) error {
	if f.ref != nil {
		return f.ref(id, tx)
	}
	return f.plain(tx)
}

// locked runs fn over the person's state under its lock, and commits or,
// when erase is set, erases the person.
func (s *Store) locked(ctx context.Context, personID uuid.UUID, fn txFunc, erase bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.update(ctx, s.lock(personID), fn, erase)
}

// lock returns the person's state, created if need be, with its lock
// held.
func (s *Store) lock(personID uuid.UUID) *personState {
	recent := &s.recent[shardOf(personID)].p
	for {
		ps := recent.Load()
		if ps == nil || ps.id != personID {
			ps = s.state(personID, true)
		}
		ps.mu.Lock()
		if ps.removed {
			// Removed while we waited for its lock (or before FindPerson
			// noted it): take the current one.
			recent.CompareAndSwap(ps, nil)
			ps.mu.Unlock()
			continue
		}
		return ps
	}
}

// newTx begins a transaction over ps, whose lock the caller holds. Its
// state comes from a pool: the caller gets a handle (see txHandle), and
// recycle takes the state back once the transaction has ended.
func (s *Store) newTx(ps *personState) *tx {
	slot := txSlots.Get().(*txSlot)
	t := &slot.t
	t.s, t.ps, t.slot = s, ps, slot
	t.parts, t.events, t.counts = t.partsBuf[:0], t.eventsBuf[:0], t.countsBuf[:0]
	t.lent, t.lentOut = t.lentBuf[:0], t.lentOutBuf[:0]
	return t
}

// update runs fn over ps, whose lock the caller holds, commits or erases,
// and releases the lock, also when fn panics.
func (s *Store) update(ctx context.Context, ps *personState, fn txFunc, erase bool) error {
	tx := s.newTx(ps)
	committed := false
	defer func() {
		tx.done = true
		if !committed {
			s.release(tx)
		}
		s.dropIfEmpty(ps)
		ps.mu.Unlock()
		h := tx.holder
		tx.recycle()
		if h != nil {
			// A participant ID this transaction wanted is another
			// person's: return once their transaction ended, so that a
			// caller who tries again finds what it committed (two
			// callers creating one person under one key), holding no
			// lock meanwhile.
			h.mu.Lock()
			h.mu.Unlock()
		}
	}()
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := fn.call(ps.id, tx.handle()); err != nil {
		return err
	}
	if erase {
		s.release(tx) // participants fn created are erased with the rest
		tx.person, tx.parts, tx.events = nil, nil, nil
		s.commit(ps, tx) // the counts
		committed = true
		s.erase(ps)
		return nil
	}
	if err := s.commit(ps, tx); err != nil {
		return err
	}
	committed = true
	return nil
}

// dropIfEmpty takes ps, whose lock the caller holds, out of the index of
// people when it holds nothing.
func (s *Store) dropIfEmpty(ps *personState) {
	if ps.person == nil && len(ps.parts) == 0 && len(ps.events) == 0 {
		sh := &s.people[shardOf(ps.id)]
		sh.mu.Lock()
		delete(sh.m, ps.id)
		sh.mu.Unlock()
		ps.removed = true
		s.recent[shardOf(ps.id)].p.CompareAndSwap(ps, nil)
	}
}

// erase removes everything of ps, whose lock the caller holds, from the
// store's indexes, timers included; dropIfEmpty then drops ps itself.
func (s *Store) erase(ps *personState) {
	if p := ps.person; p != nil {
		for _, k := range p.Keys() {
			sh := s.keyShard(k)
			sh.mu.Lock()
			if sh.m[k.Kind][k.Value] == ps {
				delete(sh.m[k.Kind], k.Value)
			}
			sh.mu.Unlock()
		}
	}
	for _, r := range ps.parts {
		sh := &s.parts[shardOf(r.id)]
		sh.mu.Lock()
		if sh.m[r.id] == ps {
			delete(sh.m, r.id)
		}
		sh.mu.Unlock()
		s.unindexParticipant(r.origin.flowID, r.id)
		if slot := r.slot; slot != 0 {
			s.timerMu.Lock()
			s.slots[slot-1] = armedTimer{}
			s.freeSlots = append(s.freeSlots, slot-1)
			s.timerMu.Unlock()
		}
	}
	if len(ps.parts) > 0 {
		// Stale heap entries would still name the person until they came
		// due, which may be a year away.
		s.timerMu.Lock()
		mine := func(id uuid.UUID) bool { return partIndex(ps.parts, id) >= 0 }
		s.timers.removeFunc(func(e *timerEntry) bool { return mine(e.part) })
		s.inflight = slices.DeleteFunc(s.inflight, func(e inflightTimer) bool { return mine(e.part) })
		s.timerMu.Unlock()
	}
	ps.person, ps.parts, ps.events, ps.eventIDs = nil, nil, nil, nil
}

var _ store.HistoryPruner = (*Store)(nil)

// PruneEvents implements store.HistoryPruner. It visits every person,
// taking each one's lock in turn.
func (s *Store) PruneEvents(ctx context.Context, q *store.PruneParams) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if q.Before.IsZero() {
		return 0, fmt.Errorf("prune events: the cutoff is zero: %w", store.ErrInvalid)
	}
	var states []*personState
	for i := range s.people {
		sh := &s.people[i]
		sh.mu.RLock()
		for _, ps := range sh.m {
			states = append(states, ps)
		}
		sh.mu.RUnlock()
	}
	pruned := 0
	for _, ps := range states {
		if err := ctx.Err(); err != nil {
			return pruned, err
		}
		ps.mu.Lock()
		if !ps.removed {
			pruned += ps.prune(q.Before)
			s.dropIfEmpty(ps)
		}
		ps.mu.Unlock()
	}
	return pruned, nil
}

// prune drops the events before the cutoff, or before the entrance of the
// earliest participant still in its flow, and returns how many.
func (ps *personState) prune(before time.Time) int {
	for _, r := range ps.parts {
		if at := r.enteredAt(); !r.Status().Done() && at.Before(before) {
			before = at
		}
	}
	n, _ := slices.BinarySearchFunc(ps.events, before, func(f fact, at time.Time) int {
		if f.at().Before(at) {
			return -1
		}
		return 1
	})
	if n == 0 {
		return 0
	}
	if ps.eventIDs != nil {
		for _, f := range ps.events[:n] {
			delete(ps.eventIDs, f.id())
		}
	}
	ps.events = slices.Delete(ps.events, 0, n)
	return n
}

// reserve claims a new participant ID for ps in the participant index, so
// that no other person's transaction creates a participant with it. An ID
// another person holds is ErrDuplicate, and that person is returned: their
// transaction may still be open (the ID reserved, not committed), and
// Update waits for it to end before it returns the error.
func (s *Store) reserve(ps *personState, id uuid.UUID) (*personState, error) {
	sh := &s.parts[shardOf(id)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if owner, ok := sh.m[id]; ok && owner != ps {
		return owner, fmt.Errorf("participant %s: %w", id, store.ErrDuplicate)
	}
	sh.m[id] = ps
	return nil, nil
}

// release frees the participant IDs reserved by a transaction that did not
// commit. They name no stored participant of the person: only this
// transaction could have added one.
func (s *Store) release(tx *tx) {
	for _, id := range tx.reserved {
		sh := &s.parts[shardOf(id)]
		sh.mu.Lock()
		if sh.m[id] == tx.ps {
			delete(sh.m, id)
		}
		sh.mu.Unlock()
	}
}

func (s *Store) commit(ps *personState, tx *tx) error {
	if tx.person != nil {
		if err := s.reindex(ps, tx.person); err != nil {
			return err
		}
	}
	s.apply(ps, tx)
	return nil
}

// apply writes a transaction whose keys are in place (see reindex).
func (s *Store) apply(ps *personState, tx *tx) {
	if tx.person != nil {
		ps.person = tx.person
	}
	for i, p := range tx.parts {
		s.putParticipant(ps, p, tx.lent[i])
	}
	s.removeParticipants(ps, tx.removed)
	for _, e := range tx.events {
		if e.kept != nil {
			ps.addEvent(fact{e: e.kept})
		} else {
			ps.addEvent(ps.factOf(e.given))
		}
	}
	if len(tx.counts) > 0 {
		sh := &s.counters[int(ps.id[14])%counterShards]
		sh.mu.Lock()
		for _, c := range tx.counts {
			sh.m[counterKey{c.FlowID, c.FlowVersion, c.Element, c.Key}] += c.N
		}
		sh.mu.Unlock()
	}
}

// keysChanged reports whether storing p moves ps's lookup keys.
func keysChanged(ps *personState, p *store.Person) bool {
	old := ps.person
	return old == nil || old.ExternalID != p.ExternalID ||
		!slices.Equal(old.Phones, p.Phones) || !slices.Equal(old.Emails, p.Emails)
}

// reindex moves the lookup keys from the stored person to p, refusing keys
// that belong to somebody else.
func (s *Store) reindex(ps *personState, p *store.Person) error {
	if !keysChanged(ps, p) {
		return nil // the common case: keys unchanged
	}
	// Lock every shard involved, in index order, so that the check and the
	// move are one step for other writers.
	unlock := s.lockKeys(s.keyShardsOf(nil, ps, p))
	defer unlock()
	return s.moveKeys(ps, p, nil)
}

// keyShardsOf appends the indexes of the key shards that storing p
// over ps involves.
func (s *Store) keyShardsOf(shards []int, ps *personState, p *store.Person) []int {
	for _, k := range p.Keys() {
		shards = append(shards, s.keyShardIndex(k))
	}
	if ps.person != nil {
		for _, k := range ps.person.Keys() {
			shards = append(shards, s.keyShardIndex(k))
		}
	}
	return shards
}

// lockKeys locks the key shards, in index order, and returns what
// unlocks them.
func (s *Store) lockKeys(shards []int) (unlock func()) {
	slices.Sort(shards)
	shards = slices.Compact(shards)
	for _, i := range shards {
		s.keys[i].mu.Lock()
	}
	return func() {
		for _, i := range shards {
			s.keys[i].mu.Unlock()
		}
	}
}

// keyWas is a key's owner before moveKeys changed it, for undoing.
type keyWas struct {
	k     store.Key
	owner *personState // nil: the key was free
}

// moveKeys moves the lookup keys from ps's stored person to p, refusing
// keys that belong to somebody else; the caller holds the shards' locks.
// When undo is not nil, it records each change, earliest first.
func (s *Store) moveKeys(ps *personState, p *store.Person, undo *[]keyWas) error {
	newKeys := p.Keys()
	for _, k := range newKeys {
		if owner := s.keyShard(k).m[k.Kind][k.Value]; owner != nil && owner != ps {
			return fmt.Errorf("person %s: %s belongs to person %s: %w", ps.id, k.Value, owner.id, store.ErrConflict)
		}
	}
	set := func(k store.Key, owner *personState) {
		m := s.keyShard(k).m[k.Kind]
		if undo != nil {
			*undo = append(*undo, keyWas{k, m[k.Value]})
		}
		if owner == nil {
			delete(m, k.Value)
		} else {
			m[k.Value] = owner
		}
	}
	if ps.person != nil {
		for _, k := range ps.person.Keys() {
			set(k, nil)
		}
	}
	for _, k := range newKeys {
		set(k, ps)
	}
	return nil
}

// putParticipant stores p, the store's own copy (see own) or, when lent
// is set, the caller's (see tx.PutSharedParticipant), as a part that
// takes over its nested values.
func (s *Store) putParticipant(ps *personState, p *store.Participant, lent bool) {
	i := partIndex(ps.parts, p.ID)
	var old []varEntry
	if i >= 0 {
		old = ps.parts[i].vars
	}
	vars := compactVars(old, p.Vars)
	if !lent {
		recycleVars(p.Vars) // the store's own copy: its map goes back to the pool
	} // a lent one goes back when the transaction ends
	var r *part
	if i < 0 {
		r = new(part)
		r.set(p, vars, s.originOf(nil, p))
		ps.parts = append(ps.parts, r)
		sh := &s.parts[shardOf(r.id)]
		sh.mu.Lock()
		sh.m[r.id] = ps
		sh.mu.Unlock()
		s.indexParticipant(r.origin.flowID, r.id)
	} else {
		// Only the store holds a part (it hands out participants made
		// from it): the new one takes its place in it.
		r = ps.parts[i]
		if factsChange(r, p) {
			ps.keepFacts(r)
		}
		if r.origin.flowID != p.FlowID {
			s.unindexParticipant(r.origin.flowID, r.id)
			s.indexParticipant(p.FlowID, r.id)
		}
		r.set(p, vars, s.originOf(r.origin, p))
	}
	s.arm(ps, r)
}

type varEntry struct {
	name  string
	value any
}

// compactVars returns m as pairs, in old's array when it has the room
// exactly: only the store holds it, and the commit replaces it.
func compactVars(old []varEntry, m map[string]any) []varEntry {
	if len(m) == 0 {
		return nil
	}
	out := old[:0]
	if cap(old) != len(m) {
		out = make([]varEntry, 0, len(m))
	}
	for k, v := range m {
		out = append(out, varEntry{k, v})
	}
	return out
}

// varMaps recycles the variable maps the store copies put participants
// into until it stores their variables as pairs: every step of a
// participant with variables would otherwise allocate one, and a small
// map is a few hundred bytes.
var varMaps = sync.Pool{New: func() any { return make(map[string]any, 8) }}

// maxPooledVars is the size above which a variable map is not recycled:
// clearing it would cost more than allocating.
const maxPooledVars = 8

func recycleVars(m map[string]any) {
	if m != nil && len(m) <= maxPooledVars {
		clear(m)
		varMaps.Put(m)
	}
}

// newVarsMap returns an empty map for n variables, from the pool when it
// is small.
func newVarsMap(n int) map[string]any {
	if n <= maxPooledVars {
		return varMaps.Get().(map[string]any)
	}
	return make(map[string]any, n)
}

// arm keeps the timer heap in step with the wait of r, a participant of
// ps, whose lock the caller holds. Each participant has at most one live
// heap entry, the one its slot names; the others are stale and skipped,
// even when their due time is the same (a timer moved back to an earlier
// time, or parked and unparked).
func (s *Store) arm(ps *personState, r *part) {
	due, on := r.timer()
	slot := r.slot
	if !on && slot == 0 {
		return // no timer, before or after
	}
	s.timerMu.Lock()
	defer s.timerMu.Unlock()
	if !on {
		s.slots[slot-1] = armedTimer{} // its heap entries are stale now
		s.freeSlots = append(s.freeSlots, slot-1)
		r.slot = 0
		return
	}
	if slot == 0 {
		if n := len(s.freeSlots); n > 0 {
			slot = s.freeSlots[n-1] + 1
			s.freeSlots = s.freeSlots[:n-1]
		} else {
			s.slots = append(s.slots, armedTimer{})
			slot = uint32(len(s.slots))
		}
		r.slot = slot
	}
	if cur := &s.slots[slot-1]; cur.seq == 0 || cur.due != due {
		s.timerSeq++
		*cur = armedTimer{due: due, seq: s.timerSeq}
		s.timers.push(timerEntry{due: due, seq: s.timerSeq, slot: slot - 1, part: r.id})
	}
}

// live reports whether e is its participant's current heap entry.
func (s *Store) live(e timerEntry) bool { return s.slots[e.slot].seq == e.seq }

// armedTimer identifies a participant's live heap entry; it is kept small
// because every waiting participant has one.
type armedTimer struct {
	due int64
	seq uint64
}

// event is an event as the store keeps it: the properties as pairs,
// which take a fraction of a map's memory (most events have a few).
type event struct {
	store.Event // Properties is nil
	props       []varEntry
}

// keepEvent returns the store's copy of e.
func keepEvent(e *store.Event) *event {
	k := &event{Event: *e}
	k.Properties = nil
	if len(e.Properties) > 0 {
		k.props = make([]varEntry, 0, len(e.Properties))
		for name, v := range e.Properties {
			k.props = append(k.props, varEntry{name, clone.Value(v)})
		}
	}
	return k
}

// copy returns a copy of the event for a caller.
func (k *event) copy() *store.Event {
	e := k.Event
	if len(k.props) > 0 {
		e.Properties = make(map[string]any, len(k.props))
		for _, p := range k.props {
			e.Properties[p.name] = clone.Value(p.value)
		}
	}
	return &e
}

// DueTimers implements store.Store. Returned timers stay armed until their
// participant's Wait.Until changes, so a timer whose step failed is
// returned again.
func (s *Store) DueTimers(ctx context.Context, now time.Time, limit int) ([]store.Timer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.handOut(now, limit, 0)
}

// ClaimTimers implements store.TimerClaimer.
func (s *Store) ClaimTimers(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]store.Timer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.handOut(now, limit, now.Add(max(lease, time.Nanosecond)).UnixNano())
}

var _ store.TimerClaimer = (*Store)(nil)

// handOut pops up to limit due timers; until is when they may be handed
// out again (0: at the next call).
func (s *Store) handOut(now time.Time, limit int, until int64) ([]store.Timer, error) {
	s.timerMu.Lock()
	defer s.timerMu.Unlock()
	n := now.UnixNano()
	s.requeue(n)
	if len(s.timers) == 0 || s.timers[0].due > n {
		return nil, nil
	}
	out := make([]store.Timer, 0, min(limit, len(s.timers)))
	for len(s.timers) > 0 && len(out) < limit {
		top := s.timers[0]
		if top.due > n {
			break
		}
		s.timers.pop()
		if !s.live(top) {
			continue // stale: the participant moved on
		}
		ps := s.holder(top.part) // a live timer's participant is held
		if ps == nil {
			continue
		}
		s.inflight = append(s.inflight, inflightTimer{timerEntry: top, until: until})
		out = append(out, store.Timer{Due: time.Unix(0, top.due).UTC(), PersonID: ps.id, ParticipantID: top.part})
	}
	return out, nil
}

// inflightTimer is a timer handed out and not yet back in the heap.
type inflightTimer struct {
	timerEntry
	until int64 // when it may be handed out again; 0 for the next call
}

// requeue puts back into the heap the handed-out timers whose time to be
// handed out again has come and whose participants have not moved on since
// (their step failed or has not run yet). Timers that fired are dropped
// here instead of costing a heap push each.
func (s *Store) requeue(now int64) {
	keep := s.inflight[:0]
	for _, e := range s.inflight {
		switch {
		case !s.live(e.timerEntry):
		case e.until == 0 || e.until <= now:
			s.timers.push(e.timerEntry)
		default:
			keep = append(keep, e)
		}
	}
	clear(s.inflight[len(keep):])
	s.inflight = keep
}

// NextDue implements store.Store.
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, false, err
	}
	s.timerMu.Lock()
	defer s.timerMu.Unlock()
	s.requeue(0)
	next, ok := int64(0), false
	for _, e := range s.inflight { // claimed: due again when the lease ends
		if s.live(e.timerEntry) && (!ok || e.until < next) {
			next, ok = e.until, true
		}
	}
	for len(s.timers) > 0 {
		top := s.timers[0]
		if s.live(top) {
			if !ok || top.due < next {
				next, ok = top.due, true
			}
			break
		}
		s.timers.pop()
	}
	if !ok {
		return time.Time{}, false, nil
	}
	return time.Unix(0, next).UTC(), true, nil
}

// Participant implements store.Store.
func (s *Store) Participant(ctx context.Context, id uuid.UUID) (*store.Participant, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sh := &s.parts[shardOf(id)]
	sh.mu.RLock()
	ps := sh.m[id]
	sh.mu.RUnlock()
	if ps != nil {
		ps.mu.Lock()
		defer ps.mu.Unlock()
		if i := partIndex(ps.parts, id); i >= 0 {
			return ps.parts[i].clone(ps.id), nil
		}
	}
	return nil, fmt.Errorf("participant %s: %w", id, store.ErrNotFound)
}

// Participants implements store.Store. It reads the flow's index of
// participant IDs from q.After on, a chunk at a time, and copies the
// participants the query selects until the page is full: a page costs
// what it holds (and what the query's filter skips), not the size of
// the store.
func (s *Store) Participants(ctx context.Context, q *store.ParticipantQuery) ([]*store.Participant, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if q == nil || q.FlowID == "" {
		return nil, fmt.Errorf("participants: the query names no flow: %w", store.ErrInvalid)
	}
	ix := s.byFlow.of(q.FlowID, false)
	if ix == nil {
		return nil, nil
	}
	var out []*store.Participant
	chunk := 256
	if q.Limit > 0 {
		chunk = min(max(q.Limit, 16), 1024)
	}
	var ids []uuid.UUID
	from := q.After
	if q.Descending {
		from = q.Before
	}
	for q.Limit <= 0 || len(out) < q.Limit {
		if q.Descending {
			ids = ix.before(ids[:0], from, chunk)
		} else {
			ids = ix.after(ids[:0], from, chunk)
		}
		if len(ids) == 0 {
			break
		}
		for _, id := range ids {
			if !inRange(id, q) {
				return out, nil // past the other bound
			}
			if q.Limit > 0 && len(out) == q.Limit {
				break
			}
			ps := s.holder(id)
			if ps == nil {
				continue // erased meanwhile
			}
			ps.mu.Lock()
			if p := ps.matching(id, q); p != nil {
				out = append(out, p)
			}
			ps.mu.Unlock()
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		from = ids[len(ids)-1]
		if len(ids) < chunk {
			break
		}
		chunk = min(chunk*2, 4096) // a sparse filter reads on in longer strides
	}
	return out, nil
}

// holder returns the person holding participant id, nil for none.
func (s *Store) holder(id uuid.UUID) *personState {
	sh := &s.parts[shardOf(id)]
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return sh.m[id]
}

// inRange reports whether id is within q's After and Before.
func inRange(id uuid.UUID, q *store.ParticipantQuery) bool {
	return (q.After == uuid.Nil || compareID(q.After, id) < 0) && (q.Before == uuid.Nil || compareID(id, q.Before) < 0)
}

var _ store.ParticipantCounter = (*Store)(nil)

// CountParticipants implements store.ParticipantCounter: it reads the
// flow's index and checks each of its participants.
func (s *Store) CountParticipants(ctx context.Context, q *store.ParticipantQuery) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if q == nil || q.FlowID == "" {
		return 0, fmt.Errorf("count participants: the query names no flow: %w", store.ErrInvalid)
	}
	ix := s.byFlow.of(q.FlowID, false)
	if ix == nil {
		return 0, nil
	}
	var n int64
	var ids []uuid.UUID
	for from := uuid.Nil; ; {
		ids = ix.after(ids[:0], from, 4096)
		for _, id := range ids {
			ps := s.holder(id)
			if ps == nil {
				continue
			}
			ps.mu.Lock()
			if ps.find(id, q) >= 0 {
				n++
			}
			ps.mu.Unlock()
		}
		if len(ids) < 4096 {
			return n, ctx.Err()
		}
		from = ids[len(ids)-1]
		if err := ctx.Err(); err != nil {
			return n, err
		}
	}
}

// matching returns a copy of participant id when the query selects it, or
// nil. ps.mu must be held.
func (ps *personState) matching(id uuid.UUID, q *store.ParticipantQuery) *store.Participant {
	if i := ps.find(id, q); i >= 0 {
		return ps.parts[i].clone(ps.id)
	}
	return nil
}

// find returns the index of participant id when the query selects it, or
// -1 (also when it left the index meanwhile). ps.mu must be held.
func (ps *personState) find(id uuid.UUID, q *store.ParticipantQuery) int {
	for i, r := range ps.parts {
		if r.id != id {
			continue
		}
		if r.origin.flowID != q.FlowID || (q.Element != "" && r.pos.element != q.Element) ||
			(q.Version != 0 && r.origin.flowVersion != q.Version) ||
			(q.Reason != "" && !strings.Contains(r.reason(), q.Reason)) ||
			(len(q.Statuses) > 0 && !slices.Contains(q.Statuses, r.Status())) {
			return -1
		}
		return i
	}
	return -1
}

// Counters implements store.Store.
func (s *Store) Counters(ctx context.Context, flowID string) ([]store.Counter, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if flowID == "" {
		return nil, fmt.Errorf("counters: flow id is empty: %w", store.ErrInvalid)
	}
	sum := map[counterKey]int64{}
	for i := range s.counters {
		sh := &s.counters[i]
		sh.mu.Lock()
		for k, n := range sh.m {
			if k.flowID == flowID {
				sum[k] += n
			}
		}
		sh.mu.Unlock()
	}
	out := make([]store.Counter, 0, len(sum))
	for k, n := range sum {
		out = append(out, store.Counter{FlowID: k.flowID, FlowVersion: k.version, Element: k.element, Key: k.key, N: n})
	}
	slices.SortFunc(out, func(a, b store.Counter) int {
		if a.FlowVersion != b.FlowVersion {
			return a.FlowVersion - b.FlowVersion
		}
		if c := strings.Compare(a.Element, b.Element); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out, nil
}

// timerEntry is one entry of the timer heap: 40 bytes, as every waiting
// participant has one. Its person is found by the participant when it
// is handed out.
type timerEntry struct {
	due  int64
	seq  uint64
	slot uint32 // index in Store.slots
	part uuid.UUID
}

// timerHeap is a 4-ary min-heap of timers by due time (then participant):
// with a million timers it is half as deep as a binary heap, and a node's
// children share cache lines.
type timerHeap []timerEntry

// before orders by due time, then by when the timer was armed.
func (e *timerEntry) before(o *timerEntry) bool {
	if e.due != o.due {
		return e.due < o.due
	}
	return e.seq < o.seq
}

func (h *timerHeap) push(e timerEntry) {
	*h = append(*h, e)
	t := *h
	i := len(t) - 1
	for i > 0 {
		parent := (i - 1) / 4
		if !t[i].before(&t[parent]) {
			break
		}
		t[i], t[parent] = t[parent], t[i]
		i = parent
	}
}

// removeFunc removes the entries del reports and restores the heap order.
func (h *timerHeap) removeFunc(del func(*timerEntry) bool) {
	t := slices.DeleteFunc(*h, func(e timerEntry) bool { return del(&e) })
	clear((*h)[len(t):])
	*h = t
	for i := (len(t) - 2) / 4; i >= 0; i-- {
		h.down(i)
	}
}

func (h *timerHeap) pop() timerEntry {
	t := *h
	top := t[0]
	last := len(t) - 1
	t[0] = t[last]
	*h = t[:last]
	h.down(0)
	return top
}

// down moves the entry at i down to its place.
func (h *timerHeap) down(i int) {
	t := *h
	for {
		first := 4*i + 1
		if first >= len(t) {
			break
		}
		least := first
		for c := first + 1; c < first+4 && c < len(t); c++ {
			if t[c].before(&t[least]) {
				least = c
			}
		}
		if !t[least].before(&t[i]) {
			break
		}
		t[i], t[least] = t[least], t[i]
		i = least
	}
}

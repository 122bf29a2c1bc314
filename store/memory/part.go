package memory

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowkit/flowkit/internal/clone"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

// part is a participant as the store keeps it. A million of them wait
// at once, so it is one object of 152 bytes with few pointers for
// the garbage collector to follow: times as nanoseconds, the status as a
// code, the wait inline, the variables as pairs, its flow and way in (an
// origin) and its element and the events its wait takes (a position)
// shared with the participants alike, and the fields a waiting
// participant seldom has behind one pointer. store.Participant is what
// callers get and give.
type part struct {
	id      uuid.UUID
	origin  *origin
	pos     *position
	seq     int64
	version int64
	// entered, arrived and active are EnteredAt, ArrivedAt and
	// LastActivityAt, and until and deadline the wait's, as stamps (see
	// stamp); more.wide holds them when a stamp cannot.
	entered, arrived, active int64
	until, deadline          int64
	vars                     []varEntry
	journal                  []store.Step
	more                     *partMore // nil when it would be empty
	slot                     uint32    // one past the timer slot, 0 for none
	status                   uint8     // see statuses; 0 with more.status
	facts                    uint8     // the history's events made from it (see fact)
	waiting                  bool      // Wait is not nil
	parked                   bool      // Wait.Parked
}

// partMore holds what a participant seldom has while it waits.
type partMore struct {
	status     store.Status // a status statuses does not list
	entry      *store.Event
	exitedAt   time.Time
	reason     string
	goals      []string
	holdout    string
	effect     *store.Effect
	operations []string
	state      map[string]any // Wait.State
	wide       *wideTimes
}

// wideTimes are a participant's times when one is beyond what a stamp
// holds (before 1678 or after 2261).
type wideTimes struct {
	entered, arrived, active, until, deadline time.Time
}

// statuses are the statuses a part keeps as a code: its index here.
var statuses = [...]store.Status{"", store.Active, store.Waiting, store.Completed, store.Failed, store.Canceled, store.InFlight}

func statusCode(s store.Status) (uint8, bool) {
	for i, t := range statuses {
		if s == t {
			return uint8(i), true
		}
	}
	return 0, false
}

// stamp returns t in nanoseconds since 1970, 0 for the zero time; ok is
// false for a time a stamp cannot hold. A stamp drops t's location and
// monotonic reading: times read back are in UTC, as from a database.
func stamp(t time.Time) (n int64, ok bool) {
	if t.IsZero() {
		return 0, true
	}
	n = t.UnixNano()
	return n, n != 0 && time.Unix(0, n).Equal(t)
}

// unstamp returns the time of a stamp.
func unstamp(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// origin is what participants of one flow version entered one way
// share: the store keeps one of each (see Store.originOf).
type origin struct {
	originKey
	// positions holds the positions of the origin's participants, one
	// per element (see positionOf), and npos counts them.
	positions sync.Map
	npos      atomic.Int64
}

// position is where a participant is: its element and the events its
// wait takes. Participants at one element share one.
type position struct {
	element string
	events  []string // Wait.Events
}

// maxPositions bounds the positions an origin shares; past it, each
// part has its own.
const maxPositions = 1 << 12

// positionOf returns the position of a participant of origin o at
// element waiting for events: old when it is that, else o's.
func (o *origin) positionOf(old *position, element string, events []string) *position {
	if old != nil && old.element == element && slices.Equal(old.events, events) {
		return old
	}
	if v, ok := o.positions.Load(element); ok {
		if p := v.(*position); slices.Equal(p.events, events) {
			return p
		}
		return &position{element, events} // another list at the element: its own
	}
	p := &position{element, events}
	if o.npos.Add(1) > maxPositions {
		return p
	}
	v, _ := o.positions.LoadOrStore(element, p)
	if p := v.(*position); slices.Equal(p.events, events) {
		return p
	}
	return &position{element, events}
}

// originKey is what makes an origin, and finds it in Store.origins.
type originKey struct {
	flowID      string
	flowVersion int
	enteredBy   string
}

// maxOrigins bounds the origins the store shares; past it, each part
// has its own.
const maxOrigins = 1 << 14

// originOf returns the origin of p: old when it is p's, else the
// store's.
func (s *Store) originOf(old *origin, p *store.Participant) *origin {
	k := originKey{p.FlowID, p.FlowVersion, p.EnteredBy}
	if old != nil && old.originKey == k {
		return old
	}
	if o, ok := s.origins.Load(k); ok {
		return o.(*origin)
	}
	o := &origin{originKey: k}
	if s.originCount.Add(1) > maxOrigins {
		return o
	}
	actual, _ := s.origins.LoadOrStore(k, o)
	return actual.(*origin)
}

// set makes r the part of p, its variables vars and its origin o,
// keeping r's timer slot and reusing its more. The part takes p's nested
// values as they are: the caller hands them over.
func (r *part) set(p *store.Participant, vars []varEntry, o *origin) {
	more, pos := r.more, r.pos
	*r = part{
		id: p.ID, origin: o,
		seq: p.Seq, version: p.Version, vars: vars, journal: p.Journal,
		slot: r.slot, facts: r.facts,
	}
	var m partMore
	code, known := statusCode(p.Status)
	r.status = code
	if !known {
		m.status = p.Status
	}
	var events []string
	var until, deadline time.Time
	if w := p.Wait; w != nil {
		r.waiting, r.parked, m.state = true, w.Parked, w.State
		events, until, deadline = w.Events, w.Until, w.Deadline
	}
	r.pos = o.positionOf(pos, p.Element, events)
	m.entry, m.exitedAt, m.reason, m.goals = p.Entry, p.ExitedAt, p.Reason, p.Goals
	m.holdout, m.effect, m.operations = p.Holdout, p.Effect, p.Operations
	var ok [5]bool
	r.entered, ok[0] = stamp(p.EnteredAt)
	r.arrived, ok[1] = stamp(p.ArrivedAt)
	r.active, ok[2] = stamp(p.LastActivityAt)
	r.until, ok[3] = stamp(until)
	r.deadline, ok[4] = stamp(deadline)
	if ok != [5]bool{true, true, true, true, true} {
		m.wide = &wideTimes{p.EnteredAt, p.ArrivedAt, p.LastActivityAt, until, deadline}
	}
	if m.status != "" || m.entry != nil || !m.exitedAt.IsZero() || m.reason != "" || m.goals != nil ||
		m.holdout != "" || m.effect != nil || m.operations != nil || m.state != nil || m.wide != nil {
		if more == nil {
			more = new(partMore)
		}
		*more = m
		r.more = more
	}
}

// Status returns the participant's status.
func (r *part) Status() store.Status {
	if r.more != nil && r.more.status != "" {
		return r.more.status
	}
	return statuses[r.status]
}

// reason returns the participant's Reason.
func (r *part) reason() string {
	if r.more == nil {
		return ""
	}
	return r.more.reason
}

// enteredAt returns the participant's EnteredAt.
func (r *part) enteredAt() time.Time {
	if r.more != nil && r.more.wide != nil {
		return r.more.wide.entered
	}
	return unstamp(r.entered)
}

// timer returns when the participant's timer is due, in nanoseconds,
// and whether it has one: a wait with a time, not parked, of a
// participant in its flow.
func (r *part) timer() (int64, bool) {
	if !r.waiting || r.parked || r.Status().Done() {
		return 0, false
	}
	if r.more != nil && r.more.wide != nil {
		u := r.more.wide.until
		return u.UnixNano(), !u.IsZero()
	}
	return r.until, r.until != 0
}

// outParticipant is a participant with room for its wait, so that a
// participant handed out takes one allocation for both.
type outParticipant struct {
	p store.Participant
	w store.Wait
}

// outs recycles the participants transactions lend (see tx.lentOut):
// every step would otherwise allocate one.
var outs = sync.Pool{New: func() any { return new(outParticipant) }}

// recycle takes back a lent participant at the end of its transaction.
func (o *outParticipant) recycle() {
	recycleVars(o.p.Vars)
	*o = outParticipant{}
	outs.Put(o)
}

// fill returns the participant r is, of person personID, in o, its
// nested values r's own but for the variables, which the caller sets.
func (r *part) fill(o *outParticipant, personID uuid.UUID) *store.Participant {
	*o = outParticipant{p: store.Participant{
		ID: r.id, PersonID: personID, FlowID: r.origin.flowID, FlowVersion: r.origin.flowVersion,
		Status: r.Status(), Element: r.pos.element, EnteredBy: r.origin.enteredBy,
		Seq: r.seq, Journal: r.journal, Version: r.version,
	}}
	p := &o.p
	until, deadline := unstamp(r.until), unstamp(r.deadline)
	p.EnteredAt, p.ArrivedAt, p.LastActivityAt = unstamp(r.entered), unstamp(r.arrived), unstamp(r.active)
	if m := r.more; m != nil {
		if w := m.wide; w != nil {
			p.EnteredAt, p.ArrivedAt, p.LastActivityAt, until, deadline = w.entered, w.arrived, w.active, w.until, w.deadline
		}
		p.Entry, p.ExitedAt, p.Reason, p.Goals = m.entry, m.exitedAt, m.reason, m.goals
		p.Holdout, p.Effect, p.Operations = m.holdout, m.effect, m.operations
		o.w.State = m.state
	}
	if r.waiting {
		o.w.Until, o.w.Deadline, o.w.Events, o.w.Parked = until, deadline, r.pos.events, r.parked
		p.Wait = &o.w
	}
	return p
}

// lend returns the participant for a transaction that shares it (see
// tx.SharedParticipants), from the pool: its fields, and its variables
// in a map of its own.
func (r *part) lend(personID uuid.UUID) *outParticipant {
	o := outs.Get().(*outParticipant)
	p := r.fill(o, personID)
	if len(r.vars) > 0 {
		p.Vars = newVarsMap(len(r.vars))
		for _, v := range r.vars {
			p.Vars[v.name] = v.value
		}
	}
	return o
}

// clone returns a deep copy of the participant, variables included:
// what store.Participant.Clone copies, with the variables from their
// pairs.
func (r *part) clone(personID uuid.UUID) *store.Participant {
	var o outParticipant
	p := r.fill(&o, personID).Clone()
	if len(r.vars) > 0 {
		p.Vars = make(map[string]any, len(r.vars))
		for _, v := range r.vars {
			p.Vars[v.name] = clone.Value(v.value)
		}
	}
	return p
}

// partIndex returns the index in parts of participant id, -1 for none.
func partIndex(parts []*part, id uuid.UUID) int {
	for i, r := range parts {
		if r.id == id {
			return i
		}
	}
	return -1
}

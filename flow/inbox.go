package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/flowkit/flowkit/internal/address"
	"github.com/flowkit/flowkit/internal/values"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

// Calls in the host's own transaction.
//
// EnterTx, DeliverTx and UpdatePersonTx check their input as Enter,
// Deliver and UpdatePerson do, then record the call in the Store's inbox
// (store.Inbox) through the host's transaction: it commits or rolls back
// with the host's own writes. Tick, in whichever process ticks, claims
// committed calls and runs each as the plain call would, in its person's
// transaction, which also marks the call done: a call runs once, and the
// calls of one person run in the order they were recorded.

// ErrNoInbox is returned by EnterTx, DeliverTx, UpdatePersonTx and
// Recorded when the engine's Store keeps no inbox (store.Inbox): the
// memory store has none; store/postgres has one.
var ErrNoInbox = errors.New("the store keeps no inbox of calls in host transactions")

// The kinds of a RecordedCall.
const (
	RecordedEnter        = "enter"
	RecordedDeliver      = "deliver"
	RecordedUpdatePerson = "updatePerson"
)

// Changes is a change to a person's profile held as data, for calls that
// run later (UpdatePersonTx) and hosts that receive changes as data.
type Changes struct {
	// Set sets attributes by name: standard ones (firstName, lastName,
	// gender, birthDate, city, country, preferredLanguage, timeZone) and
	// custom ones declared in Config.Schema, each converted to its type
	// (a date from "2006-01-02" or RFC 3339 text); nil empties one.
	Set map[string]any `json:"set,omitempty"`
	// AddPhones and AddEmails add contact addresses the person does not
	// have yet.
	AddPhones []string `json:"addPhones,omitempty"`
	AddEmails []string `json:"addEmails,omitempty"`
	// AddTags and RemoveTags add and remove tags.
	AddTags    []string `json:"addTags,omitempty"`
	RemoveTags []string `json:"removeTags,omitempty"`
}

// IsZero reports whether c changes nothing.
func (c *Changes) IsZero() bool {
	return len(c.Set) == 0 && len(c.AddPhones) == 0 && len(c.AddEmails) == 0 && len(c.AddTags) == 0 && len(c.RemoveTags) == 0
}

// apply makes the changes on p, checking each value against schema.
func (c *Changes) apply(p *store.Person, schema store.Schema) error {
	for _, name := range sortedKeys(c.Set) {
		v := c.Set[name]
		t, ok := schema.TypeOf(name)
		if !ok {
			return &InputError{Field: "set." + name, Err: fmt.Errorf("attribute %q is not a standard attribute nor declared in the schema", name)}
		}
		if name == store.AttrExternalID {
			return &InputError{Field: "set." + name, Err: errors.New("the external id names the person: give it in the reference")}
		}
		if v != nil {
			cv, err := values.Convert(t, v)
			if err != nil {
				return &InputError{Field: "set." + name, Err: fmt.Errorf("attribute %q: %w", name, err)}
			}
			v = cv
		}
		p.Set(name, v)
	}
	// An address the person has, in any spelling, is not added again.
	for _, ph := range c.AddPhones {
		if !address.Contains(p.Phones, ph) {
			p.Phones = append(p.Phones, ph)
		}
	}
	for _, em := range c.AddEmails {
		if !address.Contains(p.Emails, em) {
			p.Emails = append(p.Emails, em)
		}
	}
	for _, tag := range c.AddTags {
		if tag == "" {
			return &InputError{Field: "addTags", Err: errors.New("a tag is empty")}
		}
		p.AddTag(tag)
	}
	for _, tag := range c.RemoveTags {
		p.RemoveTag(tag)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// recordedCall is a call as the inbox keeps it (store.InboxItem.Call).
type recordedCall struct {
	Kind    string         `json:"kind"`
	FlowID  string         `json:"flowId,omitempty"`
	Key     string         `json:"key,omitempty"`
	Vars    map[string]any `json:"vars,omitempty"`
	Event   *store.Event   `json:"event,omitempty"`
	Changes *Changes       `json:"changes,omitempty"`
}

func (c *recordedCall) encode() ([]byte, error) {
	enc := *c
	enc.Vars = values.EncodeJSONMap(c.Vars)
	if c.Event != nil {
		ev := *c.Event
		ev.Properties = values.EncodeJSONMap(ev.Properties)
		enc.Event = &ev
	}
	if c.Changes != nil {
		ch := *c.Changes
		ch.Set = values.EncodeJSONMap(ch.Set)
		enc.Changes = &ch
	}
	return json.Marshal(&enc)
}

func decodeCall(b []byte) (*recordedCall, error) {
	var c recordedCall
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	var err error
	if c.Vars, err = values.DecodeJSONMap(c.Vars); err != nil {
		return nil, err
	}
	if c.Event != nil {
		if c.Event.Properties, err = values.DecodeJSONMap(c.Event.Properties); err != nil {
			return nil, err
		}
	}
	if c.Changes != nil {
		if c.Changes.Set, err = values.DecodeJSONMap(c.Changes.Set); err != nil {
			return nil, err
		}
	}
	switch c.Kind {
	case RecordedEnter, RecordedDeliver, RecordedUpdatePerson:
	default:
		return nil, fmt.Errorf("unknown kind %q", c.Kind)
	}
	return &c, nil
}

// inbox returns the Store's inbox, or ErrNoInbox.
func (e *Engine) inbox() (store.Inbox, error) {
	ib, ok := e.store.(store.Inbox)
	if !ok {
		return nil, fmt.Errorf("flow: %w (%T)", ErrNoInbox, e.store)
	}
	return ib, nil
}

// record writes a call to the inbox in the host's transaction htx.
func (e *Engine) record(ctx context.Context, htx any, id uuid.UUID, who store.PersonRef, c *recordedCall) error {
	ib, err := e.inbox()
	if err != nil {
		return err
	}
	b, err := c.encode()
	if err != nil {
		return &InputError{Ref: refName(who), Err: err}
	}
	return ib.RecordInbox(ctx, htx, &store.InboxItem{ID: id, Person: who, Call: b, RecordedAt: e.Now()})
}

// EnterTx records an Enter in the host's transaction htx, which must be
// a transaction on the Store's database (for store/postgres, a pgx.Tx or
// a *sql.Tx): the entry happens after htx commits, once, in whichever
// process ticks, and never when it rolls back. It checks its input as
// Enter does and returns the id of the participant the entry will
// create, which is also the recorded call's id (see Recorded). With
// WithKey, recording the same entry twice records it once. A refusal by
// the flow's rules (the flow not active, its re-entry rule) comes when
// the call runs: Recorded tells it. ErrNoInbox when the Store keeps no
// inbox.
func (e *Engine) EnterTx(ctx context.Context, htx any, flowID string, who store.PersonRef, vars map[string]any, opts ...CallOption) (uuid.UUID, error) {
	o := options(opts)
	if err := e.cfg.Limits.checkVars(vars); err != nil {
		return uuid.Nil, inputError(who, "", err)
	}
	switch {
	case flowID == "":
		return uuid.Nil, &InputError{Ref: refName(who), Field: "flowId", Err: errors.New("flow id is empty")}
	case len(flowID) > e.cfg.Limits.MaxStringBytes:
		return uuid.Nil, &InputError{Ref: refName(who), Field: "flowId", Err: tooLong(len(flowID), e.cfg.Limits.MaxStringBytes)}
	}
	ref, err := e.normalRef(who)
	if err != nil {
		return uuid.Nil, err
	}
	key := o.key
	if key == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return uuid.Nil, err
		}
		key = "tx:" + id.String()
	}
	id := entryID(flowID, key)
	err = e.record(ctx, htx, id, ref, &recordedCall{Kind: RecordedEnter, FlowID: flowID, Key: key, Vars: vars})
	if err != nil {
		return uuid.Nil, err
	}
	return id, nil
}

// entryID is the id of the participant an entry with a key creates.
func entryID(flowID, key string) uuid.UUID {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte("flowkit:"+flowID+":"+key))
}

// DeliverTx records a Deliver in the host's transaction htx (see
// EnterTx): the event is delivered after htx commits, once, and never
// when it rolls back. It checks the event as Deliver does (its time
// defaults to now, when it is recorded) and returns the recorded call's
// id (see Recorded). An event id the person's history holds changes
// nothing when the call runs, as with Deliver.
func (e *Engine) DeliverTx(ctx context.Context, htx any, ev *store.Event) (uuid.UUID, error) {
	c, who, err := e.checkEvent(ev)
	if err != nil {
		return uuid.Nil, err
	}
	ref, err := e.normalRef(who)
	if err != nil {
		return uuid.Nil, err
	}
	c.Person, c.PersonID = store.PersonRef{}, uuid.Nil
	id := uuid.NewSHA1(uuid.NameSpaceOID, []byte("flowkit:event:"+refName(ref)+":"+c.ID))
	return id, e.record(ctx, htx, id, ref, &recordedCall{Kind: RecordedDeliver, Event: c})
}

// UpdatePersonTx records a profile change in the host's transaction htx
// (see EnterTx): the person changes after htx commits, once, as
// UpdatePerson would change them, and never when it rolls back. The
// changes are checked against Config.Schema now. It returns the recorded
// call's id (see Recorded).
func (e *Engine) UpdatePersonTx(ctx context.Context, htx any, who store.PersonRef, c Changes) (uuid.UUID, error) {
	ref, err := e.normalRef(who)
	if err != nil {
		return uuid.Nil, err
	}
	if err := e.checkChanges(&c); err != nil {
		return uuid.Nil, inputError(who, "", err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.Nil, err
	}
	return id, e.record(ctx, htx, id, ref, &recordedCall{Kind: RecordedUpdatePerson, Changes: &c})
}

// checkChanges applies c to an empty person and checks the result as
// UpdatePerson checks a profile, so that bad input is refused when it is
// recorded, not when it runs.
func (e *Engine) checkChanges(c *Changes) error {
	p := &store.Person{}
	if err := c.apply(p, e.cfg.Schema); err != nil {
		return err
	}
	if err := e.cfg.Limits.checkPerson(p); err != nil {
		return err
	}
	return e.checkPerson(p)
}

// RecordedCall is a call recorded in a host's transaction (EnterTx,
// DeliverTx, UpdatePersonTx), as Recorded returns it.
type RecordedCall struct {
	ID uuid.UUID `json:"id"`
	// Kind is RecordedEnter, RecordedDeliver or RecordedUpdatePerson.
	Kind   string          `json:"kind"`
	Person store.PersonRef `json:"person"`
	// FlowID is the flow of an entry.
	FlowID     string    `json:"flowId,omitempty"`
	RecordedAt time.Time `json:"recordedAt"`
	// Done is set once the call ran, at DoneAt.
	Done   bool      `json:"done"`
	DoneAt time.Time `json:"doneAt,omitzero"`
	// Report says what the call did once it is done, as ReportTo does.
	Report *Report `json:"report,omitempty"`
	// Err, once done, says why the call changed nothing: refused by a
	// flow's rules (wrapping ErrFlowNotActive, ErrAlreadyInFlow or
	// ErrNoEntryPoint), or input that named no one. nil when it ran.
	Err error `json:"-"`
}

// Recorded returns a call recorded in a host's transaction by the id
// EnterTx, DeliverTx or UpdatePersonTx returned: pending, or done with
// what it did. Done calls are kept for Config.InboxRetention. It returns
// store.ErrNotFound for an id the inbox does not hold (a call whose
// transaction rolled back, or pruned).
func (e *Engine) Recorded(ctx context.Context, id uuid.UUID) (*RecordedCall, error) {
	ib, err := e.inbox()
	if err != nil {
		return nil, err
	}
	it, err := ib.InboxItem(ctx, id)
	if err != nil {
		return nil, err
	}
	c, err := decodeCall(it.Call)
	if err != nil {
		return nil, fmt.Errorf("flow: recorded call %s: %w", id, err)
	}
	out := &RecordedCall{ID: it.ID, Kind: c.Kind, Person: it.Person, FlowID: c.FlowID, RecordedAt: it.RecordedAt, Done: it.Done, DoneAt: it.DoneAt}
	if it.Done {
		out.Report, out.Err = decodeResult(it.Result)
	}
	return out, nil
}

// resultDoc is what a recorded call did, as the inbox keeps it
// (store.InboxItem.Result).
type resultDoc struct {
	Entered    []Entrant   `json:"entered,omitempty"`
	Woken      []uuid.UUID `json:"woken,omitempty"`
	Refused    []errDoc    `json:"refused,omitempty"`
	Duplicate  bool        `json:"duplicate,omitempty"`
	Mismatches []Mismatch  `json:"mismatches,omitempty"`
	Err        *errDoc     `json:"err,omitempty"`
}

// errDoc is an error as the inbox keeps it: its words, the flow it is
// about, and the sentinel it wraps.
type errDoc struct {
	FlowID string `json:"flowId,omitempty"`
	Reason string `json:"reason"`
	Is     string `json:"is,omitempty"`
}

// sentinels are the errors a recorded call's outcome may wrap, by name.
var sentinels = map[string]error{
	"flowNotActive": ErrFlowNotActive,
	"alreadyInFlow": ErrAlreadyInFlow,
	"noEntryPoint":  ErrNoEntryPoint,
	"notFound":      store.ErrNotFound,
	"duplicate":     store.ErrDuplicate,
	"badEvent":      ErrBadEvent,
}

func toErrDoc(flowID string, err error) errDoc {
	d := errDoc{FlowID: flowID, Reason: err.Error()}
	for _, name := range sortedKeys(sentinels) {
		if errors.Is(err, sentinels[name]) {
			d.Is = name
			break
		}
	}
	return d
}

// recordedError is an error read back from the inbox.
type recordedError struct {
	reason string
	is     error
}

func (r *recordedError) Error() string { return r.reason }
func (r *recordedError) Unwrap() error { return r.is }

func (d errDoc) err() error { return &recordedError{reason: d.Reason, is: sentinels[d.Is]} }

func encodeResult(r *Report, err error) []byte {
	d := resultDoc{Entered: r.Entered, Woken: r.Woken, Duplicate: r.Duplicate, Mismatches: r.Mismatches}
	for _, rf := range r.Refused {
		d.Refused = append(d.Refused, toErrDoc(rf.FlowID, rf.Err))
	}
	if err != nil {
		ed := toErrDoc("", err)
		d.Err = &ed
	}
	b, _ := json.Marshal(&d) // plain types only
	return b
}

func decodeResult(b []byte) (*Report, error) {
	var d resultDoc
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("flow: recorded call result: %w", err)
	}
	r := &Report{Entered: d.Entered, Woken: d.Woken, Duplicate: d.Duplicate, Mismatches: d.Mismatches}
	for _, rf := range d.Refused {
		r.Refused = append(r.Refused, Refusal{FlowID: rf.FlowID, Err: rf.err()})
	}
	if d.Err != nil {
		return r, d.Err.err()
	}
	return r, nil
}

// inboxError is the Store's refusal to mark a recorded call done in a
// transaction: another caller ran it (store.ErrNotFound), or an earlier
// call of the person must run first (store.ErrConflict).
type inboxError struct{ err error }

func (e *inboxError) Error() string { return e.err.Error() }
func (e *inboxError) Unwrap() error { return e.err }

// completeInbox marks the session's recorded call done in its
// transaction, with what it did.
func (s *session) completeInbox(tx store.Tx) error {
	ic, ok := tx.(store.InboxCompleter)
	if !ok {
		return fmt.Errorf("flow: the store's transactions (%T) cannot complete inbox items", tx)
	}
	if err := ic.CompleteInbox(s.call.inbox, encodeResult(&s.rec.rep, nil), s.now); err != nil {
		return &inboxError{err}
	}
	return nil
}

// drainInbox runs the recorded calls the Store hands this process, each
// person's in order and people in parallel, until none is left or a
// round made no progress, and returns how many ran.
func (e *Engine) drainInbox(ctx context.Context) (int, error) {
	ib, ok := e.store.(store.Inbox)
	if !ok {
		return 0, nil
	}
	e.pruneInbox(ctx, ib)
	total := 0
	for {
		items, err := ib.ClaimInbox(ctx, e.Now(), e.cfg.TickBatch, e.cfg.TimerLease)
		if err != nil || len(items) == 0 {
			return total, err
		}
		// Groups of one person, in order; the people in parallel.
		var order []uuid.UUID
		groups := map[uuid.UUID][]*store.InboxItem{}
		for _, it := range items {
			if _, ok := groups[it.PersonID]; !ok {
				order = append(order, it.PersonID)
			}
			groups[it.PersonID] = append(groups[it.PersonID], it)
		}
		var (
			mu    sync.Mutex
			ran   int
			first error
			back  []*store.InboxItem
			wg    sync.WaitGroup
			slots = make(chan struct{}, inboxParallel)
		)
		for _, pid := range order {
			group := groups[pid]
			slots <- struct{}{}
			wg.Go(func() {
				defer func() { <-slots }()
				for i, it := range group {
					done, err := e.runRecorded(ctx, ib, it)
					mu.Lock()
					if done {
						ran++
					}
					if err != nil || !done {
						// The person's later calls wait for this one.
						back = append(back, group[i:]...)
						if err != nil && first == nil {
							first = err
						}
						mu.Unlock()
						return
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(back) > 0 {
			if err := ib.ReleaseInbox(context.WithoutCancel(ctx), back); err != nil && first == nil {
				first = err
			}
		}
		total += ran
		if first != nil || ran == 0 || ctx.Err() != nil {
			return total, errors.Join(first, ctx.Err())
		}
	}
}

// inboxParallel is how many people's recorded calls a drain runs at once.
const inboxParallel = 8

// pruneInbox deletes done calls older than Config.InboxRetention, at
// most once a minute.
func (e *Engine) pruneInbox(ctx context.Context, ib store.Inbox) {
	now := e.Now()
	last := e.inboxPruned.Load()
	if last != 0 && now.Sub(time.Unix(0, last)) < time.Minute {
		return
	}
	if !e.inboxPruned.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	if _, err := ib.PruneInbox(ctx, now.Add(-e.cfg.InboxRetention)); err != nil {
		e.log.WarnContext(ctx, "flowkit: pruning the inbox failed", "err", err)
	}
}

// runRecorded runs one recorded call. It reports whether the call is
// done (ran now, or by another caller); a call not done stays pending,
// for a later drain.
func (e *Engine) runRecorded(ctx context.Context, ib store.Inbox, it *store.InboxItem) (bool, error) {
	start := time.Now()
	c, err := decodeCall(it.Call)
	if err != nil {
		// Nothing can run it: record why.
		ferr := ib.FailInbox(ctx, it, encodeResult(&Report{}, fmt.Errorf("flow: recorded call %s cannot be read: %w", it.ID, err)), e.Now())
		return ferr == nil || errors.Is(ferr, store.ErrNotFound), ignoreNotFound(ferr)
	}
	var rep Report
	o := callOptions{report: &rep, inbox: it}
	switch c.Kind {
	case RecordedEnter:
		o.key = c.Key
		_, err = e.enterAPI(ctx, c.FlowID, it.Person, c.Vars, o)
	case RecordedDeliver:
		ev := c.Event
		if ev.Time.IsZero() {
			ev.Time = it.RecordedAt
		}
		err = e.deliver(ctx, ev, it.Person, o)
	case RecordedUpdatePerson:
		ch := c.Changes
		if ch == nil {
			ch = &Changes{}
		}
		_, err = e.updatePerson(ctx, it.Person, func(p *store.Person) error { return ch.apply(p, e.cfg.Schema) }, o)
	}
	var ie *inboxError
	switch {
	case err == nil && rep.Duplicate:
		// A redelivered event: nothing was written, the call is done.
		ferr := ib.FailInbox(ctx, it, encodeResult(&rep, nil), e.Now())
		return ferr == nil || errors.Is(ferr, store.ErrNotFound), ignoreNotFound(ferr)
	case err == nil:
		e.log.DebugContext(ctx, "flowkit: ran a recorded call", "id", it.ID.String(), "kind", c.Kind, "took", time.Since(start))
		return true, nil
	case errors.As(err, &ie) && errors.Is(err, store.ErrNotFound):
		return true, nil // another caller ran it
	case errors.As(err, &ie):
		return false, nil // an earlier call of the person runs first
	case errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrConflict) || ctx.Err() != nil:
		return false, err // try again later
	}
	// Refused, or input that names no one: it wrote nothing; record why.
	ferr := ib.FailInbox(ctx, it, encodeResult(&rep, err), e.Now())
	if ferr == nil {
		e.log.InfoContext(ctx, "flowkit: a recorded call changed nothing", "id", it.ID.String(), "kind", c.Kind, "err", err)
	}
	return ferr == nil || errors.Is(ferr, store.ErrNotFound), ignoreNotFound(ferr)
}

func ignoreNotFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// ChangePerson is UpdatePerson with the changes held as data (see
// Changes): the ingestion of profile calls (an identify) and hosts that
// receive changes as data use it. It returns the saved person.
func (e *Engine) ChangePerson(ctx context.Context, who store.PersonRef, c Changes) (*store.Person, error) {
	return e.UpdatePerson(ctx, who, func(p *store.Person) error { return c.apply(p, e.cfg.Schema) })
}

// Schema returns a copy of Config.Schema: the custom attributes people
// may have, with their types.
func (e *Engine) Schema() store.Schema {
	out := make(store.Schema, len(e.cfg.Schema))
	for k, v := range e.cfg.Schema {
		out[k] = v
	}
	return out
}

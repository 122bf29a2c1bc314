package flow

// Bulk operations cancel or retry a flow's participants. An operation
// looks at the participants it selects once, page by page in ID order,
// and changes each in its own person's transaction, where it reads the
// participant again: one that stepped on, left or no longer matches
// meanwhile is skipped. After each page the operation's run
// (store.OperationRuns) moves its cursor on and adds to its counts, so
// that an operation interrupted (a crash, a canceled ctx) goes on where
// it stopped when Operate is called again with its name, by any process.
//
// Each participant an operation changes names it in
// store.Participant.Operations, and counts it in the operation's counter
// (ElementStats.Other["operation:<name>"]), in the transaction that
// changes it: a page looked at again after a crash, or by two processes
// at once, finds the name and changes no one twice, and the run's Changed
// is read from the counter, so it counts each participant once whoever
// changed it.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

// Action is what a bulk operation does with the participants it selects.
type Action string

// The actions of bulk operations.
const (
	// Cancel takes participants out of their flow with status Canceled,
	// wherever they are: waiting, between steps or in a step calling
	// outside (whose result is then dropped). A participant an audience
	// or date entry created that has not entered yet is removed.
	Cancel Action = "cancel"
	// Retry puts failed participants back at the element that failed and
	// runs it again, on their own version or a newer one
	// (Operation.ToVersion). A step that calls outside gets a new
	// idempotency key: the failed attempt was answered, with an error,
	// and a service that keeps answers by key would give the same error
	// back for the old one.
	Retry Action = "retry"
)

// Selection picks the participants of a flow a bulk operation acts on.
// Its zero value selects every participant the action applies to.
type Selection struct {
	// Version selects one version's participants. Defaults to 0: every
	// version.
	Version int `json:"version,omitempty"`
	// Element selects participants at (or, when they left, last at) this
	// element. Defaults to "": any.
	Element string `json:"element,omitempty"`
	// Statuses selects participants by status. Defaults to the statuses
	// the action applies to, which are also the only ones it accepts:
	// active, waiting and in flight for Cancel; failed for Retry.
	Statuses []store.Status `json:"statuses,omitempty"`
	// Reason selects participants whose Reason (for a failed one, the
	// failure) contains this text. Defaults to "": any.
	Reason string `json:"reason,omitempty"`
	// Person selects one person's participants. Defaults to everyone.
	Person store.PersonRef `json:"person,omitzero"`
	// Participant selects one participant, as a console's action on a
	// participant does. Defaults to uuid.Nil: any.
	Participant uuid.UUID `json:"participant,omitzero"`
}

// Operation asks Operate to cancel or retry participants of a flow.
type Operation struct {
	// Name names the operation within its flow; it is stored with every
	// participant the operation changes (store.Participant.Operations).
	// Operate with a name it ran before goes on where that run stopped, or
	// returns its report when it finished; a new operation needs a new
	// name. Required; at most 200 bytes.
	Name string
	// FlowID is the flow. Required.
	FlowID string
	// Action is Cancel or Retry. Required.
	Action Action
	// Select picks the participants.
	Select Selection
	// ToVersion, for Retry, is the version participants are retried on:
	// the element of the same id in it runs. It must not be older than a
	// participant's own version (such a participant is refused).
	// Defaults to 0: each participant's own version.
	ToVersion int
	// DryRun reports what the operation would do and changes nothing;
	// it keeps no run and needs no Name.
	DryRun bool
	// MaxRows caps the report's Rows. Defaults to 1000; negative for no
	// rows.
	MaxRows int
	// PageSize is how many participants the operation reads and changes
	// between two saves of its progress. Defaults to 1000.
	PageSize int
	// Progress, when set, is called after each page with the operation's
	// counts so far (on a dry run, of this call).
	Progress func(OperationProgress)
}

// OperationProgress is how far an operation has come.
type OperationProgress struct {
	// Total is how many participants the operation selected when it
	// began. Scanned counts those of them looked at (with the
	// participants the store's listing returned that the selection then
	// left out), Changed those canceled or retried, Refused those the
	// operation could not change.
	Total, Scanned, Changed, Refused int64
	// Done is set once every participant was looked at.
	Done bool
}

// OperationOutcome is what an operation did with one participant.
type OperationOutcome string

// The operation outcomes.
const (
	// OperationCanceled: the participant left its flow, canceled.
	OperationCanceled OperationOutcome = "canceled"
	// OperationRetried: the participant runs again from the failed element.
	OperationRetried OperationOutcome = "retried"
	// OperationRefused: the participant stays as it was; Reason says why.
	OperationRefused OperationOutcome = "refused"
)

// OperationRow is what an operation did, or would do, with one
// participant.
type OperationRow struct {
	Participant uuid.UUID
	Person      uuid.UUID
	Outcome     OperationOutcome
	// Version and Element are where the participant was; for a retried
	// one, where it runs again.
	Version int
	Element string
	// Reason says why a participant was refused; "" otherwise.
	Reason string
}

// OperationReport is what Operate did, or would do on a dry run.
type OperationReport struct {
	Name   string
	Action Action
	DryRun bool
	// Resumed is set when the call went on from where an earlier call of
	// the same operation stopped (or found it finished).
	Resumed bool
	// OperationProgress holds the counts of the whole operation, earlier
	// calls included; on a dry run, of this call.
	OperationProgress
	// Refusals counts the participants this call refused, by reason.
	Refusals map[string]int
	// Rows are the participants this call changed or refused, in id
	// order, up to Operation.MaxRows.
	Rows []OperationRow
	// Truncated is set when Rows left participants out.
	Truncated bool
}

// OperationError is an Operation that Operate refuses before it changes
// anyone: it names the field at fault ("Select.Statuses").
type OperationError struct {
	Field string
	Err   error
}

// Error names the field, then the problem.
func (e *OperationError) Error() string { return "operation: " + e.Field + ": " + e.Err.Error() }

// Unwrap returns Err.
func (e *OperationError) Unwrap() error { return e.Err }

// maxOperationName bounds an operation's name, which every participant
// it changes keeps.
const maxOperationName = 200

// keptOperations is how many operation names a participant keeps.
const keptOperations = 8

// Counter keys of bulk operations, in ElementStats.Other.
const (
	keyCanceled = "canceled"
	keyRetried  = "retried"
	// keyOperation + an operation's name counts the participants it
	// changed, at the element each was at.
	keyOperation = "operation:"
)

// operationSpec is what a run stores of its operation, to check that a
// resumed call is the same operation.
type operationSpec struct {
	Action    Action    `json:"action"`
	Select    Selection `json:"select"`
	ToVersion int       `json:"toVersion,omitempty"`
}

// operator carries out one Operation.
type operator struct {
	e      *Engine
	op     *Operation
	person uuid.UUID // the selected person, uuid.Nil for everyone
}

// Operate cancels or retries the participants of a flow that op selects,
// each in its own person's transaction, while events and ticks go on; it
// returns a report with counts over the whole operation and a row per
// participant this call changed or refused. It needs a store that keeps
// operation runs (store.OperationRuns), as the memory and PostgreSQL
// stores do.
//
// An operation is idempotent and resumable: Operate with the name of an
// operation that stopped (a crash, a canceled ctx, a store error) goes on
// where it stopped, in any process, and with the name of one that
// finished returns its counts and changes nothing. Each participant is
// changed at most once by one operation, however many processes run it
// at once. A participant that moved on since it was listed (stepped on,
// left, no longer matches) is skipped.
//
// Retry runs the element a participant failed at again, on its version
// or op.ToVersion (refused when that version lacks the element or is
// older than the participant's): the participant is in the flow again
// (status active), its journal names the operation, and the step runs at
// once; a step that calls outside is made after the participant's
// transaction commits, with a new idempotency key (see Retry), several
// at once up to Config.EffectConcurrency. Retry needs an active flow.
//
// Operate checks op before anything changes and returns an
// *OperationError (joined, one per problem) naming the field at fault.
// On a store error it returns the report so far with the error.
func (e *Engine) Operate(ctx context.Context, op Operation) (*OperationReport, error) {
	o, err := e.prepareOperation(ctx, &op)
	if err != nil {
		return nil, err
	}
	rep := &OperationReport{Name: op.Name, Action: op.Action, DryRun: op.DryRun, Refusals: map[string]int{}}
	maxRows := op.MaxRows
	if maxRows == 0 {
		maxRows = 1000
	}
	if op.DryRun {
		return rep, o.dryRun(ctx, rep, maxRows)
	}
	runs, _ := e.store.(store.OperationRuns)
	run, resumed, err := o.start(ctx, runs)
	if err != nil {
		return nil, err
	}
	rep.Resumed = resumed
	rep.OperationProgress = progressOf(run)
	for !run.Done {
		page, err := o.page(ctx, run.Cursor)
		if err != nil {
			return rep, err
		}
		// The page's calls outside overlap, and are made before the
		// operation moves on.
		pf := e.newPerformer(ctx)
		var refused int64
		ds, err := o.work(ctx, page, pf)
		for _, d := range ds {
			if d.counted == OperationRefused {
				refused++
			}
			rep.add(d.row, maxRows)
		}
		if err != nil {
			_ = pf.wait()
			return rep, fmt.Errorf("operation %q: %w", op.Name, err)
		}
		if err := pf.wait(); err != nil {
			return rep, err
		}
		// Changed comes from the operation's counters, which count each
		// participant once as it changes: a page done again after a
		// crash does not list those the crashed call changed.
		changed, err := o.changedSoFar(ctx)
		if err != nil {
			return rep, err
		}
		next := store.AdvanceOperationRunParams{RunID: run.ID, From: run.Cursor, Scanned: int64(len(page)),
			Changed: max(0, changed-run.Changed), Refused: refused, Done: len(page) < o.pageSize(), FinishedAt: e.Now()}
		next.To = run.Cursor
		if len(page) > 0 {
			next.To = page[len(page)-1].ID
		}
		err = runs.AdvanceOperationRun(ctx, &next)
		if errors.Is(err, store.ErrConflict) {
			// Another caller of the same operation saved this page
			// first: go on from where it is.
			run, err = runs.OperationRun(ctx, run.ID)
		} else if err == nil {
			run.Cursor, run.Done = next.To, next.Done
			run.Scanned += next.Scanned
			run.Changed += next.Changed
			run.Refused += refused
		}
		if err != nil {
			return rep, err
		}
		rep.OperationProgress = progressOf(run)
		if op.Progress != nil {
			op.Progress(rep.OperationProgress)
		}
	}
	return rep, nil
}

func progressOf(r *store.OperationRun) OperationProgress {
	return OperationProgress{Total: r.Total, Scanned: r.Scanned, Changed: r.Changed, Refused: r.Refused, Done: r.Done}
}

// Operations returns the runs of a flow's bulk operations, oldest first,
// with their progress.
func (e *Engine) Operations(ctx context.Context, flowID string) ([]*store.OperationRun, error) {
	runs, ok := e.store.(store.OperationRuns)
	if !ok {
		return nil, fmt.Errorf("flow: the store (%T) keeps no operation runs (store.OperationRuns)", e.store)
	}
	return runs.OperationRuns(ctx, &store.OperationRunQuery{FlowID: flowID})
}

// operationRunID names an operation's run.
func operationRunID(flowID, name string) uuid.UUID {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte("flowkit:operation:"+flowID+":"+name))
}

// prepareOperation checks op and fills in its defaults.
func (e *Engine) prepareOperation(ctx context.Context, op *Operation) (*operator, error) {
	var bad []error
	add := func(field string, err error) { bad = append(bad, &OperationError{Field: field, Err: err}) }
	if _, ok := e.store.(store.OperationRuns); !ok && !op.DryRun {
		return nil, fmt.Errorf("flow: the store (%T) keeps no operation runs (store.OperationRuns), which Operate needs", e.store)
	}
	switch {
	case op.Name == "" && !op.DryRun:
		add("Name", errors.New("name is missing: an operation needs a name to be resumed by"))
	case len(op.Name) > maxOperationName:
		add("Name", tooLong(len(op.Name), maxOperationName))
	}
	if op.FlowID == "" {
		add("FlowID", errors.New("flow id is missing"))
	}
	var allowed []store.Status
	switch op.Action {
	case Cancel:
		allowed = []store.Status{store.Active, store.Waiting, store.InFlight}
		if op.ToVersion != 0 {
			add("ToVersion", errors.New("only Retry moves participants to another version"))
		}
	case Retry:
		allowed = []store.Status{store.Failed}
	default:
		add("Action", fmt.Errorf("unknown action %q (use Cancel or Retry)", op.Action))
	}
	for _, st := range op.Select.Statuses {
		if allowed != nil && !slices.Contains(allowed, st) {
			add("Select.Statuses", fmt.Errorf("%s cannot act on %s participants (it acts on %s)", op.Action, st, statusList(allowed)))
		}
	}
	if len(op.Select.Statuses) == 0 {
		op.Select.Statuses = allowed
	}
	if len(op.Select.Element) > e.cfg.Limits.MaxStringBytes {
		add("Select.Element", tooLong(len(op.Select.Element), e.cfg.Limits.MaxStringBytes))
	}
	if len(op.Select.Reason) > e.cfg.Limits.MaxStringBytes {
		add("Select.Reason", tooLong(len(op.Select.Reason), e.cfg.Limits.MaxStringBytes))
	}
	if op.PageSize < 0 {
		add("PageSize", fmt.Errorf("%d is negative", op.PageSize))
	}
	if len(bad) > 0 {
		return nil, errors.Join(bad...)
	}
	st, err := e.store.Flow(ctx, op.FlowID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &OperationError{Field: "FlowID", Err: fmt.Errorf("flow %q does not exist: %w", op.FlowID, store.ErrNotFound)}
	}
	if err != nil {
		return nil, err
	}
	for _, v := range []struct {
		field   string
		version int
	}{{"Select.Version", op.Select.Version}, {"ToVersion", op.ToVersion}} {
		if v.version < 0 || v.version > st.Latest {
			add(v.field, fmt.Errorf("flow %q has no version %d: its latest is %d", op.FlowID, v.version, st.Latest))
		}
	}
	if op.Action == Retry && st.Status != store.FlowActive {
		add("FlowID", fmt.Errorf("flow %q is %s: retried participants run again only in an active flow: %w", op.FlowID, st.Status, ErrFlowNotActive))
	}
	if len(bad) > 0 {
		return nil, errors.Join(bad...)
	}
	o := &operator{e: e, op: op}
	if op.Select.Participant != uuid.Nil {
		p, err := e.store.Participant(ctx, op.Select.Participant)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil, &OperationError{Field: "Select.Participant", Err: err}
		case err != nil:
			return nil, err
		case p.FlowID != op.FlowID:
			return nil, &OperationError{Field: "Select.Participant", Err: fmt.Errorf("participant %s is in flow %q, not %q", p.ID, p.FlowID, op.FlowID)}
		}
		o.person = p.PersonID
	}
	if !op.Select.Person.IsZero() {
		person, err := e.findPerson(ctx, op.Select.Person)
		if err != nil {
			var ie *InputError
			if errors.As(err, &ie) {
				return nil, &OperationError{Field: "Select.Person", Err: err}
			}
			return nil, err
		}
		if o.person != uuid.Nil && o.person != person {
			return nil, &OperationError{Field: "Select.Participant", Err: errors.New("the participant is not the selected person's")}
		}
		o.person = person
	}
	if op.ToVersion > 0 {
		if _, err := e.compiled(ctx, op.FlowID, op.ToVersion); err != nil {
			return nil, err
		}
	}
	return o, nil
}

func statusList(sts []store.Status) string {
	s := make([]string, len(sts))
	for i, st := range sts {
		s[i] = string(st)
	}
	return strings.Join(s, ", ")
}

func (o *operator) pageSize() int {
	if o.op.PageSize > 0 {
		return o.op.PageSize
	}
	return 1000
}

func (o *operator) spec() []byte {
	b, _ := json.Marshal(operationSpec{Action: o.op.Action, Select: o.op.Select, ToVersion: o.op.ToVersion})
	return b
}

// start returns the operation's run, created when it does not exist
// (resumed false), or found, with the same spec.
func (o *operator) start(ctx context.Context, runs store.OperationRuns) (run *store.OperationRun, resumed bool, err error) {
	id := operationRunID(o.op.FlowID, o.op.Name)
	for range 2 {
		run, err = runs.OperationRun(ctx, id)
		if err == nil {
			if !bytes.Equal(run.Spec, o.spec()) {
				return nil, false, &OperationError{Field: "Name", Err: fmt.Errorf("operation %q of flow %q ran with another action or selection (%s): give a new operation a new name", o.op.Name, o.op.FlowID, run.Spec)}
			}
			return run, true, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, false, err
		}
		var total int64
		if total, err = o.count(ctx); err != nil {
			return nil, false, err
		}
		run = &store.OperationRun{ID: id, Name: o.op.Name, FlowID: o.op.FlowID, Spec: o.spec(), StartedAt: o.e.Now(), Total: total}
		err = runs.CreateOperationRun(ctx, run)
		if err == nil {
			return run, false, nil
		}
		if !errors.Is(err, store.ErrDuplicate) {
			return nil, false, err
		}
		// Another process started it meanwhile: take its run.
	}
	return nil, false, err
}

// count counts the participants the operation selects now.
func (o *operator) count(ctx context.Context) (int64, error) {
	var n int64
	cursor := uuid.Nil
	for {
		page, err := o.page(ctx, cursor)
		if err != nil {
			return 0, err
		}
		for _, p := range page {
			if o.selects(p) {
				n++
			}
		}
		if len(page) < o.pageSize() {
			return n, nil
		}
		cursor = page[len(page)-1].ID
	}
}

// page returns the participants after cursor that the store selects for
// the operation, in ID order, up to a page.
func (o *operator) page(ctx context.Context, cursor uuid.UUID) ([]*store.Participant, error) {
	sel := &o.op.Select
	if o.person == uuid.Nil {
		return o.e.store.Participants(ctx, &store.ParticipantQuery{FlowID: o.op.FlowID, Statuses: sel.Statuses,
			Element: sel.Element, After: cursor, Limit: o.pageSize()})
	}
	var out []*store.Participant
	err := o.e.store.Update(ctx, o.person, func(tx store.Tx) error {
		parts, err := tx.Participants()
		if err != nil {
			return err
		}
		for _, p := range parts {
			if p.FlowID == o.op.FlowID && bytes.Compare(p.ID[:], cursor[:]) > 0 && o.selects(p) {
				out = append(out, p)
			}
		}
		return nil
	})
	slices.SortFunc(out, func(a, b *store.Participant) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	return out[:min(len(out), o.pageSize())], err
}

// selects reports whether the operation's selection takes p, as it is.
func (o *operator) selects(p *store.Participant) bool {
	sel := &o.op.Select
	return p.FlowID == o.op.FlowID &&
		(sel.Version == 0 || p.FlowVersion == sel.Version) &&
		(sel.Element == "" || p.Element == sel.Element) &&
		slices.Contains(sel.Statuses, p.Status) &&
		(sel.Reason == "" || strings.Contains(p.Reason, sel.Reason)) &&
		(o.person == uuid.Nil || p.PersonID == o.person) &&
		(sel.Participant == uuid.Nil || p.ID == sel.Participant)
}

// dryRun reports what the operation would do with each participant it
// selects, as they are listed.
func (o *operator) dryRun(ctx context.Context, rep *OperationReport, maxRows int) error {
	cursor := uuid.Nil
	for {
		page, err := o.page(ctx, cursor)
		if err != nil {
			return err
		}
		cat, err := o.e.flowStates(ctx)
		if err != nil {
			return err
		}
		for _, p := range page {
			rep.Scanned++
			if !o.selects(p) {
				continue
			}
			row, err := o.decide(cat, p, func(id string, v int) (*compiled, error) { return o.e.compiled(ctx, id, v) })
			if err != nil {
				return err
			}
			if row.Outcome == OperationRefused {
				rep.Refused++
			} else {
				rep.Changed++
			}
			rep.add(row, maxRows)
		}
		rep.Total = rep.Changed + rep.Refused
		done := len(page) < o.pageSize()
		if o.op.Progress != nil {
			o.op.Progress(OperationProgress{Total: rep.Total, Scanned: rep.Scanned, Changed: rep.Changed, Refused: rep.Refused, Done: done})
		}
		if done {
			rep.Done = true
			return nil
		}
		cursor = page[len(page)-1].ID
	}
}

// add notes one participant's row.
func (r *OperationReport) add(row *OperationRow, maxRows int) {
	if row == nil {
		return
	}
	if row.Outcome == OperationRefused {
		r.Refusals[row.Reason]++
	}
	if len(r.Rows) < maxRows {
		r.Rows = append(r.Rows, *row)
	} else {
		r.Truncated = true
	}
}

// decide returns what the operation does with p: its row, refused with
// the reason or changed, and for a retry the version it runs on (in the
// row's Version). It reads flows' states from cat and versions by
// compiled, and no person's records.
func (o *operator) decide(cat *catalogSnapshot, p *store.Participant, compiled func(flowID string, version int) (*compiled, error)) (*OperationRow, error) {
	row := &OperationRow{Participant: p.ID, Person: p.PersonID, Version: p.FlowVersion, Element: p.Element}
	if o.op.Action == Cancel {
		row.Outcome = OperationCanceled
		return row, nil
	}
	refuse := func(format string, args ...any) (*OperationRow, error) {
		row.Outcome, row.Reason = OperationRefused, fmt.Sprintf(format, args...)
		return row, nil
	}
	if st := cat.status(p.FlowID); st != store.FlowActive {
		return refuse("flow %q is %s", p.FlowID, st)
	}
	to := o.op.ToVersion
	if to == 0 {
		to = p.FlowVersion
	}
	if to < p.FlowVersion {
		return refuse("version %d is older than the participant's version %d", to, p.FlowVersion)
	}
	c, err := compiled(p.FlowID, to)
	if err != nil {
		return nil, err
	}
	if c.nodes[p.Element] == nil {
		return refuse("element %q is not in version %d", p.Element, to)
	}
	row.Outcome, row.Version = OperationRetried, to
	return row, nil
}

// one carries out the operation on one listed participant in its
// person's transaction. It returns the row (nil for a participant the
// selection does not take, or that this operation changed before) and
// how the participant counts for the page: changed (now or before, by
// this operation), refused, or "" for neither.
func (o *operator) one(ctx context.Context, listed *store.Participant, pf *performer) (*OperationRow, OperationOutcome, error) {
	if slices.Contains(listed.Operations, o.op.Name) {
		return nil, o.changed(), nil // changed before a crash, or by another process
	}
	if !o.selects(listed) {
		return nil, "", nil
	}
	var d done
	var effects []effect
	if err := o.e.run(ctx, listed.PersonID, o.change(listed.ID, &d), call{effects: &effects}); err != nil {
		return nil, "", err
	}
	pf.start(effects)
	return d.row, d.counted, nil
}

// done is what change did with one participant.
type done struct {
	row     *OperationRow
	counted OperationOutcome
}

// change returns the session function that carries out the operation on
// participant id, noting what it did in d.
func (o *operator) change(id uuid.UUID, d *done) func(*session) error {
	return func(s *session) error {
		*d = done{}
		p, err := s.ptx.participant(id)
		if err != nil || p == nil {
			return err
		}
		if slices.Contains(p.Operations, o.op.Name) {
			d.counted = o.changed()
			return nil
		}
		if !o.selects(p) {
			return nil
		}
		row, err := o.decide(s.cat, p, s.e.cached)
		if err != nil {
			return err
		}
		d.row, d.counted = row, row.Outcome
		if row.Outcome == OperationRefused {
			return nil
		}
		at, err := s.e.cached(p.FlowID, p.FlowVersion)
		if err != nil {
			return err
		}
		s.count(at, p.Element, o.counterKey())
		if pending(p) {
			return s.ptx.drop(p) // created by bulk entry, not entered: nothing to leave
		}
		markOperation(p, o.op.Name)
		if o.op.Action == Cancel {
			s.count(at, p.Element, keyCanceled)
			return s.leave(at, p, store.Canceled, fmt.Sprintf("canceled by operation %q", o.op.Name))
		}
		return o.retry(s, p, row)
	}
}

// batch carries out the operation on listed participants of distinct
// people in one store.BatchUpdater batch, as Tick fires timers, and
// starts the calls outside their steps put in flight. A participant
// whose transaction failed in the batch is done alone (see one).
func (o *operator) batch(ctx context.Context, bu store.BatchUpdater, listed []*store.Participant, cat *catalogSnapshot, pf *performer) ([]done, error) {
	ds := make([]done, len(listed))
	effects := make([][]effect, len(listed))
	sessions := make([]*session, len(listed))
	ids := make([]uuid.UUID, len(listed))
	for i, p := range listed {
		ids[i] = p.PersonID
		sessions[i] = o.e.newSession(ctx, p.PersonID, o.change(p.ID, &ds[i]), call{cat: cat, effects: &effects[i]})
	}
	defer func() {
		for _, s := range sessions {
			s.release()
		}
	}()
	errs, err := bu.UpdateBatch(ctx, ids, func(i int, tx store.Tx) error { return sessions[i].inTx(tx) })
	for i, p := range listed {
		if err == nil && errs[i] == nil {
			if ferr := sessions[i].finish(); ferr != nil {
				return ds, ferr
			}
			pf.start(effects[i])
			continue
		}
		row, counted, oerr := o.one(ctx, p, pf)
		if oerr != nil {
			return ds, fmt.Errorf("participant %s: %w", p.ID, oerr)
		}
		ds[i] = done{row, counted}
	}
	return ds, nil
}

// work carries out the operation on a page, in batches of distinct
// people where the store commits batches (store.BatchUpdater), and
// returns what it did with each participant the page lists.
func (o *operator) work(ctx context.Context, page []*store.Participant, pf *performer) ([]done, error) {
	bu, perPerson := o.e.batchUpdater()
	out := make([]done, 0, len(page))
	var todo []*store.Participant
	flush := func() error {
		if len(todo) == 0 {
			return nil
		}
		var ds []done
		var err error
		if perPerson || len(todo) == 1 {
			for _, p := range todo {
				row, counted, err := o.one(ctx, p, pf)
				if err != nil {
					return fmt.Errorf("participant %s: %w", p.ID, err)
				}
				ds = append(ds, done{row, counted})
			}
		} else {
			cat, cerr := o.e.flowStates(ctx)
			if cerr != nil {
				return cerr
			}
			ds, err = o.batch(ctx, bu, todo, cat, pf)
		}
		out = append(out, ds...)
		todo = todo[:0]
		return err
	}
	people := map[uuid.UUID]bool{}
	for _, p := range page {
		switch {
		case slices.Contains(p.Operations, o.op.Name):
			out = append(out, done{counted: o.changed()}) // changed before a crash, or by another process
			continue
		case !o.selects(p):
			continue
		case people[p.PersonID] || len(todo) == batchPeople:
			if err := flush(); err != nil {
				return out, err
			}
			clear(people)
		}
		people[p.PersonID] = true
		todo = append(todo, p)
	}
	return out, flush()
}

// counterKey is the counter of the participants the operation changed,
// at the element and version each was at: committed with each change,
// so that it counts each once, whatever crashed in between.
func (o *operator) counterKey() string { return keyOperation + o.op.Name }

// changedSoFar sums the operation's counters over the flow.
func (o *operator) changedSoFar(ctx context.Context) (int64, error) {
	counters, err := o.e.store.Counters(ctx, o.op.FlowID)
	if err != nil {
		return 0, err
	}
	key := o.counterKey()
	var n int64
	for _, c := range counters {
		if c.Key == key {
			n += c.N
		}
	}
	return n, nil
}

// changed is the outcome of a participant this operation changed.
func (o *operator) changed() OperationOutcome {
	if o.op.Action == Cancel {
		return OperationCanceled
	}
	return OperationRetried
}

// markOperation names the operation in p's Operations, keeping the most
// recent few.
func markOperation(p *store.Participant, name string) {
	ops := append(slices.Clip(p.Operations), name)
	p.Operations = ops[max(0, len(ops)-keptOperations):]
}

// retry puts a failed participant back at its element, on the row's
// version, and runs it on.
func (o *operator) retry(s *session, p *store.Participant, row *OperationRow) error {
	c, err := s.e.cached(p.FlowID, row.Version)
	if err != nil {
		return err
	}
	from := p.FlowVersion
	why := p.Reason
	p.FlowVersion = row.Version
	p.Status, p.Reason, p.ExitedAt = store.Active, "", time.Time{}
	p.Wait, p.Effect = nil, nil
	p.ArrivedAt, p.LastActivityAt = s.now, s.now
	on := ""
	if from != row.Version {
		on = " of version " + strconv.Itoa(row.Version)
	}
	s.journal(p, p.Element, "", fmt.Sprintf("retried by operation %q at element %s%s (it had failed: %s)", o.op.Name, p.Element, on, why))
	s.count(c, p.Element, keyEntered)
	s.count(c, p.Element, keyRetried)
	s.ptx.dirty(p)
	return s.advance(c, p, nil)
}

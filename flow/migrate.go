package flow

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/flowkit/flowkit/internal/clone"
	"github.com/flowkit/flowkit/internal/suggest"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

// Migration asks Migrate to move the participants of one version of a flow
// to another version of it.
type Migration struct {
	// FlowID is the flow. Required.
	FlowID string
	// From is the version whose participants move. Required.
	From int
	// To is the published version they move to. Required; not From.
	To int
	// Map maps element ids of From to element ids of To. An element of
	// From that Map leaves out maps to the element of To with the same id,
	// when To has one. Defaults to none: every element maps to its own id.
	Map map[string]string
	// ExitUnmapped makes participants at an element with no place in To
	// leave the flow (status Completed, the reason naming the migration)
	// instead of being refused. Defaults to false: they stay where they
	// are.
	ExitUnmapped bool
	// DryRun reports what a migration would do and changes nothing.
	DryRun bool
	// MaxRows caps the report's Rows; the counts cover everyone. Defaults
	// to 1000; negative for no rows.
	MaxRows int
}

// MigrationOutcome is what a migration did with one participant.
type MigrationOutcome string

// The migration outcomes.
const (
	// MigrationMoved: the participant is on version To now.
	MigrationMoved MigrationOutcome = "moved"
	// MigrationRefused: the participant stays where it was, on version
	// From; Reason says why.
	MigrationRefused MigrationOutcome = "refused"
	// MigrationExited: the participant's position had no place in To and
	// Migration.ExitUnmapped made it leave the flow.
	MigrationExited MigrationOutcome = "exited"
)

// MigrationRow is what a migration did, or would do, with one participant.
type MigrationRow struct {
	Participant uuid.UUID
	Person      uuid.UUID
	Outcome     MigrationOutcome
	// From is the element of version From the participant was at.
	From string
	// To is the element of version To it moved to; "" unless moved.
	To string
	// Reason says why it did not move; "" when it moved.
	Reason string
}

// MigrationMove names a move from an element of version From to one of
// version To.
type MigrationMove struct{ From, To string }

// MigrationReport is what Migrate did, or would do on a dry run: counts
// over every participant of version From, and the first rows one per
// participant, in participant id order.
type MigrationReport struct {
	DryRun bool
	// Moved, Refused and Exited count the participants by outcome.
	Moved, Refused, Exited int
	// Skipped counts participants that left the flow or its version From
	// (on a step of their own) between being listed and their turn.
	Skipped int
	// Moves counts the moved participants by element of From and To.
	Moves map[MigrationMove]int
	// Refusals counts the refused participants by reason.
	Refusals map[string]int
	// Exits counts the exited participants by element of From.
	Exits map[string]int
	// Rows are the first participants handled, up to Migration.MaxRows.
	Rows []MigrationRow
	// Truncated is set when Rows left participants out.
	Truncated bool
}

// MigrationError is a Migration that Migrate refuses before anyone moves:
// it names the field at fault ("From", `Map["wait"]`).
type MigrationError struct {
	Field string
	Err   error
}

// Error names the field, then the problem.
func (e *MigrationError) Error() string { return "migration: " + e.Field + ": " + e.Err.Error() }

// Unwrap returns Err.
func (e *MigrationError) Unwrap() error { return e.Err }

// The reason Migrate refuses participants in a step that calls outside.
const reasonInFlight = "in flight"

// Counter keys of migrations, in ElementStats.Other: participants that
// left an element of their version for another version, and that came to
// an element from another version.
const (
	keyMigratedOut = "migratedOut"
	keyMigratedIn  = "migratedIn"
)

// Migrate moves the participants of version m.From of a flow to version
// m.To, while events and ticks go on: each participant moves in its own
// person's transaction, re-read there, so a participant that leaves or
// steps on meanwhile is never lost or moved twice. Migrating again goes on
// where a failed or partial migration stopped: moved participants are not
// on From any more.
//
// A participant moves to the element of To that m.Map names for its
// element, or that has its element's id. It keeps its variables, its
// entry and its arrival time. A waiting participant needs a waiting
// element in To (Pause, Wait for Event, Wait for Change, Wait for a
// Date): its wait is re-armed under that element's configuration as of
// its arrival, so "wait 3 days" in To counts from when it reached the
// element of From (a wait already over fires at the next tick). Events
// that came before the migration do not wake it, except as the element
// looks back itself (Wait for Event's IncludeFromEntrance).
//
// A participant is refused, and stays where it is, when it is in flight
// (in a step that calls outside: migrate again once it has its result) or
// waits for its turn to make such a call (Send Message in quiet hours,
// Call API outside its sending window), when its position has no place
// in To (no element, or for a waiting participant an element of its id
// that is no waiting kind; m.ExitUnmapped makes these leave the flow
// instead), or when the element of To would not wait from its arrival (a
// Pause until a day already reached). Re-arming runs the To element's
// step at the arrival time only to compute the wait: what else the step
// records is dropped.
//
// Migrate checks m before anything moves and returns a *MigrationError
// (joined, one per problem) naming the field at fault; a version that
// does not exist wraps store.ErrNotFound. On a store error it returns the
// report so far with the error.
func (e *Engine) Migrate(ctx context.Context, m Migration) (*MigrationReport, error) {
	mg, err := e.prepareMigration(ctx, &m)
	if err != nil {
		return nil, err
	}
	rep := &MigrationReport{DryRun: m.DryRun, Moves: map[MigrationMove]int{}, Refusals: map[string]int{}, Exits: map[string]int{}}
	maxRows := m.MaxRows
	if maxRows == 0 {
		maxRows = 1000
	}
	q := &store.ParticipantQuery{FlowID: m.FlowID, Statuses: []store.Status{store.Active, store.Waiting, store.InFlight}, Limit: 1000}
	for {
		page, err := e.store.Participants(ctx, q)
		if err != nil {
			return rep, err
		}
		// One read of the flows' states serves the page, as for a tick.
		cat, err := e.flowStates(ctx)
		if err != nil {
			return rep, err
		}
		for _, p := range page {
			if p.FlowVersion != m.From {
				continue
			}
			var row MigrationRow
			var skipped bool
			err := e.run(ctx, p.PersonID, func(s *session) (err error) {
				row, skipped, err = mg.one(s, p.ID)
				return err
			}, call{cat: cat})
			if err != nil {
				return rep, fmt.Errorf("migration: participant %s: %w", p.ID, err)
			}
			rep.add(row, skipped, maxRows)
		}
		if len(page) < q.Limit {
			return rep, nil
		}
		q.After = page[len(page)-1].ID
	}
}

// add counts one participant's row.
func (r *MigrationReport) add(row MigrationRow, skipped bool, maxRows int) {
	if skipped {
		r.Skipped++
		return
	}
	switch row.Outcome {
	case MigrationMoved:
		r.Moved++
		r.Moves[MigrationMove{row.From, row.To}]++
	case MigrationRefused:
		r.Refused++
		r.Refusals[row.Reason]++
	case MigrationExited:
		r.Exited++
		r.Exits[row.From]++
	}
	if len(r.Rows) < maxRows {
		r.Rows = append(r.Rows, row)
	} else {
		r.Truncated = true
	}
}

// migrator carries out one Migration.
type migrator struct {
	m        *Migration
	from, to *compiled
}

// prepareMigration checks m and compiles both versions, so that no
// participant's transaction waits for a compilation.
func (e *Engine) prepareMigration(ctx context.Context, m *Migration) (*migrator, error) {
	var bad []error
	add := func(field string, err error) { bad = append(bad, &MigrationError{Field: field, Err: err}) }
	if m.FlowID == "" {
		add("FlowID", errors.New("flow id is missing"))
	}
	if m.From < 1 {
		add("From", fmt.Errorf("version %d is not a version number: versions count from 1", m.From))
	}
	if m.To < 1 {
		add("To", fmt.Errorf("version %d is not a version number: versions count from 1", m.To))
	}
	if m.From == m.To && m.From >= 1 {
		add("To", fmt.Errorf("version %d is the version migrated from", m.To))
	}
	if len(bad) > 0 {
		return nil, errors.Join(bad...)
	}
	st, err := e.store.Flow(ctx, m.FlowID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &MigrationError{Field: "FlowID", Err: fmt.Errorf("flow %q does not exist: %w", m.FlowID, store.ErrNotFound)}
	}
	if err != nil {
		return nil, err
	}
	for _, v := range []struct {
		field   string
		version int
	}{{"From", m.From}, {"To", m.To}} {
		if v.version > st.Latest {
			add(v.field, fmt.Errorf("flow %q has no version %d: its latest is %d: %w", m.FlowID, v.version, st.Latest, store.ErrNotFound))
		}
	}
	if len(bad) > 0 {
		return nil, errors.Join(bad...)
	}
	mg := &migrator{m: m}
	if mg.from, err = e.compiled(ctx, m.FlowID, m.From); err != nil {
		return nil, err
	}
	if mg.to, err = e.compiled(ctx, m.FlowID, m.To); err != nil {
		return nil, err
	}
	for _, id := range slices.Sorted(maps.Keys(m.Map)) {
		field := fmt.Sprintf("Map[%q]", id)
		fromNode := mg.from.nodes[id]
		if fromNode == nil {
			add(field, fmt.Errorf("element %q is not in version %d%s", id, m.From, suggest.DidYouMean(id, elementIDs(mg.from))))
		}
		target := m.Map[id]
		toNode := mg.to.nodes[target]
		if toNode == nil {
			add(field, fmt.Errorf("element %q is not in version %d%s", target, m.To, suggest.DidYouMean(target, elementIDs(mg.to))))
		}
		if fromNode != nil && toNode != nil && holdsWait(fromNode) && !holdsWait(toNode) {
			add(field, fmt.Errorf("element %q of version %d is %s, which cannot hold the participants waiting at %s %q",
				target, m.To, toNode.element.Kind(), fromNode.element.Kind(), id))
		}
	}
	if len(bad) > 0 {
		return nil, errors.Join(bad...)
	}
	return mg, nil
}

// elementIDs lists a version's element ids in document order.
func elementIDs(c *compiled) []string {
	out := make([]string, len(c.flow.Elements))
	for i, n := range c.flow.Elements {
		out[i] = n.ID
	}
	return out
}

// holdsWait reports whether an element is a waiting kind whose wait a
// migration can re-arm: it waits and resumes without calling outside.
func holdsWait(n *node) bool { return n.resumer != nil && !n.external }

// one migrates one participant in its person's session, or on a dry run
// says what it would do. skipped is set when the participant is no longer
// on version From.
func (mg *migrator) one(s *session, id uuid.UUID) (row MigrationRow, skipped bool, err error) {
	p, err := s.ptx.participant(id)
	if err != nil {
		return row, false, err
	}
	if p == nil || p.Status.Done() || p.FlowVersion != mg.m.From {
		return row, true, nil
	}
	row = MigrationRow{Participant: p.ID, Person: p.PersonID, From: p.Element}
	refuse := func(reason string) (MigrationRow, bool, error) {
		row.Outcome, row.Reason = MigrationRefused, reason
		return row, false, nil
	}
	// unmapped refuses or exits a participant whose position has no place
	// in To.
	unmapped := func(reason string) (MigrationRow, bool, error) {
		if !mg.m.ExitUnmapped {
			return refuse(reason)
		}
		row.Outcome, row.Reason = MigrationExited, reason
		if mg.m.DryRun {
			return row, false, nil
		}
		return row, false, s.leave(mg.from, p, store.Completed, fmt.Sprintf("migration to version %d: %s: left the flow", mg.m.To, reason))
	}
	if p.Status == store.InFlight {
		return refuse(reasonInFlight)
	}
	if at := mg.from.nodes[p.Element]; p.Status == store.Waiting && at != nil && !holdsWait(at) {
		// Quiet hours or a sending window: its wait ends in a call
		// outside, which re-arming it would make.
		return refuse(fmt.Sprintf("waiting at %s %q for its turn to call outside: migrate it once it has gone on", at.element.Kind(), at.id))
	}
	targetID, ok := mg.m.Map[p.Element]
	if !ok {
		targetID = p.Element
	}
	n := mg.to.nodes[targetID]
	if n == nil {
		return unmapped(fmt.Sprintf("element %q has no mapping to version %d", p.Element, mg.m.To))
	}
	var wait *store.Wait
	if p.Status == store.Waiting {
		if !holdsWait(n) {
			// Only by its own id: Migrate refused such a mapping.
			return unmapped(fmt.Sprintf("element %q of version %d is %s, which cannot hold a waiting participant", n.id, mg.m.To, n.element.Kind()))
		}
		var why string
		if wait, why = mg.rearm(s, p, n); wait == nil {
			return refuse(why)
		}
	}
	row.Outcome, row.To = MigrationMoved, n.id
	if mg.m.DryRun {
		return row, false, nil
	}
	if p.Status == store.Waiting {
		s.rec.count(mg.from, p.Element, keyWaiting, -1)
		s.count(mg.to, n.id, keyWaiting)
		p.Wait = wait
	}
	s.count(mg.from, p.Element, keyMigratedOut)
	s.count(mg.to, n.id, keyEntered)
	s.count(mg.to, n.id, keyMigratedIn)
	reason := fmt.Sprintf("migrated from version %d element %s to version %d element %s", mg.m.From, p.Element, mg.m.To, n.id)
	p.FlowVersion, p.Element = mg.m.To, n.id
	s.journal(p, n.id, "", reason)
	s.ptx.dirty(p)
	return row, false, nil
}

// rearm returns the wait that element n of version To holds p in, as of
// p's arrival: the element's step runs with its clock at the arrival time,
// on a copy of p, and only its wait is kept. It returns nil and the reason
// when the element would not wait.
func (mg *migrator) rearm(s *session, p *store.Participant, n *node) (*store.Wait, string) {
	at := *p
	at.FlowVersion, at.Element = mg.m.To, n.id
	at.Vars = clone.Map(p.Vars)
	r := s.newRun(mg.to, &at, nil)
	r.Now = p.ArrivedAt
	out, err := callElement(s.ctx, n, r, nil)
	if err != nil {
		return nil, fmt.Sprintf("element %q of version %d cannot re-arm the wait: %v", n.id, mg.m.To, err)
	}
	if out.Wait == nil {
		return nil, fmt.Sprintf("element %q of version %d would not wait from the participant's arrival: %s", n.id, mg.m.To, out.Reason)
	}
	w := mg.to.waitOf(p, out.Wait, s.e.cfg.InactivityLimit)
	w.Parked = p.Wait != nil && p.Wait.Parked
	return w, ""
}

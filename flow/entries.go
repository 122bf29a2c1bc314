package flow

// Audience and date entries enter people in bulk. A run looks at every
// person once, page by page in the store's listing order
// (store.PeopleLister), and creates a participant for each person who
// enters, with its first step due: now for an audience, at the person's
// moment for a date entry. Ticks run those first steps as they run any
// timer, so an audience of a million is a million timers, not a million
// synchronous calls. Each page's
// participants and the run's new cursor are stored in one atomic step
// (store.AudienceRuns), and participant IDs derive from the run and the
// person, so a run interrupted by a crash resumes where it was with no
// one entered twice.
//
// A participant is counted as entered, and emits EnteredFlow, at its
// first step: that is where the flow's re-entry rule is applied, in the
// person's transaction. One the rule refuses is removed then
// (store.ParticipantRemover), so none is left behind and the flow's
// statistics never count it. Until its first step a bulk-created
// participant is "pending": Status Active, no step taken (Seq 0); it
// neither gets events nor counts for re-entry rules.
//
// Runs:
//   - Each audience and date entry has an activation run, started by
//     Activate (or, for an entry new in a version published to an active
//     flow, or after a crash in between, by the next Tick).
//   - An audience entry with a Schedule runs again at each occurrence after
//     activation, in the flow's time zone; only the latest occurrence is run
//     after a Tick-less stretch (no backlog of runs). A schedule in each
//     person's zone (PersonTimeZone) runs when the occurrence comes first
//     anywhere (its wall time in UTC+14, the run's From) and enters each
//     person at the occurrence's wall time in their zone. An entry with
//     RunAtActivation false finishes its activation run without looking
//     at anyone: the run marks when the schedule began.
//   - A date entry runs daily at 00:00 in the flow's time zone; each run
//     enters the people whose moment falls between that midnight and the
//     next (the activation run: from activation to the next midnight), each
//     at their own moment, in their own zone when PersonTimeZone is set. A
//     person's date or zone changed during the day is looked at on the
//     change (see personEntries), and a pending date participant whose
//     person's moment moved is removed at its moment.
//   - Entries "whenMatching" enter a person whose profile change or event
//     makes them start to match, in the transaction of that change.

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/flowkit/flowkit/internal/values"
	"github.com/flowkit/flowkit/internal/wall"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

// pending reports whether p was created by bulk entry and has not run its
// first step: it has not entered the flow yet.
func pending(p *store.Participant) bool { return p.Status == store.Active && p.Seq == 0 }

// maxDateOffsetDays bounds a date entry's offset: ten years either way.
const maxDateOffsetDays = 3660

func offsetDays(p segment.Period) int {
	if p.Unit == segment.Weeks {
		return 7 * p.Amount
	}
	return p.Amount
}

// entryKey names an audience or date entry across versions of its flow:
// a version that keeps the entry as it was keeps its runs, and a new or
// changed entry starts its own.
func entryKey(en *Entry) string {
	b, _ := json.Marshal(en)
	sum := sha1.Sum(b)
	return en.Type + ":" + hex.EncodeToString(sum[:8])
}

func (j *journey) audience(key string) *compiledAudience {
	for _, a := range j.audiences {
		if a.key == key {
			return a
		}
	}
	return nil
}

func (j *journey) date(key string) *compiledDate {
	for _, d := range j.dates {
		if d.key == key {
			return d
		}
	}
	return nil
}

// runID names a run of an entry: "activation", or a scheduled
// occurrence.
func runID(flowID, key string, at time.Time) uuid.UUID {
	occasion := "activation"
	if !at.IsZero() {
		occasion = at.UTC().Format(time.RFC3339Nano)
	}
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte("flowkit:run:"+flowID+":"+key+":"+occasion))
}

// dateParticipantID names a person's entry by a date entry at a moment.
func dateParticipantID(flowID, key string, personID uuid.UUID, at time.Time) uuid.UUID {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte("flowkit:"+flowID+":"+key+":"+personID.String()+":"+at.UTC().Format(time.RFC3339Nano)))
}

// runParticipantID names a person's entry by an audience run.
func runParticipantID(flowID string, run, personID uuid.UUID) uuid.UUID {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte("flowkit:"+flowID+":run:"+run.String()+":"+personID.String()))
}

// earliestZone is where a wall time comes first: a schedule in each
// person's zone starts each occurrence's run at its time there.
var earliestZone = time.FixedZone("UTC+14", 14*60*60)

// scheduleZone returns the zone an entry's schedule runs in: the flow's,
// or for a schedule in each person's zone, the earliest.
func scheduleZone(r *Recurrence, flowLoc *time.Location) *time.Location {
	if r.PersonTimeZone {
		return earliestZone
	}
	return flowLoc
}

// runsAtActivation reports whether an audience entry enters its audience
// at activation.
func runsAtActivation(en *Entry) bool { return en.RunAtActivation == nil || *en.RunAtActivation }

// personalDue returns when a person enters by the run of a schedule in
// each person's zone that began at occurrence (a wall time in
// earliestZone): that wall time in their zone, or the flow's for a person
// without a valid one; now when it has passed.
func personalDue(p *store.Person, occurrence, now time.Time, flowLoc *time.Location) time.Time {
	loc := flowLoc
	if p.TimeZone != "" {
		if l, err := wall.LoadLocation(p.TimeZone); err == nil {
			loc = l
		}
	}
	w := occurrence.In(earliestZone)
	due := wall.Local(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), loc)
	if due.Before(now) {
		return now
	}
	return due
}

// midnight is the daily schedule of date entries' runs.
var midnight = &Recurrence{Every: "day", At: kinds.At(0, 0)}

// on returns the recurrence's instant on a calendar day (normalized, so
// that d may run past the month), and false when it does not recur that
// day. A month shorter than Day recurs on its last day.
func (r *Recurrence) on(y int, m time.Month, d int, loc *time.Location) (time.Time, bool) {
	day := time.Date(y, m, d, 12, 0, 0, 0, time.UTC)
	y, m, d = day.Date()
	switch r.Every {
	case "week":
		if d, _ := wall.ParseWeekday(r.Weekday); day.Weekday() != d {
			return time.Time{}, false
		}
	case "month":
		last := time.Date(y, m+1, 0, 12, 0, 0, 0, time.UTC).Day()
		if d != min(r.Day, last) {
			return time.Time{}, false
		}
	}
	return wall.Local(y, m, d, r.At.Hour, r.At.Minute, loc), true
}

// next returns the first occurrence strictly after t, in loc.
func (r *Recurrence) next(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	for i := -1; i <= 62; i++ {
		if at, ok := r.on(y, m, d+i, loc); ok && at.After(t) {
			return at
		}
	}
	return time.Time{}
}

// prev returns the last occurrence at or before t, in loc.
func (r *Recurrence) prev(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	for i := 1; i >= -62; i-- {
		if at, ok := r.on(y, m, d+i, loc); ok && !at.After(t) {
			return at
		}
	}
	return time.Time{}
}

// String describes the recurrence, such as "every monday at 09:00".
func (r *Recurrence) String() string {
	var s string
	switch r.Every {
	case "week":
		s = fmt.Sprintf("every %s at %s", strings.ToLower(r.Weekday), r.At)
	case "month":
		s = fmt.Sprintf("every month on day %d at %s", r.Day, r.At)
	default:
		s = "every day at " + r.At.String()
	}
	if r.PersonTimeZone {
		s += " in each person's time zone"
	}
	return s
}

// next returns the person's first moment of the date entry strictly
// after t, or the zero time when there is none (no date, or it passed).
// The rules are Wait for a Date's: a date attribute stands for its
// calendar day, a datetime's day is read in the zone (the person's when
// PersonTimeZone is set and they have a valid one, else the flow's);
// Offset moves it by calendar days; the moment is At on that day, or
// midnight for a date, or the datetime's own time; EveryYear takes the
// yearly occurrences, February 29 falling on February 28 in other years.
func (d *compiledDate) next(p *store.Person, t time.Time, flowLoc *time.Location) time.Time {
	if p == nil {
		return time.Time{}
	}
	raw, ok := p.Get(d.entry.Date.Attribute)
	if !ok || raw == nil {
		return time.Time{}
	}
	cv, err := values.Convert(d.typ, raw)
	v, _ := cv.(time.Time)
	if err != nil || v.IsZero() {
		return time.Time{}
	}
	loc := flowLoc
	if d.entry.Date.PersonTimeZone && p.TimeZone != "" {
		if l, err := wall.LoadLocation(p.TimeZone); err == nil {
			loc = l
		}
	}
	if !d.entry.Date.EveryYear {
		if m := d.moment(v, 0, loc); m.After(t) {
			return m
		}
		return time.Time{}
	}
	y0 := t.In(loc).Year()
	// An offset may move a year's occurrence into the year before or after.
	for y := y0 - 11; y <= y0+11; y++ {
		if m := d.moment(v, y, loc); m.After(t) {
			return m
		}
	}
	return time.Time{}
}

// moment returns the entry's moment for the date value v, in year (0 for
// v's own).
func (d *compiledDate) moment(v time.Time, year int, loc *time.Location) time.Time {
	lv := v
	if d.typ != store.Date {
		lv = v.In(loc)
	}
	y, m, day := lv.Date()
	if year != 0 {
		y = year
		if m == time.February && day == 29 && !(y%4 == 0 && (y%100 != 0 || y%400 == 0)) {
			day = 28
		}
	}
	var base time.Time
	switch at := d.entry.Date.At; {
	case !at.IsZero():
		base = wall.Local(y, m, day, at.Hour, at.Minute, loc)
	case d.typ == store.Date:
		base = wall.Local(y, m, day, 0, 0, loc)
	case year == 0:
		base = v
	default:
		base = wall.Local(y, m, day, lv.Hour(), lv.Minute(), loc).
			Add(time.Duration(lv.Second())*time.Second + time.Duration(lv.Nanosecond()))
	}
	if off := d.entry.Date.Offset; off.Amount != 0 {
		base = off.After(base, loc)
	}
	return base
}

// newPending returns a participant of person in c whose first step is
// due at due.
func (c *compiled) newPending(id, personID uuid.UUID, due time.Time, via string, state map[string]any) *store.Participant {
	return &store.Participant{
		ID: id, PersonID: personID, FlowID: c.flow.ID, FlowVersion: c.flow.Version,
		Status: store.Active, Element: c.start.id, EnteredBy: via,
		EnteredAt: due, ArrivedAt: due, LastActivityAt: due,
		Wait: &store.Wait{Until: due, State: state},
	}
}

// dateState marks a pending participant of a date entry: its first step
// checks the person's moment again.
const dateState = "dateEntry"

// startPending runs the first step of a pending participant, whose timer
// is due: it enters the flow, or is removed when the flow no longer
// takes it (not active, re-entry refused, its date moved).
func (s *session) startPending(c *compiled, p *store.Participant) error {
	if _, err := s.checkEnter(p.FlowID, EntryAudience); err != nil {
		return s.refusedPending(p, err)
	}
	if key, isDate := p.Wait.State[dateState].(string); isDate {
		d := c.journey.date(key)
		if d == nil || !d.next(s.ptx.person, p.Wait.Until.Add(-time.Nanosecond), c.loc).Equal(p.Wait.Until) {
			return s.ptx.drop(p) // the person's date or zone changed since
		}
	}
	if err := s.checkReentry(c); err != nil {
		return s.refusedPending(p, err)
	}
	vars, err := c.initialVars(nil)
	if err != nil {
		return s.refusedPending(p, err)
	}
	p.Vars, p.Wait = vars, nil
	p.EnteredAt, p.ArrivedAt, p.LastActivityAt = s.now, s.now, s.now
	return s.begin(c, p, nil)
}

// refusedPending removes a pending participant whose flow's rules
// refuse it, and returns any other error.
func (s *session) refusedPending(p *store.Participant, err error) error {
	if refused(err) {
		return s.ptx.drop(p)
	}
	return err
}

// matchHook is an active flow's audience entry that enters people who
// start to match; dateHook a date entry, for changes of the date.
type matchHook struct {
	flowID string
	a      *compiledAudience
	loc    *time.Location
}

type dateHook struct {
	c *compiled
	d *compiledDate
}

// addBulk notes an active flow's audience and date entries.
func (s *catalogSnapshot) addBulk(c *compiled) {
	j := &c.journey
	if len(j.audiences) == 0 && len(j.dates) == 0 {
		return
	}
	s.bulk = append(s.bulk, c)
	for _, a := range j.audiences {
		if a.entry.WhenMatching {
			s.matching = append(s.matching, matchHook{flowID: c.flow.ID, a: a, loc: c.loc})
		}
	}
	for _, d := range j.dates {
		s.dates = append(s.dates, dateHook{c: c, d: d})
	}
}

// personEntries looks, once per session that recorded events, at the
// audience entries that enter people who start to match and at the date
// entries whose date or zone changed: per person, in their transaction.
// It reports whether it queued anything to drain.
func (s *session) personEntries() (bool, error) {
	if s.route.entriesChecked || len(s.rec.events) == 0 || (len(s.cat.matching) == 0 && len(s.cat.dates) == 0) || s.ptx.person == nil {
		return false, nil
	}
	s.route.entriesChecked = true
	for _, h := range s.cat.matching {
		if !h.a.segment.UsesEvents() && !s.ptx.personDirty {
			continue // neither the profile nor the history it reads changed
		}
		if !s.matches(h, s.ptx.person, s.historyFn) || (s.ptx.start != nil && s.matches(h, s.ptx.start, func(q *store.EventQuery) ([]*store.Event, error) { return s.ptx.historyBefore(q, s.rec.events) })) {
			continue
		}
		if _, err := s.enter(h.flowID, EntryAudience, nil, nil, "", "audience, on starting to match"); err != nil && !refused(err) {
			return false, err
		}
	}
	for _, h := range s.cat.dates {
		if s.rec.changedDate(h.d) {
			if err := s.scheduleDate(h); err != nil {
				return false, err
			}
		}
	}
	return s.route.qi < len(s.rec.events) || len(s.route.entries) > 0, nil
}

func (s *session) matches(h matchHook, p *store.Person, events func(*store.EventQuery) ([]*store.Event, error)) bool {
	ok, err := h.a.segment.Match(&segment.Subject{Person: p, Now: s.now, Location: h.loc, Events: events})
	if err != nil {
		s.e.log.WarnContext(s.ctx, "flowkit: an audience entry's segment could not be evaluated", "flow", h.flowID, "person", s.personID, "err", err)
		return false
	}
	return ok
}

// historyBefore reads the person's events but those recorded in the
// call: the history as it was before the call.
func (pt *personTx) historyBefore(q *store.EventQuery, recorded []*store.Event) ([]*store.Event, error) {
	all := *q
	all.Limit = 0
	evs, err := pt.history(&all)
	if err != nil {
		return nil, err
	}
	evs = slices.DeleteFunc(evs, func(e *store.Event) bool {
		return slices.ContainsFunc(recorded, func(x *store.Event) bool { return x.ID == e.ID })
	})
	if q.Limit > 0 { // newest first
		slices.Reverse(evs)
		evs = evs[:min(len(evs), q.Limit)]
	}
	return evs, nil
}

// changedDate reports whether the call changed the entry's date
// attribute, or the person's zone when the entry counts in it.
func (r *record) changedDate(d *compiledDate) bool {
	for _, ev := range r.events {
		if ev.Category != store.People || ev.Name != store.AttributeChanged {
			continue
		}
		attr, _ := ev.Properties["attribute"].(string)
		if attr == d.entry.Date.Attribute || (d.entry.Date.PersonTimeZone && attr == store.AttrTimeZone) {
			return true
		}
	}
	return false
}

// scheduleDate creates the person's pending participant for a date whose
// moment falls before the next daily run, which would not see it.
func (s *session) scheduleDate(h dateHook) error {
	end := midnight.next(s.now, h.c.loc)
	m := h.d.next(s.ptx.person, s.now, h.c.loc)
	if m.IsZero() || m.After(end) {
		return nil
	}
	id := dateParticipantID(h.c.flow.ID, h.d.key, s.personID, m)
	if p, err := s.ptx.participant(id); p != nil || err != nil {
		return err
	}
	s.ptx.add(h.c.newPending(id, s.personID, m, h.d.entry.describe(), map[string]any{dateState: h.d.key}))
	return nil
}

// runCache remembers the runs known to exist, with when they started, so
// that Tick and NextDue read the store only for runs they have not seen.
type runCache struct{ known sync.Map } // uuid.UUID -> time.Time

// bulkStores returns the store's capabilities that audience and date
// entries need.
func (e *Engine) bulkStores() (store.PeopleLister, store.AudienceRuns, bool) {
	l, ok1 := e.store.(store.PeopleLister)
	r, ok2 := e.store.(store.AudienceRuns)
	return l, r, ok1 && ok2
}

// checkBulkEntries refuses audience and date entries on a store that
// cannot list people.
func (e *Engine) checkBulkEntries(c *compiled) error {
	if _, _, ok := e.bulkStores(); ok {
		return nil
	}
	for i, en := range c.flow.Entries {
		if en != nil && (en.Type == EntryAudience || en.Type == EntryDate) {
			return &ValidationError{Field: fmt.Sprintf("entries[%d].type", i),
				Err: fmt.Errorf("%s entries need a store that lists people and keeps audience runs (store.PeopleLister, store.AudienceRuns); %T does not", en.Type, e.store)}
		}
	}
	return nil
}

// runStart returns when a run started, reading the store for a run not
// seen yet; false when it does not exist.
func (e *Engine) runStart(ctx context.Context, runs store.AudienceRuns, id uuid.UUID) (time.Time, bool, error) {
	if at, ok := e.runs.known.Load(id); ok {
		return at.(time.Time), true, nil
	}
	r, err := runs.AudienceRun(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, err
	}
	e.runs.known.Store(id, r.StartedAt)
	return r.StartedAt, true, nil
}

// ensureRun returns when run id of an entry started, creating it (at now,
// for the date window from, to) when it does not exist.
func (e *Engine) ensureRun(ctx context.Context, runs store.AudienceRuns, c *compiled, key string, id uuid.UUID, now, from, to time.Time) (time.Time, error) {
	at, ok, err := e.runStart(ctx, runs, id)
	if err != nil || ok {
		return at, err
	}
	l, _, _ := e.bulkStores()
	total, err := l.CountPeople(ctx)
	if err != nil {
		return time.Time{}, err
	}
	r := &store.AudienceRun{ID: id, FlowID: c.flow.ID, FlowVersion: c.flow.Version, Entry: key, StartedAt: now, From: from, To: to, Total: total}
	err = runs.CreateAudienceRun(ctx, r)
	if errors.Is(err, store.ErrDuplicate) { // another process was first
		at, _, err = e.runStart(ctx, runs, id)
		return at, err
	}
	if err != nil {
		return time.Time{}, err
	}
	e.runs.known.Store(id, now)
	return now, nil
}

// activateEntries starts the activation runs of a flow's audience and
// date entries.
func (e *Engine) activateEntries(ctx context.Context, flowID string) error {
	_, runs, ok := e.bulkStores()
	if !ok {
		return nil
	}
	st, err := e.store.Flow(ctx, flowID)
	if err != nil {
		return err
	}
	c, err := e.compiled(ctx, flowID, st.Latest)
	if err != nil {
		return err
	}
	return e.ensureEntries(ctx, runs, c, e.clock.Now())
}

// ensureEntries creates the runs of a flow's entries that are due at now
// and do not exist: the activation runs, and the latest scheduled ones.
func (e *Engine) ensureEntries(ctx context.Context, runs store.AudienceRuns, c *compiled, now time.Time) error {
	for _, a := range c.journey.audiences {
		act, err := e.ensureRun(ctx, runs, c, a.key, runID(c.flow.ID, a.key, time.Time{}), now, time.Time{}, time.Time{})
		if err != nil {
			return err
		}
		if r := a.entry.Schedule; r != nil {
			if t := r.prev(now, scheduleZone(r, c.loc)); t.After(act) {
				var from time.Time
				if r.PersonTimeZone {
					from = t
				}
				if _, err := e.ensureRun(ctx, runs, c, a.key, runID(c.flow.ID, a.key, t), now, from, time.Time{}); err != nil {
					return err
				}
			}
		}
	}
	for _, d := range c.journey.dates {
		act, err := e.ensureRun(ctx, runs, c, d.key, runID(c.flow.ID, d.key, time.Time{}), now, now, midnight.next(now, c.loc))
		if err != nil {
			return err
		}
		if t := midnight.prev(now, c.loc); t.After(act) {
			if _, err := e.ensureRun(ctx, runs, c, d.key, runID(c.flow.ID, d.key, t), now, t, midnight.next(t, c.loc)); err != nil {
				return err
			}
		}
	}
	return nil
}

// advanceRuns starts the runs due at now and works through the pages of
// unfinished runs, at most Config.AudiencePagesPerTick pages.
func (e *Engine) advanceRuns(ctx context.Context, now time.Time, cat *catalogSnapshot) error {
	lister, runs, ok := e.bulkStores()
	if !ok || len(cat.bulk) == 0 {
		return nil
	}
	for _, c := range cat.bulk {
		if err := e.ensureEntries(ctx, runs, c, now); err != nil {
			return err
		}
	}
	open, err := runs.AudienceRuns(ctx, &store.AudienceRunQuery{Unfinished: true})
	if err != nil {
		return err
	}
	budget := e.cfg.AudiencePagesPerTick
	for _, r := range open {
		st := cat.states[r.FlowID]
		if st != nil && (st.Status == store.FlowPaused || st.Status == store.FlowDraft) {
			continue // goes on when the flow is active again
		}
		c, err := e.compiled(ctx, r.FlowID, r.FlowVersion)
		if err != nil {
			return err
		}
		if st == nil || st.Status != store.FlowActive || (c.journey.audience(r.Entry) == nil && c.journey.date(r.Entry) == nil) {
			// The flow closed: the run ends with no more entries.
			_, err := runs.AdvanceAudienceRun(ctx, &store.AdvanceAudienceRunParams{RunID: r.ID, From: r.Cursor, To: r.Cursor, Done: true, FinishedAt: now})
			if err != nil && !errors.Is(err, store.ErrConflict) {
				return err
			}
			continue
		}
		for ; budget > 0 && !r.Done; budget-- {
			if r, err = e.runPage(ctx, lister, runs, c, r, now); err != nil {
				return err
			}
		}
		if budget == 0 {
			return nil
		}
	}
	return nil
}

// runPage looks at one page of people for run r and returns the run as it
// stands after.
func (e *Engine) runPage(ctx context.Context, lister store.PeopleLister, runs store.AudienceRuns, c *compiled, r *store.AudienceRun, now time.Time) (*store.AudienceRun, error) {
	a, d := c.journey.audience(r.Entry), c.journey.date(r.Entry)
	activation := a != nil && r.ID == runID(c.flow.ID, a.key, time.Time{})
	var people []*store.Person
	// A schedule that does not run at activation has its first run at its
	// first time: the activation run only marks when the schedule began.
	if !activation || runsAtActivation(a.entry) {
		var err error
		if people, err = lister.People(ctx, &store.PeopleQuery{After: r.Cursor, Limit: e.cfg.AudiencePage}); err != nil {
			return nil, err
		}
	}
	via, personal := "audience", false
	if a != nil && a.entry.Schedule != nil && !activation {
		via = "audience, " + a.entry.Schedule.String()
		personal = a.entry.Schedule.PersonTimeZone && !r.From.IsZero()
	}
	var parts []*store.Participant
	for _, p := range people {
		var np *store.Participant
		if a != nil {
			in, err := e.inAudience(ctx, c, a, p, now)
			if err != nil {
				return nil, err
			}
			if in {
				due := now
				if personal {
					due = personalDue(p, r.From, now, c.loc)
				}
				np = c.newPending(runParticipantID(c.flow.ID, r.ID, p.ID), p.ID, due, via, nil)
			}
		} else if m := d.next(p, r.From, c.loc); !m.IsZero() && !m.After(r.To) {
			np = c.newPending(dateParticipantID(c.flow.ID, d.key, p.ID, m), p.ID, m, d.entry.describe(), map[string]any{dateState: d.key})
		}
		if np != nil {
			np.Version = 1 // stored as PutParticipant would
			parts = append(parts, np)
		}
	}
	next := *r
	if len(people) > 0 {
		next.Cursor = people[len(people)-1].ID
	}
	next.Done = len(people) < e.cfg.AudiencePage
	n, err := runs.AdvanceAudienceRun(ctx, &store.AdvanceAudienceRunParams{
		RunID: r.ID, From: r.Cursor, To: next.Cursor, Scanned: int64(len(people)),
		Done: next.Done, FinishedAt: now, Participants: parts,
	})
	if errors.Is(err, store.ErrConflict) {
		return runs.AudienceRun(ctx, r.ID) // another process took the page
	}
	if err != nil {
		return nil, err
	}
	next.Scanned += int64(len(people))
	next.Entered += int64(n)
	if next.Done {
		next.FinishedAt = now
	}
	return &next, nil
}

// inAudience evaluates an audience entry's segment for a person of a
// listing; a segment with event conditions reads their history in their
// transaction. A segment that cannot be evaluated for the person leaves
// them out, with a warning.
func (e *Engine) inAudience(ctx context.Context, c *compiled, a *compiledAudience, p *store.Person, now time.Time) (bool, error) {
	sub := &segment.Subject{Person: p, Now: now, Location: c.loc}
	var in bool
	var merr error
	if !a.segment.UsesEvents() {
		in, merr = a.segment.Match(sub)
	} else if err := e.store.Update(ctx, p.ID, func(tx store.Tx) error {
		sub.Events = tx.Events
		in, merr = a.segment.Match(sub)
		return nil
	}); err != nil {
		return false, err
	}
	if merr != nil {
		e.log.WarnContext(ctx, "flowkit: an audience entry's segment could not be evaluated", "flow", c.flow.ID, "person", p.ID, "err", merr)
		return false, nil
	}
	return in, nil
}

// nextRunDue folds the runs of audience and date entries into the next
// timer: now while an active flow's run has people left or a due run has
// not started, else the next scheduled run.
func (e *Engine) nextRunDue(ctx context.Context, next time.Time, ok bool) (time.Time, bool, error) {
	_, runs, has := e.bulkStores()
	if !has {
		return next, ok, nil
	}
	cat, err := e.flowStates(ctx)
	if err != nil || len(cat.bulk) == 0 {
		return next, ok, err
	}
	now := e.clock.Now()
	due := func(t time.Time) {
		if !t.IsZero() && (!ok || t.Before(next)) {
			next, ok = t, true
		}
	}
	open, err := runs.AudienceRuns(ctx, &store.AudienceRunQuery{Unfinished: true})
	if err != nil {
		return next, ok, err
	}
	for _, r := range open {
		if st := cat.states[r.FlowID]; st == nil || (st.Status != store.FlowPaused && st.Status != store.FlowDraft) {
			due(now)
			return next, ok, nil
		}
	}
	// exists reports whether the run of occurrence t, after activation
	// act, has started; due now when not.
	scheduled := func(c *compiled, key string, act, t, following time.Time) error {
		if t.After(act) {
			_, started, err := e.runStart(ctx, runs, runID(c.flow.ID, key, t))
			if err != nil {
				return err
			}
			if !started {
				due(now)
			}
		}
		due(following)
		return nil
	}
	for _, c := range cat.bulk {
		for _, en := range c.flow.Entries {
			if en == nil || (en.Type != EntryAudience && en.Type != EntryDate) {
				continue
			}
			key := entryKey(en)
			act, started, err := e.runStart(ctx, runs, runID(c.flow.ID, key, time.Time{}))
			if err != nil {
				return next, ok, err
			}
			if !started {
				due(now)
				continue
			}
			r := en.Schedule
			if en.Type == EntryDate {
				r = midnight
			}
			if r == nil {
				continue
			}
			loc := scheduleZone(r, c.loc)
			if err := scheduled(c, key, act, r.prev(now, loc), r.next(now, loc)); err != nil {
				return next, ok, err
			}
		}
	}
	return next, ok, nil
}

// AudienceRuns returns the runs of a flow's audience and date entries,
// oldest first: how many people each has looked at of how many, how many
// participants it created (each counted as entered, in Stats, at its
// first step, unless the re-entry rule refuses it there), and whether it
// is done. Runs advance in Tick.
func (e *Engine) AudienceRuns(ctx context.Context, flowID string) ([]*store.AudienceRun, error) {
	_, runs, ok := e.bulkStores()
	if !ok {
		return nil, fmt.Errorf("flow: the store (%T) keeps no audience runs", e.store)
	}
	return runs.AudienceRuns(ctx, &store.AudienceRunQuery{FlowID: flowID})
}

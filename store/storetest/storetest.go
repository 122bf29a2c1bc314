// Package storetest is the conformance suite for store.Store
// implementations. Every Store runs it from its own tests:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(*testing.T) store.Store { return memory.New() })
//	}
//
// The suite checks the behaviour documented in package store: flow
// versions and states, people and their lookup keys, the atomicity and
// isolation of Store.Update, participant versioning, the event history,
// timers, counters, concurrent use, the copy-in, copy-out rule, exact time
// round-trips, canceled contexts, empty references, and the optional
// features (timer claims, updates by reference, batches, erasure, history
// pruning) of stores that have them. A change to what a Store does lands here first.
//
// A store without an optional feature says so, and why:
//
//	storetest.Run(t, newStore, storetest.Without(storetest.ClaimTimers, "one ticker per database"))
package storetest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Run runs the conformance suite against the stores newStore returns.
//
// Every subtest calls newStore once, with its own *testing.T, and runs in
// parallel with the others. The store it gets must be empty of timers and
// events: DueTimers, NextDue and HistoryPruner.PruneEvents see the whole
// store, so the timer and retention subtests need a store of their own (a
// new memory store, a fresh database schema). Every other subtest uses
// fresh ids (uuid.NewV7 and flow ids made from them), so newStore may hand
// them one shared store.
//
// Optional features (see Feature) are checked when the store has them. A
// store that lacks one declares it with Without and a reason, and its
// subtests are skipped with that reason; a store that lacks a feature it
// did not declare fails, and so does one that declares a feature it has.
func Run(t *testing.T, newStore func(t *testing.T) store.Store, opts ...Option) {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	groups := []struct {
		name  string
		tests []test
	}{
		{"Flows", flowTests},
		{"People", peopleTests},
		{"Update", updateTests},
		{"Participants", participantTests},
		{"Events", eventTests},
		{"Transactions", txTests},
		{"Timers", timerTests},
		{"Counters", counterTests},
		{"Concurrency", concurrencyTests},
		{"Effects", effectTests},
		{"Audience", audienceTests},
		{"Times", timeTests},
		{"Cancellation", cancelTests},
		{"EmptyReferences", emptyRefTests},
		{"Erase", eraseTests},
		{"Retention", retentionTests},
		{"Pace", paceTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					s := newStore(t)
					if f, ok := featureOf[g.name+"/"+tc.name]; ok {
						o.check(t, s, f)
					}
					tc.run(t, s)
				})
			}
		})
	}
}

// Feature is an optional store interface the suite checks when a store
// implements it.
type Feature string

// The optional features.
const (
	// ClaimTimers is store.TimerClaimer: ticks that run at once take
	// different timers.
	ClaimTimers Feature = "store.TimerClaimer"
	// UpdateByRef is store.RefUpdater: a person found and their
	// transaction begun in one step.
	UpdateByRef Feature = "store.RefUpdater"
	// UpdateBatches is store.BatchUpdater: the transactions of several
	// people committed together.
	UpdateBatches Feature = "store.BatchUpdater"
	// Erase is store.Eraser, which flow.Engine.Erase needs.
	Erase Feature = "store.Eraser"
	// PruneHistory is store.HistoryPruner, which a history retention
	// (flow.Config.HistoryRetention) needs.
	PruneHistory Feature = "store.HistoryPruner"
)

// implementedBy reports whether s implements the feature.
func (f Feature) implementedBy(s store.Store) bool {
	switch f {
	case ClaimTimers:
		_, ok := s.(store.TimerClaimer)
		return ok
	case UpdateByRef:
		_, ok := s.(store.RefUpdater)
		return ok
	case UpdateBatches:
		_, ok := s.(store.BatchUpdater)
		return ok
	case Erase:
		_, ok := s.(store.Eraser)
		return ok
	case PruneHistory:
		_, ok := s.(store.HistoryPruner)
		return ok
	}
	return false
}

// Option changes what Run expects of a store.
type Option func(*options)

// Without declares that the store lacks an optional feature, and why: Run
// skips the feature's subtests, naming the reason.
func Without(f Feature, reason string) Option {
	return func(o *options) {
		if o.without == nil {
			o.without = map[Feature]string{}
		}
		o.without[f] = reason
	}
}

type options struct {
	without map[Feature]string
}

// check skips or fails a subtest of a feature the store lacks.
func (o *options) check(t *testing.T, s store.Store, f Feature) {
	t.Helper()
	reason, declared := o.without[f]
	switch has := f.implementedBy(s); {
	case has && declared:
		t.Fatalf("the store implements %s, declared missing with storetest.Without (%s)", f, reason)
	case !has && declared:
		t.Skipf("the store does not implement %s: %s", f, reason)
	case !has:
		t.Fatalf("the store does not implement %s: declare it with storetest.Without(storetest.%s, reason)", f, featureNames[f])
	}
}

var featureNames = map[Feature]string{ClaimTimers: "ClaimTimers", UpdateByRef: "UpdateByRef", UpdateBatches: "UpdateBatches", Erase: "Erase", PruneHistory: "PruneHistory"}

type test struct {
	name string
	run  func(t *testing.T, s store.Store)
}

// featureOf names the optional feature each group/subtest checks.
var featureOf = map[string]Feature{
	"Timers/ClaimTimers":                            ClaimTimers,
	"Transactions/UpdateRef":                        UpdateByRef,
	"Transactions/UpdateRefCreateRace":              UpdateByRef,
	"Transactions/UpdateBatch":                      UpdateBatches,
	"Transactions/UpdateBatchConflictWritesNothing": UpdateBatches,
	"Erase/RemovesEverything":                       Erase,
	"Erase/FailedFnErasesNothing":                   Erase,
	"Erase/UnknownPerson":                           Erase,
	"Retention/KeepsWhatWaitsLookBackTo":            PruneHistory,
}

// base is the time the suite's records are about. Times stay on whole
// milliseconds so that stores keeping microseconds round-trip them.
var base = time.Date(2030, time.January, 15, 9, 30, 0, 0, time.UTC)

// errRollback is returned from Update functions to discard their writes.
var errRollback = errors.New("storetest: roll back")

// ---------------------------------------------------------------------------
// Flows

var flowTests = []test{
	{"PublishNumbersVersions", testPublishNumbersVersions},
	{"PublishExpectedVersion", testPublishExpectedVersion},
	{"PublishExpectedVersionRace", testPublishExpectedVersionRace},
	{"FlowVersion", testFlowVersion},
	{"FlowVersionIsCopied", testFlowVersionIsCopied},
	{"FlowStatesAreCopies", testFlowStatesAreCopies},
	{"FlowNotFound", testFlowNotFound},
	{"FlowsOrderedByID", testFlowsOrderedByID},
	{"SetFlowStatus", testSetFlowStatus},
}

func testPublishNumbersVersions(t *testing.T, s store.Store) {
	ctx := t.Context()
	id := uniq(t, "flow")
	for want := 1; want <= 3; want++ {
		v, err := s.PublishFlow(ctx, &store.FlowVersion{
			FlowID:      id,
			Document:    doc(id),
			PublishedAt: base.Add(time.Duration(want) * time.Hour),
		})
		require.NoError(t, err)
		require.Equal(t, want, v, "version number")
		st, err := s.Flow(ctx, id)
		require.NoError(t, err)
		require.Equal(t, id, st.FlowID)
		require.Equal(t, store.FlowDraft, st.Status, "a new flow starts as draft")
		require.Equal(t, want, st.Latest)
	}
	require.Equal(t, 1, publish(t, s, uniq(t, "flow")), "versions are numbered per flow")
}

// A publish that names the version it expects stores it only when that
// is the next one.
func testPublishExpectedVersion(t *testing.T, s store.Store) {
	ctx := t.Context()
	id := uniq(t, "flow")
	for _, v := range []int{2, -1} {
		_, err := s.PublishFlow(ctx, &store.FlowVersion{FlowID: id, Version: v, Document: doc(id), PublishedAt: base})
		require.ErrorIs(t, err, store.ErrConflict, "version %d of a new flow", v)
		_, err = s.Flow(ctx, id)
		require.ErrorIs(t, err, store.ErrNotFound, "a refused first version creates no flow")
	}
	for want := 1; want <= 2; want++ {
		v, err := s.PublishFlow(ctx, &store.FlowVersion{FlowID: id, Version: want, Document: doc(id), PublishedAt: base.Add(time.Duration(want) * time.Hour)})
		require.NoError(t, err)
		require.Equal(t, want, v)
	}
	rev, err := s.FlowsRevision(ctx)
	require.NoError(t, err)
	for _, v := range []int{1, 2, 4} {
		_, err := s.PublishFlow(ctx, &store.FlowVersion{FlowID: id, Version: v, Document: []byte(`{"refused":true}`), PublishedAt: base.Add(5 * time.Hour)})
		require.ErrorIs(t, err, store.ErrConflict, "version %d after 2", v)
	}
	st, err := s.Flow(ctx, id)
	require.NoError(t, err)
	require.Equal(t, 2, st.Latest, "refused publishes store nothing")
	requireTime(t, base.Add(2*time.Hour), st.UpdatedAt)
	_, err = s.FlowVersion(ctx, id, 3)
	require.ErrorIs(t, err, store.ErrNotFound)
	after, err := s.FlowsRevision(ctx)
	require.NoError(t, err)
	require.Equal(t, rev, after, "a refused publish changes no flow")
	v, err := s.PublishFlow(ctx, &store.FlowVersion{FlowID: id, Document: doc(id), PublishedAt: base.Add(6 * time.Hour)})
	require.NoError(t, err)
	require.Equal(t, 3, v, "a publish without an expected version still numbers on")
}

// Callers racing to publish the same next version: one wins, the others
// get ErrConflict.
func testPublishExpectedVersionRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, expect := range []int{1, 2} {
		id := uniq(t, "flow")
		if expect == 2 {
			publish(t, s, id)
		}
		var wg sync.WaitGroup
		var won, lost atomic.Int32
		for range 8 {
			wg.Go(func() {
				_, err := s.PublishFlow(ctx, &store.FlowVersion{FlowID: id, Version: expect, Document: doc(id), PublishedAt: base})
				switch {
				case err == nil:
					won.Add(1)
				case errors.Is(err, store.ErrConflict):
					lost.Add(1)
				default:
					t.Error(err)
				}
			})
		}
		wg.Wait()
		require.Equal(t, int32(1), won.Load(), "version %d", expect)
		require.Equal(t, int32(7), lost.Load(), "version %d", expect)
		st, err := s.Flow(ctx, id)
		require.NoError(t, err)
		require.Equal(t, expect, st.Latest)
	}
}

func testFlowVersion(t *testing.T, s store.Store) {
	ctx := t.Context()
	id := uniq(t, "flow")
	for i := 1; i <= 3; i++ {
		_, err := s.PublishFlow(ctx, &store.FlowVersion{
			FlowID:      id,
			Document:    fmt.Appendf(nil, `{"id":%q,"v":%d}`, id, i),
			PublishedAt: base.Add(time.Duration(i) * time.Hour),
		})
		require.NoError(t, err)
	}
	for i := 1; i <= 3; i++ {
		v, err := s.FlowVersion(ctx, id, i)
		require.NoError(t, err)
		require.Equal(t, id, v.FlowID)
		require.Equal(t, i, v.Version)
		require.JSONEq(t, fmt.Sprintf(`{"id":%q,"v":%d}`, id, i), string(v.Document))
		requireTime(t, base.Add(time.Duration(i)*time.Hour), v.PublishedAt)
	}
	for _, v := range []int{0, -1, 4} {
		_, err := s.FlowVersion(ctx, id, v)
		require.ErrorIs(t, err, store.ErrNotFound, "version %d", v)
	}
	_, err := s.FlowVersion(ctx, uniq(t, "flow"), 1)
	require.ErrorIs(t, err, store.ErrNotFound, "unknown flow")
}

func testFlowVersionIsCopied(t *testing.T, s store.Store) {
	ctx := t.Context()
	id := uniq(t, "flow")
	d := []byte(`{"id":"a"}`)
	_, err := s.PublishFlow(ctx, &store.FlowVersion{FlowID: id, Document: d, PublishedAt: base})
	require.NoError(t, err)
	d[2] = 'X'
	v, err := s.FlowVersion(ctx, id, 1)
	require.NoError(t, err)
	require.JSONEq(t, `{"id":"a"}`, string(v.Document), "the published document is the store's copy")
	v.Document[2] = 'Y'
	v, err = s.FlowVersion(ctx, id, 1)
	require.NoError(t, err)
	require.JSONEq(t, `{"id":"a"}`, string(v.Document), "a returned document is the caller's copy")
}

func testFlowNotFound(t *testing.T, s store.Store) {
	_, err := s.Flow(t.Context(), uniq(t, "flow"))
	require.ErrorIs(t, err, store.ErrNotFound)
}

func testFlowsOrderedByID(t *testing.T, s store.Store) {
	u := newID(t).String()
	for _, id := range []string{"b-" + u, "c-" + u, "a-" + u, "b-" + u} {
		publish(t, s, id)
	}
	flows, err := s.Flows(t.Context())
	require.NoError(t, err)
	require.True(t, slices.IsSortedFunc(flows, func(a, b store.FlowState) int {
		return strings.Compare(a.FlowID, b.FlowID)
	}), "flows are ordered by flow ID")
	var mine []store.FlowState
	for _, f := range flows {
		if strings.HasSuffix(f.FlowID, u) {
			mine = append(mine, f)
		}
	}
	require.Len(t, mine, 3)
	for i, want := range []struct {
		id     string
		latest int
	}{{"a-" + u, 1}, {"b-" + u, 2}, {"c-" + u, 1}} {
		require.Equal(t, want.id, mine[i].FlowID)
		require.Equal(t, want.latest, mine[i].Latest)
		require.Equal(t, store.FlowDraft, mine[i].Status)
	}
}

func testSetFlowStatus(t *testing.T, s store.Store) {
	ctx := t.Context()
	id := newFlow(t, s)
	at := base.Add(time.Hour)
	require.NoError(t, s.SetFlowStatus(ctx, id, store.FlowDraft, store.FlowActive, at))
	st := flowState(t, s, id)
	require.Equal(t, store.FlowActive, st.Status)
	requireTime(t, at, st.UpdatedAt)

	err := s.SetFlowStatus(ctx, id, store.FlowDraft, store.FlowPaused, at.Add(time.Hour))
	require.ErrorIs(t, err, store.ErrConflict, "the flow is not draft")
	err = s.SetFlowStatus(ctx, id, store.FlowPaused, store.FlowActive, at.Add(time.Hour))
	require.ErrorIs(t, err, store.ErrConflict, "the flow is not paused")
	st = flowState(t, s, id)
	require.Equal(t, store.FlowActive, st.Status, "a conflict changes nothing")
	requireTime(t, at, st.UpdatedAt)

	require.Equal(t, 2, publish(t, s, id))
	st = flowState(t, s, id)
	require.Equal(t, store.FlowActive, st.Status, "publishing keeps the status")
	require.Equal(t, 2, st.Latest)

	steps := []store.FlowStatus{store.FlowActive, store.FlowPaused, store.FlowActive, store.FlowFinished}
	for i := 1; i < len(steps); i++ {
		require.NoError(t, s.SetFlowStatus(ctx, id, steps[i-1], steps[i], at.Add(time.Duration(i)*time.Minute)))
	}
	require.Equal(t, store.FlowFinished, flowState(t, s, id).Status)

	err = s.SetFlowStatus(ctx, uniq(t, "flow"), store.FlowDraft, store.FlowActive, at)
	require.ErrorIs(t, err, store.ErrNotFound, "unknown flow")
}

// ---------------------------------------------------------------------------
// People

var peopleTests = []test{
	{"FindPerson", testFindPerson},
	{"PersonRoundTrip", testPersonRoundTrip},
	{"FindPersonByAnySpelling", testFindPersonByAnySpelling},
	{"KeyOfAnotherPersonConflicts", testKeyOfAnotherPersonConflicts},
	{"ChangedKeysAreReindexed", testChangedKeysAreReindexed},
	{"PutPersonOfAnotherID", testPutPersonOfAnotherID},
}

func testFindPerson(t *testing.T, s store.Store) {
	ctx := t.Context()
	id := newID(t)
	p := &store.Person{
		ID:         id,
		ExternalID: "x-" + id.String(),
		Phones:     []string{phone(id, 1), phone(id, 2)},
		Emails:     []string{email(id, 1), email(id, 2)},
		CreatedAt:  base,
		UpdatedAt:  base,
	}
	update(t, s, id, func(tx store.Tx) error { return tx.PutPerson(p) })
	other := newPerson(t, s)

	for _, ref := range []store.PersonRef{
		{ID: id},
		{ExternalID: p.ExternalID},
		{Phone: p.Phones[0]}, {Phone: p.Phones[1]},
		{Email: p.Emails[0]}, {Email: p.Emails[1]},
		// The first non-empty field names the person.
		{ExternalID: p.ExternalID, Phone: other.Phones[0], Email: other.Emails[0]},
		{Phone: p.Phones[1], Email: other.Emails[0]},
	} {
		got, err := s.FindPerson(ctx, ref)
		require.NoError(t, err, "%+v", ref)
		require.Equal(t, id, got, "%+v", ref)
	}
	got, err := s.FindPerson(ctx, store.PersonRef{ID: other.ID, ExternalID: p.ExternalID})
	require.NoError(t, err)
	require.Equal(t, other.ID, got, "the ID comes first")

	unknown := newID(t)
	for _, ref := range []store.PersonRef{
		{},
		{ID: unknown},
		{ExternalID: "x-" + unknown.String()},
		{Phone: phone(unknown, 1)},
		{Email: email(unknown, 1)},
		{ID: unknown, Email: p.Emails[0]}, // the ID names nobody
	} {
		_, err := s.FindPerson(ctx, ref)
		require.ErrorIs(t, err, store.ErrNotFound, "%+v", ref)
	}
}

// Phones and emails are keys in their normalized forms: any spelling
// finds the person, the profile keeps the spellings it was given, and two
// spellings of one number on one person are one key.
func testFindPersonByAnySpelling(t *testing.T, s store.Store) {
	id := newID(t)
	ph := phone(id, 3)
	em := email(id, 3)
	p := &store.Person{
		ID:        id,
		Phones:    []string{spaced(ph), "00" + ph},
		Emails:    []string{"Bob." + strings.ToUpper(em)},
		CreatedAt: base,
		UpdatedAt: base,
	}
	c := p.Clone()
	update(t, s, id, func(tx store.Tx) error { return tx.PutPerson(c) })
	got, err := txPerson(t, s, id)
	require.NoError(t, err)
	require.Equal(t, p, normPerson(got), "the profile keeps the spellings it was given")

	for _, ref := range []store.PersonRef{
		{Phone: ph}, {Phone: "+" + ph}, {Phone: "00" + ph}, {Phone: spaced(ph)},
		{Phone: " +" + ph[:3] + "-" + ph[3:] + " "}, {Phone: "+" + ph[:3] + " (0)" + ph[3:]},
		{Email: "bob." + em}, {Email: "BOB." + strings.ToUpper(em)}, {Email: "  Bob." + em + "\t"},
	} {
		requireFound(t, s, ref, id)
	}
	for _, ref := range []store.PersonRef{
		{Phone: ph + "1"}, {Phone: "tel:" + ph}, {Phone: "+ "}, {Email: " "}, {Email: em},
	} {
		requireNotFound(t, s, ref)
	}

	// Another spelling of the same number keeps the key; dropping the
	// number frees it in every spelling.
	p.Phones = []string{ph}
	update(t, s, id, func(tx store.Tx) error { return tx.PutPerson(p.Clone()) })
	requireFound(t, s, store.PersonRef{Phone: spaced(ph)}, id)
	p.Phones, p.Emails = nil, []string{em}
	update(t, s, id, func(tx store.Tx) error { return tx.PutPerson(p.Clone()) })
	requireNotFound(t, s, store.PersonRef{Phone: "+" + ph})
	requireNotFound(t, s, store.PersonRef{Email: "bob." + em})
	requireFound(t, s, store.PersonRef{Email: strings.ToUpper(em)}, id)
}

func testPersonRoundTrip(t *testing.T, s store.Store) {
	id := newID(t)
	p := &store.Person{
		ID:                id,
		ExternalID:        "x-" + id.String(),
		FirstName:         "Ana",
		LastName:          "Horvat",
		Gender:            "female",
		BirthDate:         time.Date(1992, time.February, 29, 0, 0, 0, 0, time.UTC),
		City:              "Zagreb",
		Country:           "HR",
		PreferredLanguage: "hr",
		TimeZone:          "Europe/Zagreb",
		Attributes: map[string]any{
			"plan":     "gold",
			"score":    4.5,
			"vip":      true,
			"signedUp": time.Date(2024, time.March, 1, 0, 0, 0, 0, time.UTC),
			"lastSeen": base.Add(-90 * time.Minute),
			"pets":     []any{"cat", 2.0},
			"address":  map[string]any{"street": "Ilica", "no": 1.0},
		},
		Phones:        []string{phone(id, 1)},
		Emails:        []string{email(id, 1), email(id, 2)},
		Push:          []store.PushRegistration{{App: "shop", Token: "tok-" + id.String()}},
		Tags:          []string{"a", "b"},
		DoNotContact:  []string{email(id, 2)},
		LastContacted: map[string]time.Time{"email": base.Add(-time.Hour)},
		CreatedAt:     base.Add(-24 * time.Hour),
		UpdatedAt:     base,
	}
	update(t, s, id, func(tx store.Tx) error { return tx.PutPerson(p) })
	got, err := txPerson(t, s, id)
	require.NoError(t, err)
	require.Equal(t, p, normPerson(got))
}

func testKeyOfAnotherPersonConflicts(t *testing.T, s store.Store) {
	for _, tc := range []struct {
		name  string
		claim func(p *store.Person, owner *store.Person)
	}{
		{"externalId", func(p, owner *store.Person) { p.ExternalID = owner.ExternalID }},
		{"phone", func(p, owner *store.Person) { p.Phones = append(p.Phones, owner.Phones[0]) }},
		{"email", func(p, owner *store.Person) { p.Emails = append(p.Emails, owner.Emails[0]) }},
		// Keys are normalized: another spelling is the same key.
		{"phoneSpelling", func(p, owner *store.Person) { p.Phones = append(p.Phones, spaced(owner.Phones[0])) }},
		{"emailSpelling", func(p, owner *store.Person) { p.Emails = append(p.Emails, " "+strings.ToUpper(owner.Emails[0])) }},
	} {
		for _, existing := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/existing=%v", tc.name, existing), func(t *testing.T) {
				t.Parallel()
				ctx := t.Context()
				owner := newPerson(t, s)
				flow := newFlow(t, s)
				var p *store.Person
				if existing {
					p = newPerson(t, s)
				} else {
					id := newID(t)
					p = &store.Person{ID: id, Emails: []string{email(id, 1)}}
				}
				claimant := p.Clone()
				claimant.FirstName = "Claimant"
				claimant.Emails = append(claimant.Emails, email(p.ID, 9))
				tc.claim(claimant, owner)
				part := newParticipant(t, p.ID, flow)
				err := s.Update(ctx, p.ID, func(tx store.Tx) error {
					if err := tx.PutPerson(claimant); err != nil {
						return err
					}
					if err := tx.PutParticipant(part); err != nil {
						return err
					}
					if err := tx.AddEvent(newEvent(t, "Claimed", base)); err != nil {
						return err
					}
					tx.Count(store.Counter{FlowID: flow, FlowVersion: 1, Element: "start", Key: "entered", N: 1})
					return nil
				})
				require.ErrorIs(t, err, store.ErrConflict)

				requireFound(t, s, store.PersonRef{ExternalID: owner.ExternalID}, owner.ID)
				requireFound(t, s, store.PersonRef{Phone: owner.Phones[0]}, owner.ID)
				requireFound(t, s, store.PersonRef{Email: owner.Emails[0]}, owner.ID)
				requireNotFound(t, s, store.PersonRef{Email: email(p.ID, 9)})
				if existing {
					got, err := txPerson(t, s, p.ID)
					require.NoError(t, err)
					require.Equal(t, p, normPerson(got), "the person is unchanged")
					requireFound(t, s, store.PersonRef{Email: p.Emails[0]}, p.ID)
				} else {
					requireNotFound(t, s, store.PersonRef{ID: p.ID})
					requireNotFound(t, s, store.PersonRef{Email: p.Emails[0]})
				}
				_, err = s.Participant(ctx, part.ID)
				require.ErrorIs(t, err, store.ErrNotFound, "the participant was not written")
				require.Empty(t, queryEvents(t, s, p.ID, store.EventQuery{}), "the event was not written")
				require.Empty(t, counters(t, s, flow), "the counter was not written")
			})
		}
	}
}

func testChangedKeysAreReindexed(t *testing.T, s store.Store) {
	p := newPerson(t, s)
	old := p.Clone()
	p.ExternalID = "x2-" + p.ID.String()
	p.Phones = []string{phone(p.ID, 7)}
	p.Emails = []string{email(p.ID, 7), old.Emails[0] + ".new"}
	update(t, s, p.ID, func(tx store.Tx) error { return tx.PutPerson(p.Clone()) })

	requireNotFound(t, s, store.PersonRef{ExternalID: old.ExternalID})
	requireNotFound(t, s, store.PersonRef{Phone: old.Phones[0]})
	requireNotFound(t, s, store.PersonRef{Email: old.Emails[0]})
	requireFound(t, s, store.PersonRef{ExternalID: p.ExternalID}, p.ID)
	requireFound(t, s, store.PersonRef{Phone: p.Phones[0]}, p.ID)
	requireFound(t, s, store.PersonRef{Email: p.Emails[0]}, p.ID)
	requireFound(t, s, store.PersonRef{Email: p.Emails[1]}, p.ID)

	// Adding an email keeps the others.
	p.Emails = append(p.Emails, email(p.ID, 8))
	update(t, s, p.ID, func(tx store.Tx) error { return tx.PutPerson(p.Clone()) })
	for _, e := range p.Emails {
		requireFound(t, s, store.PersonRef{Email: e}, p.ID)
	}

	// Released keys are free for somebody else.
	q := newPerson(t, s)
	q.ExternalID = old.ExternalID
	q.Phones = append(q.Phones, old.Phones[0])
	q.Emails = append(q.Emails, old.Emails[0])
	update(t, s, q.ID, func(tx store.Tx) error { return tx.PutPerson(q) })
	requireFound(t, s, store.PersonRef{ExternalID: old.ExternalID}, q.ID)
	requireFound(t, s, store.PersonRef{Phone: old.Phones[0]}, q.ID)
	requireFound(t, s, store.PersonRef{Email: old.Emails[0]}, q.ID)
}

func testPutPersonOfAnotherID(t *testing.T, s store.Store) {
	id, other := newID(t), newID(t)
	err := s.Update(t.Context(), id, func(tx store.Tx) error {
		return tx.PutPerson(&store.Person{ID: other, Emails: []string{email(other, 1)}})
	})
	require.Error(t, err, "a person's ID must be the transaction's")
	requireNotFound(t, s, store.PersonRef{ID: id})
	requireNotFound(t, s, store.PersonRef{ID: other})
	requireNotFound(t, s, store.PersonRef{Email: email(other, 1)})
}

// ---------------------------------------------------------------------------
// Update

var updateTests = []test{
	{"FailedUpdateWritesNothing", testFailedUpdateWritesNothing},
	{"FailedUpdateKeepsExistingRecords", testFailedUpdateKeepsExistingRecords},
	{"ReadsSeeOwnWrites", testReadsSeeOwnWrites},
	{"ValuesAreCopies", testValuesAreCopies},
	{"TxUnusableAfterUpdate", testTxUnusableAfterUpdate},
	{"PanicWritesNothing", testPanicWritesNothing},
}

func testFailedUpdateWritesNothing(t *testing.T, s store.Store) {
	ctx := t.Context()
	id := newID(t)
	flow := newFlow(t, s)
	part := newParticipant(t, id, flow)
	ev := newEvent(t, "Signup", base)
	boom := errors.New("boom")
	err := s.Update(ctx, id, func(tx store.Tx) error {
		require.NoError(t, tx.PutPerson(&store.Person{ID: id, Emails: []string{email(id, 1)}}))
		require.NoError(t, tx.PutParticipant(part))
		require.NoError(t, tx.AddEvent(ev))
		tx.Count(store.Counter{FlowID: flow, FlowVersion: 1, Element: "start", Key: "entered", N: 1})
		return boom
	})
	require.ErrorIs(t, err, boom, "Update returns fn's error")

	requireNotFound(t, s, store.PersonRef{ID: id})
	requireNotFound(t, s, store.PersonRef{Email: email(id, 1)})
	_, err = s.Participant(ctx, part.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	require.Empty(t, participants(t, s, &store.ParticipantQuery{FlowID: flow}))
	require.Empty(t, counters(t, s, flow))
	update(t, s, id, func(tx store.Tx) error {
		_, err := tx.Person()
		require.ErrorIs(t, err, store.ErrNotFound)
		parts, err := tx.Participants()
		require.NoError(t, err)
		require.Empty(t, parts)
		evs, err := tx.Events(&store.EventQuery{})
		require.NoError(t, err)
		require.Empty(t, evs)
		require.NoError(t, tx.AddEvent(ev), "the event ID was not taken")
		return nil
	})
}

func testFailedUpdateKeepsExistingRecords(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := newPerson(t, s)
	flow := newFlow(t, s)
	part := newParticipant(t, p.ID, flow)
	part.Vars = map[string]any{"n": 1.0}
	put(t, s, part)
	first := newEvent(t, "First", base)
	update(t, s, p.ID, func(tx store.Tx) error {
		tx.Count(store.Counter{FlowID: flow, FlowVersion: 1, Element: "start", Key: "entered", N: 1})
		return tx.AddEvent(first)
	})

	err := s.Update(ctx, p.ID, func(tx store.Tx) error {
		q, err := tx.Person()
		require.NoError(t, err)
		q.FirstName = "Changed"
		q.Emails = []string{email(p.ID, 5)}
		require.NoError(t, tx.PutPerson(q))
		c := part.Clone()
		c.Element = "next"
		c.Vars["n"] = 2.0
		require.NoError(t, tx.PutParticipant(c))
		require.NoError(t, tx.AddEvent(newEvent(t, "Second", base.Add(time.Minute))))
		tx.Count(store.Counter{FlowID: flow, FlowVersion: 1, Element: "start", Key: "entered", N: 5})
		return errRollback
	})
	require.ErrorIs(t, err, errRollback)

	got, err := txPerson(t, s, p.ID)
	require.NoError(t, err)
	require.Equal(t, p, normPerson(got))
	requireFound(t, s, store.PersonRef{Email: p.Emails[0]}, p.ID)
	requireNotFound(t, s, store.PersonRef{Email: email(p.ID, 5)})
	gotPart := participant(t, s, part.ID)
	require.Equal(t, int64(1), gotPart.Version)
	require.Equal(t, "start", gotPart.Element)
	require.Equal(t, 1.0, gotPart.Vars["n"])
	require.Equal(t, []string{first.ID}, eventIDs(queryEvents(t, s, p.ID, store.EventQuery{})))
	require.Equal(t, []store.Counter{{FlowID: flow, FlowVersion: 1, Element: "start", Key: "entered", N: 1}}, counters(t, s, flow))
}

func testReadsSeeOwnWrites(t *testing.T, s store.Store) {
	ctx := t.Context()
	id := newID(t)
	flow := newFlow(t, s)
	a := newParticipant(t, id, flow)
	e1, e2 := newEvent(t, "Late", base.Add(2*time.Hour)), newEvent(t, "Early", base.Add(time.Hour))
	update(t, s, id, func(tx store.Tx) error {
		_, err := tx.Person()
		require.ErrorIs(t, err, store.ErrNotFound, "no person yet")
		p := &store.Person{ID: id, FirstName: "Ana", Emails: []string{email(id, 1)}}
		require.NoError(t, tx.PutPerson(p))
		got, err := tx.Person()
		require.NoError(t, err)
		require.Equal(t, "Ana", got.FirstName)
		p.FirstName = "Ivana"
		require.NoError(t, tx.PutPerson(p))
		got, err = tx.Person()
		require.NoError(t, err)
		require.Equal(t, "Ivana", got.FirstName, "the second PutPerson wins")

		parts, err := tx.Participants()
		require.NoError(t, err)
		require.Empty(t, parts)
		require.NoError(t, tx.PutParticipant(a))
		parts, err = tx.Participants()
		require.NoError(t, err)
		require.Len(t, parts, 1)
		require.Equal(t, a.ID, parts[0].ID)
		require.Equal(t, int64(1), parts[0].Version)
		a.Element = "next"
		require.NoError(t, tx.PutParticipant(a))
		require.Equal(t, int64(2), a.Version)
		parts, err = tx.Participants()
		require.NoError(t, err)
		require.Len(t, parts, 1)
		require.Equal(t, "next", parts[0].Element)
		require.Equal(t, int64(2), parts[0].Version)

		require.NoError(t, tx.AddEvent(e1))
		require.NoError(t, tx.AddEvent(e2))
		evs, err := tx.Events(&store.EventQuery{})
		require.NoError(t, err)
		require.Equal(t, []string{e2.ID, e1.ID}, eventIDs(evs), "pending events in time order")
		evs, err = tx.Events(&store.EventQuery{Name: "Late"})
		require.NoError(t, err)
		require.Equal(t, []string{e1.ID}, eventIDs(evs))
		return nil
	})
	got := participant(t, s, a.ID)
	require.Equal(t, int64(2), got.Version)
	require.Equal(t, "next", got.Element)

	// Stored records merge with the pending ones.
	b := newParticipant(t, id, flow)
	e3 := newEvent(t, "Middle", base.Add(90*time.Minute))
	err := s.Update(ctx, id, func(tx store.Tx) error {
		a.Element = "third"
		require.NoError(t, tx.PutParticipant(a))
		require.NoError(t, tx.PutParticipant(b))
		parts, err := tx.Participants()
		require.NoError(t, err)
		require.ElementsMatch(t, []uuid.UUID{a.ID, b.ID}, participantIDs(parts))
		for _, p := range parts {
			if p.ID == a.ID {
				require.Equal(t, "third", p.Element)
				require.Equal(t, int64(3), p.Version)
			}
		}
		require.NoError(t, tx.AddEvent(e3))
		evs, err := tx.Events(&store.EventQuery{})
		require.NoError(t, err)
		require.Equal(t, []string{e2.ID, e3.ID, e1.ID}, eventIDs(evs))
		evs, err = tx.Events(&store.EventQuery{Limit: 2})
		require.NoError(t, err)
		require.Equal(t, []string{e1.ID, e3.ID}, eventIDs(evs))
		return errRollback
	})
	require.ErrorIs(t, err, errRollback)
}

func testTxUnusableAfterUpdate(t *testing.T, s store.Store) {
	p := newPerson(t, s)
	flow := newFlow(t, s)
	var saved store.Tx
	update(t, s, p.ID, func(tx store.Tx) error {
		saved = tx
		return nil
	})
	late := p.Clone()
	late.FirstName = "Late"
	require.Error(t, saved.PutPerson(late))
	require.Error(t, saved.PutParticipant(newParticipant(t, p.ID, flow)))
	require.Error(t, saved.AddEvent(newEvent(t, "Late", base)))
	saved.Count(store.Counter{FlowID: flow, FlowVersion: 1, Element: "start", Key: "entered", N: 1})

	got, err := txPerson(t, s, p.ID)
	require.NoError(t, err)
	require.Empty(t, got.FirstName)
	require.Empty(t, participants(t, s, &store.ParticipantQuery{FlowID: flow}))
	require.Empty(t, queryEvents(t, s, p.ID, store.EventQuery{}))
	require.Empty(t, counters(t, s, flow))
}

func testPanicWritesNothing(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := newPerson(t, s)
	require.Panics(t, func() {
		_ = s.Update(ctx, p.ID, func(tx store.Tx) error {
			q := p.Clone()
			q.FirstName = "Panicked"
			require.NoError(t, tx.PutPerson(q))
			require.NoError(t, tx.AddEvent(newEvent(t, "Panicked", base)))
			panic("storetest: panic in fn")
		})
	})
	// The person is not left locked.
	within(t, 5*time.Second, "an update after a panicking one", func() error {
		return s.Update(ctx, p.ID, func(tx store.Tx) error {
			q, err := tx.Person()
			if err != nil {
				return err
			}
			if q.FirstName != "" {
				return fmt.Errorf("first name %q written by a panicking update", q.FirstName)
			}
			evs, err := tx.Events(&store.EventQuery{})
			if err != nil {
				return err
			}
			if len(evs) != 0 {
				return fmt.Errorf("%d events written by a panicking update", len(evs))
			}
			return nil
		})
	})
}

// ---------------------------------------------------------------------------
// Participants

var participantTests = []test{
	{"Versioning", testParticipantVersioning},
	{"ConflictLeavesTxUsable", testParticipantConflictLeavesTxUsable},
	{"DuplicateIDOfAnotherPerson", testParticipantDuplicateIDOfAnotherPerson},
	{"DuplicateIDOfAnOpenTransaction", testParticipantDuplicateIDOfOpenTransaction},
	{"ParticipantOfAnotherPerson", testParticipantOfAnotherPerson},
	{"RoundTrip", testParticipantRoundTrip},
	{"NotFound", testParticipantNotFound},
	{"TxParticipantsInEveryFlow", testTxParticipantsInEveryFlow},
	{"Query", testParticipantsQuery},
}

func testParticipantVersioning(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := newPerson(t, s)
	flow := newFlow(t, s)
	a := newParticipant(t, p.ID, flow)
	require.Zero(t, a.Version)
	put(t, s, a)
	require.Equal(t, int64(1), a.Version, "PutParticipant updates p.Version")
	require.Equal(t, int64(1), participant(t, s, a.ID).Version)

	a.Element = "b"
	put(t, s, a)
	require.Equal(t, int64(2), a.Version)
	got := participant(t, s, a.ID)
	require.Equal(t, int64(2), got.Version)
	require.Equal(t, "b", got.Element)

	for _, v := range []int64{1, 3} {
		stale := a.Clone()
		stale.Version = v
		stale.Element = "stale"
		err := s.Update(ctx, p.ID, func(tx store.Tx) error {
			err := tx.PutParticipant(stale)
			require.ErrorIs(t, err, store.ErrConflict, "version %d, stored 2", v)
			return err
		})
		require.ErrorIs(t, err, store.ErrConflict)
	}

	dup := newParticipant(t, p.ID, flow)
	dup.ID = a.ID
	dup.Element = "dup"
	err := s.Update(ctx, p.ID, func(tx store.Tx) error {
		err := tx.PutParticipant(dup)
		require.ErrorIs(t, err, store.ErrDuplicate, "a new participant with an existing ID")
		return err
	})
	require.ErrorIs(t, err, store.ErrDuplicate)

	got = participant(t, s, a.ID)
	require.Equal(t, int64(2), got.Version, "refused writes change nothing")
	require.Equal(t, "b", got.Element)

	// A participant that does not exist has no version to match.
	ghost := newParticipant(t, p.ID, flow)
	ghost.Version = 3
	err = s.Update(ctx, p.ID, func(tx store.Tx) error { return tx.PutParticipant(ghost) })
	require.True(t, errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound),
		"an unknown participant with version 3: want ErrConflict or ErrNotFound, got %v", err)
	_, err = s.Participant(ctx, ghost.ID)
	require.ErrorIs(t, err, store.ErrNotFound)

	// Several puts in one transaction each count.
	b := newParticipant(t, p.ID, flow)
	update(t, s, p.ID, func(tx store.Tx) error {
		require.NoError(t, tx.PutParticipant(b))
		b.Element = "x"
		require.NoError(t, tx.PutParticipant(b))
		stale := b.Clone()
		stale.Version = 1
		require.ErrorIs(t, tx.PutParticipant(stale), store.ErrConflict, "stale against the pending version")
		return nil
	})
	require.Equal(t, int64(2), b.Version)
	got = participant(t, s, b.ID)
	require.Equal(t, int64(2), got.Version)
	require.Equal(t, "x", got.Element)
}

// A refused write is an answer, not a broken transaction: when fn goes on
// and returns nil, its other writes take effect.
func testParticipantConflictLeavesTxUsable(t *testing.T, s store.Store) {
	p := newPerson(t, s)
	flow := newFlow(t, s)
	a := newParticipant(t, p.ID, flow)
	put(t, s, a)
	b := newParticipant(t, p.ID, flow)
	ev := newEvent(t, "After", base)
	update(t, s, p.ID, func(tx store.Tx) error {
		stale := a.Clone()
		stale.Version = 7
		require.ErrorIs(t, tx.PutParticipant(stale), store.ErrConflict)
		dup := newParticipant(t, p.ID, flow)
		dup.ID = a.ID
		require.ErrorIs(t, tx.PutParticipant(dup), store.ErrDuplicate)
		require.NoError(t, tx.PutParticipant(b))
		require.NoError(t, tx.AddEvent(ev))
		return nil
	})
	require.Equal(t, int64(1), participant(t, s, a.ID).Version)
	require.Equal(t, int64(1), participant(t, s, b.ID).Version)
	require.Equal(t, []string{ev.ID}, eventIDs(queryEvents(t, s, p.ID, store.EventQuery{})))
}

func testParticipantDuplicateIDOfAnotherPerson(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := newPerson(t, s), newPerson(t, s)
	flow := newFlow(t, s)
	pa := newParticipant(t, a.ID, flow)
	put(t, s, pa)
	pb := newParticipant(t, b.ID, flow)
	pb.ID = pa.ID
	err := s.Update(ctx, b.ID, func(tx store.Tx) error { return tx.PutParticipant(pb) })
	require.ErrorIs(t, err, store.ErrDuplicate, "participant IDs are unique across people")

	got := participant(t, s, pa.ID)
	require.Equal(t, a.ID, got.PersonID)
	require.Equal(t, []uuid.UUID{pa.ID}, participantIDs(participants(t, s, &store.ParticipantQuery{FlowID: flow})))
	update(t, s, b.ID, func(tx store.Tx) error {
		parts, err := tx.Participants()
		require.NoError(t, err)
		require.Empty(t, parts)
		return nil
	})
}

// Two people's transactions writing a new participant of one ID: one
// commits it, and the other's Update fails with ErrDuplicate, but never
// while the first is open, so that a caller who tries again finds what
// the first committed (the engine's callers racing to create one person
// under one key do).
func testParticipantDuplicateIDOfOpenTransaction(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := newPerson(t, s), newPerson(t, s)
	flow := newFlow(t, s)
	pa, pb := newParticipant(t, a.ID, flow), newParticipant(t, b.ID, flow)
	pb.ID = pa.ID
	written, release := make(chan struct{}), make(chan struct{})
	first, second := make(chan error, 1), make(chan error, 1)
	go func() {
		first <- s.Update(ctx, a.ID, func(tx store.Tx) error {
			err := tx.PutParticipant(pa)
			close(written)
			<-release
			return err
		})
	}()
	<-written
	go func() { second <- s.Update(ctx, b.ID, func(tx store.Tx) error { return tx.PutParticipant(pb) }) }()
	var secondErr error
	secondDone := false
	select {
	case secondErr = <-second:
		// A store that writes new participants at commit: the second
		// committed first, or waits no longer.
		require.NotErrorIs(t, secondErr, store.ErrDuplicate, "ErrDuplicate while the transaction holding the ID is open")
		secondDone = true
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	firstErr := <-first
	if !secondDone {
		secondErr = <-second
	}
	owner := a.ID
	if firstErr == nil {
		require.ErrorIs(t, secondErr, store.ErrDuplicate)
	} else {
		require.ErrorIs(t, firstErr, store.ErrDuplicate)
		require.NoError(t, secondErr)
		owner = b.ID
	}
	require.Equal(t, owner, participant(t, s, pa.ID).PersonID, "the participant is the one that committed")
}

func testParticipantOfAnotherPerson(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := newPerson(t, s), newPerson(t, s)
	flow := newFlow(t, s)
	p := newParticipant(t, b.ID, flow)
	err := s.Update(ctx, a.ID, func(tx store.Tx) error { return tx.PutParticipant(p) })
	require.Error(t, err, "a participant of b in a's transaction")
	_, err = s.Participant(ctx, p.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
}

func testParticipantRoundTrip(t *testing.T, s store.Store) {
	p := newPerson(t, s)
	flow := newFlow(t, s)
	entry := newEvent(t, "OrderStarted", base)
	entry.Person = store.PersonRef{Email: p.Emails[0]}
	entry.PersonID = p.ID
	entry.Properties = map[string]any{"cartId": "c1", "total": 12.5, "gift": false}
	part := &store.Participant{
		ID:          newID(t),
		PersonID:    p.ID,
		FlowID:      flow,
		FlowVersion: 1,
		Status:      store.Waiting,
		Element:     "wait-order",
		Vars: map[string]any{
			"cartId": "c1",
			"count":  3.0,
			"ok":     true,
			"items":  []any{"a", 1.0, map[string]any{"sku": "x"}},
			"meta":   map[string]any{"nested": map[string]any{"k": "v"}},
		},
		Entry:          entry,
		EnteredAt:      base,
		ArrivedAt:      base.Add(time.Minute),
		LastActivityAt: base.Add(time.Minute),
		Seq:            3,
		Wait: &store.Wait{
			Until:    base.Add(4 * time.Hour),
			Deadline: base.Add(5 * time.Hour),
			Events:   []string{"OrderCompleted", "OrderCanceled"},
			State:    map[string]any{"matched": 0.0},
		},
		Journal: []store.Step{
			{Seq: 1, At: base, Element: "start", Branch: "next", Reason: "entered by event"},
			{Seq: 2, At: base.Add(time.Minute), Element: "wait-order", Reason: "waiting for OrderCompleted"},
		},
	}
	put(t, s, part)
	check := func() {
		t.Helper()
		require.Equal(t, part, normParticipant(participant(t, s, part.ID)), "Store.Participant")
		list := participants(t, s, &store.ParticipantQuery{FlowID: flow})
		require.Len(t, list, 1)
		require.Equal(t, part, normParticipant(list[0]), "Store.Participants")
		update(t, s, p.ID, func(tx store.Tx) error {
			parts, err := tx.Participants()
			require.NoError(t, err)
			require.Len(t, parts, 1)
			require.Equal(t, part, normParticipant(parts[0]), "Tx.Participants")
			return nil
		})
	}
	check()

	part.Wait.Parked = true
	put(t, s, part)
	check()

	part.Status = store.Failed
	part.Wait = nil
	part.ExitedAt = base.Add(2 * time.Hour)
	part.Reason = "call API: 500 Internal Server Error"
	part.Seq = 4
	put(t, s, part)
	check()
}

func testParticipantNotFound(t *testing.T, s store.Store) {
	_, err := s.Participant(t.Context(), newID(t))
	require.ErrorIs(t, err, store.ErrNotFound)
}

func testTxParticipantsInEveryFlow(t *testing.T, s store.Store) {
	p, other := newPerson(t, s), newPerson(t, s)
	f1, f2 := newFlow(t, s), newFlow(t, s)
	a, b := newParticipant(t, p.ID, f1), newParticipant(t, p.ID, f2)
	put(t, s, a)
	put(t, s, b)
	put(t, s, newParticipant(t, other.ID, f1))
	update(t, s, p.ID, func(tx store.Tx) error {
		parts, err := tx.Participants()
		require.NoError(t, err)
		require.ElementsMatch(t, []uuid.UUID{a.ID, b.ID}, participantIDs(parts))
		return nil
	})
}

func testParticipantsQuery(t *testing.T, s store.Store) {
	flow, other := newFlow(t, s), newFlow(t, s)
	people := []*store.Person{newPerson(t, s), newPerson(t, s), newPerson(t, s)}
	statuses := []store.Status{store.Active, store.Waiting, store.Completed, store.Failed, store.Waiting, store.Canceled}
	parts := make([]*store.Participant, len(statuses))
	for i, st := range statuses {
		parts[i] = newParticipant(t, people[i%3].ID, flow)
		parts[i].Status = st
		if i%2 == 1 {
			parts[i].Element = "later"
		}
	}
	for _, i := range []int{3, 0, 5, 1, 4, 2} { // not in ID order
		put(t, s, parts[i])
	}
	for _, p := range people {
		put(t, s, newParticipant(t, p.ID, other))
	}
	slices.SortFunc(parts, func(a, b *store.Participant) int { return compareIDs(a.ID, b.ID) })
	all := participantIDs(parts)
	where := func(keep func(*store.Participant) bool) []uuid.UUID {
		var out []*store.Participant
		for _, p := range parts {
			if keep(p) {
				out = append(out, p)
			}
		}
		return participantIDs(out)
	}
	query := func(q store.ParticipantQuery) []uuid.UUID {
		t.Helper()
		q.FlowID = flow
		got := participants(t, s, &q)
		for _, p := range got {
			require.Equal(t, flow, p.FlowID)
		}
		return participantIDs(got)
	}

	require.Equal(t, all, query(store.ParticipantQuery{}), "in ID order")
	require.Equal(t, where(func(p *store.Participant) bool { return p.Status == store.Waiting }),
		query(store.ParticipantQuery{Statuses: []store.Status{store.Waiting}}))
	require.Equal(t, where(func(p *store.Participant) bool { return p.Status == store.Active || p.Status == store.Completed }),
		query(store.ParticipantQuery{Statuses: []store.Status{store.Completed, store.Active}}))
	require.Equal(t, all[:4], query(store.ParticipantQuery{Limit: 4}))
	require.Equal(t, all[2:], query(store.ParticipantQuery{After: all[1]}), "After is exclusive")
	require.Equal(t, all[2:4], query(store.ParticipantQuery{After: all[1], Limit: 2}))
	require.Empty(t, query(store.ParticipantQuery{After: all[5]}))

	var paged []uuid.UUID
	after := uuid.Nil
	for range len(all) + 1 {
		page := query(store.ParticipantQuery{After: after, Limit: 4})
		if len(page) == 0 {
			break
		}
		require.LessOrEqual(t, len(page), 4)
		paged = append(paged, page...)
		after = page[len(page)-1]
	}
	require.Equal(t, all, paged, "paging by After and Limit")

	waiting := where(func(p *store.Participant) bool { return p.Status == store.Waiting })
	require.Equal(t, waiting[1:], query(store.ParticipantQuery{Statuses: []store.Status{store.Waiting}, After: waiting[0], Limit: 1}))

	later := where(func(p *store.Participant) bool { return p.Element == "later" })
	require.Len(t, later, 3)
	require.Equal(t, later, query(store.ParticipantQuery{Element: "later"}), "by element")
	require.Equal(t, where(func(p *store.Participant) bool { return p.Element == "later" && p.Status == store.Waiting }),
		query(store.ParticipantQuery{Element: "later", Statuses: []store.Status{store.Waiting}}), "by element and status")
	require.Equal(t, later[1:2], query(store.ParticipantQuery{Element: "later", After: later[0], Limit: 1}), "by element, paged")
	require.Empty(t, query(store.ParticipantQuery{Element: "nowhere"}))

	require.Empty(t, participants(t, s, &store.ParticipantQuery{FlowID: uniq(t, "flow")}))
}

// ---------------------------------------------------------------------------
// Events

var eventTests = []test{
	{"DuplicateID", testEventDuplicateID},
	{"EventsAreCopies", testEventsAreCopies},
	{"DuplicateIDInLongHistory", testEventDuplicateIDInLongHistory},
	{"Query", testEventQuery},
	{"InsertedByTime", testEventsInsertedByTime},
	{"RoundTrip", testEventRoundTrip},
}

func testEventDuplicateID(t *testing.T, s store.Store) {
	ctx := t.Context()
	p, q := newPerson(t, s), newPerson(t, s)
	e := newEvent(t, "Clicked", base)
	e.Properties = map[string]any{"n": 1.0}
	later := newEvent(t, "Later", base.Add(time.Minute))
	update(t, s, p.ID, func(tx store.Tx) error {
		require.NoError(t, tx.AddEvent(e))
		again := *e
		again.Name = "Again"
		require.ErrorIs(t, tx.AddEvent(&again), store.ErrDuplicate, "in the same transaction")
		// The transaction goes on.
		return tx.AddEvent(later)
	})
	again := *e
	again.Name = "Again"
	again.Time = base.Add(time.Hour)
	err := s.Update(ctx, p.ID, func(tx store.Tx) error {
		err := tx.AddEvent(&again)
		require.ErrorIs(t, err, store.ErrDuplicate, "in a later transaction")
		return err
	})
	require.ErrorIs(t, err, store.ErrDuplicate)

	evs := queryEvents(t, s, p.ID, store.EventQuery{})
	require.Equal(t, []string{e.ID, later.ID}, eventIDs(evs))
	require.Equal(t, "Clicked", evs[0].Name, "a duplicate does not replace the original")
	require.Equal(t, 1.0, evs[0].Properties["n"])

	update(t, s, q.ID, func(tx store.Tx) error {
		return tx.AddEvent(&again)
	}) // IDs are unique per person
	require.Equal(t, []string{e.ID}, eventIDs(queryEvents(t, s, q.ID, store.EventQuery{})))
}

func testEventDuplicateIDInLongHistory(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := newPerson(t, s)
	var ids []string
	update(t, s, p.ID, func(tx store.Tx) error {
		for i := range 20 {
			e := newEvent(t, "Bulk", base.Add(time.Duration(i)*time.Second))
			ids = append(ids, e.ID)
			require.NoError(t, tx.AddEvent(e))
		}
		return nil
	})
	for i := 20; i < 40; i++ {
		e := newEvent(t, "Single", base.Add(time.Duration(i)*time.Second))
		ids = append(ids, e.ID)
		update(t, s, p.ID, func(tx store.Tx) error { return tx.AddEvent(e) })
	}
	for i, id := range ids {
		err := s.Update(ctx, p.ID, func(tx store.Tx) error {
			return tx.AddEvent(&store.Event{ID: id, Category: store.External, Name: "Again", Time: base.Add(time.Hour)})
		})
		require.ErrorIs(t, err, store.ErrDuplicate, "event %d of %d", i, len(ids))
	}

	// A long pending batch is deduplicated too.
	update(t, s, p.ID, func(tx store.Tx) error {
		var batch []string
		for i := range 40 {
			e := newEvent(t, "Batch", base.Add(time.Hour+time.Duration(i)*time.Second))
			batch = append(batch, e.ID)
			require.NoError(t, tx.AddEvent(e))
		}
		for _, i := range []int{0, 20, 39} {
			require.ErrorIs(t, tx.AddEvent(&store.Event{ID: batch[i], Category: store.External, Name: "Again", Time: base}),
				store.ErrDuplicate, "pending event %d", i)
		}
		require.ErrorIs(t, tx.AddEvent(&store.Event{ID: ids[0], Category: store.External, Name: "Again", Time: base}),
			store.ErrDuplicate, "stored event 0")
		return nil
	})
	require.Len(t, queryEvents(t, s, p.ID, store.EventQuery{}), 80)
}

func testEventQuery(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := newPerson(t, s)
	at := func(h int) time.Time { return base.Add(time.Duration(h) * time.Hour) }
	e1 := newEvent(t, "Viewed", at(0))
	e2 := newEvent(t, "Clicked", at(1))
	e3 := newEvent(t, store.MessageSent, at(2))
	e3.Category = store.Channel
	e4 := newEvent(t, "Viewed", at(3))
	e5 := newEvent(t, store.AttributeChanged, at(4))
	e5.Category = store.People
	all := []*store.Event{e1, e2, e3, e4, e5}
	ids := func(es ...*store.Event) []string { return eventIDs(es) }

	cases := []struct {
		name string
		q    store.EventQuery
		want []string
	}{
		{"all", store.EventQuery{}, ids(e1, e2, e3, e4, e5)},
		{"name", store.EventQuery{Name: "Viewed"}, ids(e1, e4)},
		{"category", store.EventQuery{Category: store.External}, ids(e1, e2, e4)},
		{"name and category", store.EventQuery{Name: "Viewed", Category: store.Channel}, nil},
		{"unknown name", store.EventQuery{Name: "Nope"}, nil},
		{"since is inclusive", store.EventQuery{Since: at(1)}, ids(e2, e3, e4, e5)},
		{"until is exclusive", store.EventQuery{Until: at(3)}, ids(e1, e2, e3)},
		{"since and until", store.EventQuery{Since: at(1), Until: at(3)}, ids(e2, e3)},
		{"empty window", store.EventQuery{Since: at(2), Until: at(2)}, nil},
		{"between events", store.EventQuery{Since: at(1).Add(time.Minute), Until: at(2)}, nil},
		{"limit is newest first", store.EventQuery{Limit: 2}, ids(e5, e4)},
		{"limit above count", store.EventQuery{Limit: 10}, ids(e5, e4, e3, e2, e1)},
		{"name and limit", store.EventQuery{Name: "Viewed", Limit: 1}, ids(e4)},
		{"since and limit", store.EventQuery{Since: at(1), Limit: 2}, ids(e5, e4)},
		{"until and limit", store.EventQuery{Until: at(3), Limit: 2}, ids(e3, e2)},
		{"category, window and limit", store.EventQuery{Category: store.External, Since: at(1), Until: at(4), Limit: 5}, ids(e4, e2)},
	}
	run := func(tx store.Tx, when string) {
		for _, c := range cases {
			got, err := tx.Events(&c.q)
			require.NoError(t, err)
			require.Equal(t, c.want, eventIDs(got), "%s: %s", when, c.name)
			for _, e := range got {
				require.True(t, c.q.Matches(e), "%s: %s: event %s", when, c.name, e.ID)
			}
		}
	}

	err := s.Update(ctx, p.ID, func(tx store.Tx) error {
		for _, e := range all {
			require.NoError(t, tx.AddEvent(e))
		}
		run(tx, "pending")
		return errRollback
	})
	require.ErrorIs(t, err, errRollback)

	update(t, s, p.ID, func(tx store.Tx) error {
		for _, e := range []*store.Event{e4, e1, e5} {
			require.NoError(t, tx.AddEvent(e))
		}
		return nil
	})
	err = s.Update(ctx, p.ID, func(tx store.Tx) error {
		require.NoError(t, tx.AddEvent(e3))
		require.NoError(t, tx.AddEvent(e2))
		run(tx, "stored and pending")
		return nil
	})
	require.NoError(t, err)
	update(t, s, p.ID, func(tx store.Tx) error {
		run(tx, "stored")
		return nil
	})
}

func testEventsInsertedByTime(t *testing.T, s store.Store) {
	p := newPerson(t, s)
	at := func(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }
	e := make([]*store.Event, 6)
	for i := range e {
		e[i] = newEvent(t, "Seen", at(i*10))
	}
	add := func(es ...*store.Event) {
		update(t, s, p.ID, func(tx store.Tx) error {
			for _, x := range es {
				if err := tx.AddEvent(x); err != nil {
					return err
				}
			}
			return nil
		})
	}
	add(e[3])
	add(e[1])
	add(e[2], e[0])
	add(e[5])
	add(e[4])
	require.Equal(t, eventIDs(e), eventIDs(queryEvents(t, s, p.ID, store.EventQuery{})))
	require.Equal(t, eventIDs([]*store.Event{e[5], e[4], e[3]}), eventIDs(queryEvents(t, s, p.ID, store.EventQuery{Limit: 3})))
	require.Equal(t, eventIDs(e[1:3]), eventIDs(queryEvents(t, s, p.ID, store.EventQuery{Since: at(5), Until: at(25)})))
}

func testEventRoundTrip(t *testing.T, s store.Store) {
	p := newPerson(t, s)
	e := &store.Event{
		ID:       "evt-" + newID(t).String(),
		PersonID: p.ID,
		Category: store.Channel,
		Name:     store.MessageClicked,
		Properties: map[string]any{
			"messageId": "m-1",
			"channel":   "email",
			"n":         2.0,
			"ok":        true,
			"links":     []any{"https://example.com/a", 1.0},
			"meta":      map[string]any{"k": "v"},
		},
		Time: base.Add(1500 * time.Millisecond),
	}
	update(t, s, p.ID, func(tx store.Tx) error { return tx.AddEvent(e) })
	got := queryEvents(t, s, p.ID, store.EventQuery{})
	require.Len(t, got, 1)
	g := normEvent(got[0])
	require.Equal(t, e.ID, g.ID)
	require.Equal(t, e.PersonID, g.PersonID)
	require.Equal(t, e.Category, g.Category)
	require.Equal(t, e.Name, g.Name)
	require.Equal(t, e.Properties, g.Properties)
	require.Equal(t, e.Time, g.Time)
}

// ---------------------------------------------------------------------------
// Timers. These subtests see every timer of their store.

var timerTests = []test{
	{"DueInOrder", testDueInOrder},
	{"DueLimit", testDueLimit},
	{"NotDue", testNotDue},
	{"DueUntilChanged", testDueUntilChanged},
	{"DueOncePerParticipant", testDueOncePerParticipant},
	{"NextDue", testNextDue},
	{"ClaimTimers", testClaimTimers},
	{"EndedWaitsStayQuiet", testEndedWaitsStayQuiet},
}

// testEndedWaitsStayQuiet checks that a participant that stopped waiting
// is never due again, while participants that start waiting after it (and
// may take over what the store kept for its timer) are due at their own
// times, once each.
func testEndedWaitsStayQuiet(t *testing.T, s store.Store) {
	ctx := t.Context()
	flow := newFlow(t, s)
	now := base
	for i := range 5 {
		w := waiter(t, s, flow, now.Add(time.Duration(i+1)*time.Minute))
		w.Status, w.Wait = store.Completed, nil
		put(t, s, w)
	}
	var later []*store.Participant
	for i := range 5 {
		later = append(later, waiter(t, s, flow, now.Add(time.Duration(i+1)*time.Hour)))
	}
	got, err := s.DueTimers(ctx, now.Add(59*time.Minute), 100)
	require.NoError(t, err)
	require.Empty(t, got, "participants that stopped waiting are not due")
	got, err = s.DueTimers(ctx, now.Add(5*time.Hour), 100)
	require.NoError(t, err)
	requireTimers(t, got, later...)
	for _, w := range later {
		w.Status, w.Wait = store.Completed, nil
		put(t, s, w)
	}
	got, err = s.DueTimers(ctx, now.Add(6*time.Hour), 100)
	require.NoError(t, err)
	require.Empty(t, got)
	_, ok, err := s.NextDue(ctx)
	require.NoError(t, err)
	require.False(t, ok)
}

// testClaimTimers checks store.TimerClaimer.
func testClaimTimers(t *testing.T, s store.Store) {
	c := s.(store.TimerClaimer)
	ctx := t.Context()
	flow := newFlow(t, s)
	now := base.Add(time.Hour)
	a := waiter(t, s, flow, now.Add(-3*time.Minute))
	b := waiter(t, s, flow, now.Add(-2*time.Minute))
	d := waiter(t, s, flow, now.Add(-time.Minute))

	first, err := c.ClaimTimers(ctx, now, 2, time.Minute)
	require.NoError(t, err)
	requireTimers(t, first, a, b)
	second, err := c.ClaimTimers(ctx, now, 10, time.Minute)
	require.NoError(t, err)
	requireTimers(t, second, d)
	got, err := c.ClaimTimers(ctx, now, 10, time.Minute)
	require.NoError(t, err)
	require.Empty(t, got, "claimed timers are not handed out again during their lease")
	got, err = s.DueTimers(ctx, now, 10)
	require.NoError(t, err)
	require.Empty(t, got, "nor by DueTimers")
	next, ok, err := s.NextDue(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, now.Add(time.Minute), next.UTC(), "a claimed timer is due again when its lease ends")

	// a's participant moved on; b and d did not (their steps failed).
	a.Wait = nil
	a.Status = store.Completed
	put(t, s, a)
	got, err = c.ClaimTimers(ctx, now.Add(time.Minute), 10, time.Minute)
	require.NoError(t, err)
	requireTimers(t, got, b, d)
}

func testDueInOrder(t *testing.T, s store.Store) {
	ctx := t.Context()
	flow := newFlow(t, s)
	now := base.Add(time.Hour)
	p3 := waiter(t, s, flow, now) // due exactly now
	p1 := waiter(t, s, flow, now.Add(-3*time.Minute))
	p2 := waiter(t, s, flow, now.Add(-2*time.Minute))
	waiter(t, s, flow, now.Add(time.Second))
	// A second participant of p1's person.
	p1b := newParticipant(t, p1.PersonID, flow)
	p1b.Status = store.Waiting
	p1b.Wait = &store.Wait{Until: now.Add(-150 * time.Second)}
	put(t, s, p1b)

	got, err := s.DueTimers(ctx, now, 10)
	require.NoError(t, err)
	requireTimers(t, got, p1, p1b, p2, p3)

	got, err = s.DueTimers(ctx, now.Add(-2*time.Minute), 10)
	require.NoError(t, err)
	requireTimers(t, got, p1, p1b, p2)

	got, err = s.DueTimers(ctx, now.Add(-4*time.Minute), 10)
	require.NoError(t, err)
	require.Empty(t, got)
}

func testDueLimit(t *testing.T, s store.Store) {
	ctx := t.Context()
	flow := newFlow(t, s)
	now := base.Add(time.Hour)
	var ws []*store.Participant
	for i := range 5 {
		ws = append(ws, waiter(t, s, flow, now.Add(-time.Duration(5-i)*time.Minute)))
	}
	got, err := s.DueTimers(ctx, now, 2)
	require.NoError(t, err)
	requireTimers(t, got, ws[0], ws[1])
	got, err = s.DueTimers(ctx, now, 5)
	require.NoError(t, err)
	requireTimers(t, got, ws...)
	got, err = s.DueTimers(ctx, now, 50)
	require.NoError(t, err)
	requireTimers(t, got, ws...)
}

func testNotDue(t *testing.T, s store.Store) {
	ctx := t.Context()
	flow := newFlow(t, s)
	now := base.Add(time.Hour)
	due := waiter(t, s, flow, now.Add(-time.Minute))

	parked := waiter(t, s, flow, now.Add(-10*time.Minute))
	parked.Wait.Parked = true
	put(t, s, parked)
	for _, st := range []store.Status{store.Completed, store.Failed, store.Canceled} {
		done := waiter(t, s, flow, now.Add(-20*time.Minute))
		done.Status = st
		put(t, s, done)
	}
	waiter(t, s, flow, now.Add(time.Minute)) // in the future
	noTimer := waiter(t, s, flow, time.Time{})
	noTimer.Wait.Events = []string{"Clicked"}
	put(t, s, noTimer)
	noWait := newParticipant(t, newPerson(t, s).ID, flow)
	put(t, s, noWait)

	got, err := s.DueTimers(ctx, now, 100)
	require.NoError(t, err)
	requireTimers(t, got, due)
	next, ok, err := s.NextDue(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	requireTime(t, due.Wait.Until, next, "NextDue ignores parked and done participants")
}

func testDueUntilChanged(t *testing.T, s store.Store) {
	ctx := t.Context()
	flow := newFlow(t, s)
	now := base.Add(time.Hour)
	unchanged := waiter(t, s, flow, now.Add(-6*time.Minute))
	later := waiter(t, s, flow, now.Add(-5*time.Minute))
	earlier := waiter(t, s, flow, now.Add(-4*time.Minute))
	cleared := waiter(t, s, flow, now.Add(-3*time.Minute))
	exited := waiter(t, s, flow, now.Add(-2*time.Minute))
	parked := waiter(t, s, flow, now.Add(-1*time.Minute))

	for range 2 { // a timer stays due until its participant changes
		got, err := s.DueTimers(ctx, now, 10)
		require.NoError(t, err)
		requireTimers(t, got, unchanged, later, earlier, cleared, exited, parked)
	}

	later.Wait.Until = now.Add(time.Hour)
	put(t, s, later)
	earlier.Wait.Until = now.Add(-30 * time.Minute)
	put(t, s, earlier)
	cleared.Status = store.Active
	cleared.Wait = nil
	put(t, s, cleared)
	exited.Status = store.Completed
	put(t, s, exited)
	parked.Wait.Parked = true
	put(t, s, parked)

	got, err := s.DueTimers(ctx, now, 10)
	require.NoError(t, err)
	requireTimers(t, got, earlier, unchanged)
	got, err = s.DueTimers(ctx, now.Add(time.Hour), 10)
	require.NoError(t, err)
	requireTimers(t, got, earlier, unchanged, later)
}

// A timer whose Until goes back to an earlier value, or that is parked and
// unparked, is still one timer.
func testDueOncePerParticipant(t *testing.T, s store.Store) {
	ctx := t.Context()
	flow := newFlow(t, s)
	now := base.Add(time.Hour)
	a := waiter(t, s, flow, now.Add(-2*time.Minute))
	b := waiter(t, s, flow, now.Add(-time.Minute))

	a.Wait.Until = now.Add(-30 * time.Second)
	put(t, s, a)
	a.Wait.Until = now.Add(-2 * time.Minute)
	put(t, s, a)
	b.Wait.Parked = true
	put(t, s, b)
	b.Wait.Parked = false
	put(t, s, b)

	got, err := s.DueTimers(ctx, now, 10)
	require.NoError(t, err)
	requireTimers(t, got, a, b)
	got, err = s.DueTimers(ctx, now, 10)
	require.NoError(t, err)
	requireTimers(t, got, a, b)
}

func testNextDue(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, ok, err := s.NextDue(ctx)
	require.NoError(t, err)
	require.False(t, ok, "no timers")

	flow := newFlow(t, s)
	at := func(h int) time.Time { return base.Add(time.Duration(h) * time.Hour) }
	next := func() (time.Time, bool) {
		t.Helper()
		n, ok, err := s.NextDue(ctx)
		require.NoError(t, err)
		return n, ok
	}
	a := waiter(t, s, flow, at(2))
	b := waiter(t, s, flow, at(1))
	parked := waiter(t, s, flow, at(0))
	parked.Wait.Parked = true
	put(t, s, parked)

	n, ok := next()
	require.True(t, ok)
	requireTime(t, at(1), n, "earliest unparked timer")

	b.Wait.Until = at(3)
	put(t, s, b)
	n, ok = next()
	require.True(t, ok)
	requireTime(t, at(2), n, "a moved timer is not due at its old time")

	a.Status = store.Active
	a.Wait = nil
	put(t, s, a)
	n, ok = next()
	require.True(t, ok)
	requireTime(t, at(3), n)

	b.Status = store.Completed
	put(t, s, b)
	_, ok = next()
	require.False(t, ok, "only a parked timer is left")

	parked.Wait.Parked = false
	put(t, s, parked)
	n, ok = next()
	require.True(t, ok)
	requireTime(t, at(0), n, "an unparked timer")
}

// ---------------------------------------------------------------------------
// Counters

var counterTests = []test{
	{"Accumulate", testCountersAccumulate},
	{"CountsAreCopies", testCountsAreCopies},
}

func testCountersAccumulate(t *testing.T, s store.Store) {
	ctx := t.Context()
	flow, other := newFlow(t, s), newFlow(t, s)
	publish(t, s, flow)
	p, q := newPerson(t, s), newPerson(t, s)
	c := func(flowID string, v int, element, key string, n int64) store.Counter {
		return store.Counter{FlowID: flowID, FlowVersion: v, Element: element, Key: key, N: n}
	}
	update(t, s, p.ID, func(tx store.Tx) error {
		tx.Count(c(flow, 1, "a", "entered", 1))
		tx.Count(c(flow, 1, "a", "entered", 2))
		tx.Count(c(flow, 1, "a", "branch:yes", 1))
		tx.Count(c(flow, 1, "b", "entered", 1))
		tx.Count(c(flow, 2, "a", "entered", 1))
		tx.Count(c(other, 1, "a", "entered", 5))
		return nil
	})
	update(t, s, p.ID, func(tx store.Tx) error {
		tx.Count(c(flow, 1, "a", "entered", 4))
		return nil
	})
	update(t, s, q.ID, func(tx store.Tx) error {
		tx.Count(c(flow, 1, "a", "entered", 3))
		tx.Count(c(flow, 1, "a", "waiting", 2))
		return nil
	})
	update(t, s, q.ID, func(tx store.Tx) error {
		tx.Count(c(flow, 1, "a", "waiting", -1))
		return nil
	})
	err := s.Update(ctx, q.ID, func(tx store.Tx) error {
		tx.Count(c(flow, 1, "a", "entered", 100))
		tx.Count(c(flow, 3, "z", "new", 1))
		return errRollback
	})
	require.ErrorIs(t, err, errRollback)

	require.ElementsMatch(t, []store.Counter{
		c(flow, 1, "a", "entered", 10),
		c(flow, 1, "a", "branch:yes", 1),
		c(flow, 1, "a", "waiting", 1),
		c(flow, 1, "b", "entered", 1),
		c(flow, 2, "a", "entered", 1),
	}, counters(t, s, flow))
	require.Equal(t, []store.Counter{c(other, 1, "a", "entered", 5)}, counters(t, s, other))
	require.Empty(t, counters(t, s, uniq(t, "flow")))
	// Reading counters changes nothing else.
	requireFound(t, s, store.PersonRef{ExternalID: p.ExternalID}, p.ID)
	requireFound(t, s, store.PersonRef{Email: q.Emails[0]}, q.ID)
}

// ---------------------------------------------------------------------------
// Concurrency

var concurrencyTests = []test{
	{"NoLostUpdates", testNoLostUpdates},
	{"PeopleUpdateInParallel", testPeopleUpdateInParallel},
	{"NewParticipantIDRace", testNewParticipantIDRace},
	{"ReadsDuringWrites", testReadsDuringWrites},
}

func testNoLostUpdates(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := newPerson(t, s)
	flow := newFlow(t, s)
	part := newParticipant(t, p.ID, flow)
	part.Vars = map[string]any{"n": 0.0}
	put(t, s, part)

	const workers, rounds = 8, 25
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range rounds {
				id, err := uuid.NewV7()
				if !assert.NoError(t, err) {
					return
				}
				err = s.Update(ctx, p.ID, func(tx store.Tx) error {
					parts, err := tx.Participants()
					if err != nil {
						return err
					}
					i := slices.IndexFunc(parts, func(q *store.Participant) bool { return q.ID == part.ID })
					if i < 0 {
						return errors.New("participant not found")
					}
					cur := parts[i]
					n, _ := cur.Vars["n"].(float64)
					cur.Vars["n"] = n + 1
					if err := tx.PutParticipant(cur); err != nil {
						return err
					}
					tx.Count(store.Counter{FlowID: flow, FlowVersion: 1, Element: "start", Key: "steps", N: 1})
					return tx.AddEvent(&store.Event{ID: id.String(), Category: store.External, Name: "Step", Time: base})
				})
				if !assert.NoError(t, err) {
					return
				}
			}
		})
	}
	wg.Wait()
	got := participant(t, s, part.ID)
	require.Equal(t, float64(workers*rounds), got.Vars["n"], "every increment lands")
	require.Equal(t, int64(workers*rounds+1), got.Version)
	require.Equal(t, []store.Counter{{FlowID: flow, FlowVersion: 1, Element: "start", Key: "steps", N: workers * rounds}}, counters(t, s, flow))
	require.Len(t, queryEvents(t, s, p.ID, store.EventQuery{}), workers*rounds)
}

// Every person's Update waits inside fn until all of them are inside theirs:
// a store that serialized different people would never get there.
func testPeopleUpdateInParallel(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 4
	people := make([]*store.Person, n)
	for i := range people {
		people[i] = newPerson(t, s)
	}
	var inside sync.WaitGroup
	inside.Add(n)
	all := make(chan struct{})
	go func() { inside.Wait(); close(all) }()
	errs := make(chan error, n)
	for _, p := range people {
		go func() {
			var once sync.Once
			errs <- s.Update(ctx, p.ID, func(tx store.Tx) error {
				once.Do(inside.Done)
				select {
				case <-all:
				case <-time.After(10 * time.Second):
					return errors.New("updates of different people did not run in parallel")
				}
				q, err := tx.Person()
				if err != nil {
					return err
				}
				q.FirstName = "Parallel"
				return tx.PutPerson(q)
			})
		}()
	}
	for range n {
		require.NoError(t, <-errs)
	}
	for _, p := range people {
		got, err := txPerson(t, s, p.ID)
		require.NoError(t, err)
		require.Equal(t, "Parallel", got.FirstName)
	}
}

func testNewParticipantIDRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := newPerson(t, s), newPerson(t, s)
	flow := newFlow(t, s)
	for range 20 {
		id := newID(t)
		results := make([]error, 2)
		var wg sync.WaitGroup
		for i, p := range []*store.Person{a, b} {
			wg.Go(func() {
				part := &store.Participant{ID: id, PersonID: p.ID, FlowID: flow, FlowVersion: 1, Status: store.Active, Element: "start", EnteredAt: base}
				results[i] = s.Update(ctx, p.ID, func(tx store.Tx) error { return tx.PutParticipant(part) })
			})
		}
		wg.Wait()
		winner := -1
		for i, err := range results {
			if err == nil {
				require.Equal(t, -1, winner, "both people created participant %s", id)
				winner = i
			} else {
				require.ErrorIs(t, err, store.ErrDuplicate)
			}
		}
		require.NotEqual(t, -1, winner, "nobody created participant %s", id)
		require.Equal(t, []*store.Person{a, b}[winner].ID, participant(t, s, id).PersonID)
	}
}

// Store-wide reads run while people are updated; run with -race.
func testReadsDuringWrites(t *testing.T, s store.Store) {
	ctx := t.Context()
	flow := newFlow(t, s)
	var ws []*store.Participant
	for i := range 4 {
		ws = append(ws, waiter(t, s, flow, base.Add(time.Duration(i)*time.Minute)))
	}
	stop := make(chan struct{})
	var writers, readers sync.WaitGroup
	for _, w := range ws {
		writers.Go(func() {
			for i := range 50 {
				err := s.Update(ctx, w.PersonID, func(tx store.Tx) error {
					p, err := tx.Person()
					if err != nil {
						return err
					}
					p.Attributes = map[string]any{"i": float64(i)}
					if err := tx.PutPerson(p); err != nil {
						return err
					}
					parts, err := tx.Participants()
					if err != nil {
						return err
					}
					for _, q := range parts {
						w := *q.Wait // replaced, never changed in place
						w.Until = w.Until.Add(time.Second)
						w.Parked = i%5 == 0
						q.Wait = &w
						if err := tx.PutParticipant(q); err != nil {
							return err
						}
					}
					tx.Count(store.Counter{FlowID: flow, FlowVersion: 1, Element: "wait", Key: "ticks", N: 1})
					return nil
				})
				if !assert.NoError(t, err) {
					return
				}
			}
		})
	}
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			_, err := s.DueTimers(ctx, base.Add(time.Hour), 10)
			assert.NoError(t, err)
			_, _, err = s.NextDue(ctx)
			assert.NoError(t, err)
			_, err = s.Participants(ctx, &store.ParticipantQuery{FlowID: flow})
			assert.NoError(t, err)
			_, err = s.Participant(ctx, ws[0].ID)
			assert.NoError(t, err)
			_, err = s.FindPerson(ctx, store.PersonRef{ID: ws[1].PersonID})
			assert.NoError(t, err)
			_, err = s.Counters(ctx, flow)
			assert.NoError(t, err)
			_, err = s.Flows(ctx)
			assert.NoError(t, err)
		}
	})
	writers.Wait()
	close(stop)
	readers.Wait()
	require.Equal(t, []store.Counter{{FlowID: flow, FlowVersion: 1, Element: "wait", Key: "ticks", N: 200}}, counters(t, s, flow))
	for _, w := range ws {
		require.Equal(t, int64(51), participant(t, s, w.ID).Version)
	}
}

// ---------------------------------------------------------------------------
// Helpers

func newID(t *testing.T) uuid.UUID {
	t.Helper()
	id, err := uuid.NewV7()
	require.NoError(t, err)
	return id
}

func uniq(t *testing.T, prefix string) string { return prefix + "-" + newID(t).String() }

func email(id uuid.UUID, n int) string { return fmt.Sprintf("p%d-%s@example.com", n, id) }

// phone returns a phone number unique to id and n.
func phone(id uuid.UUID, n int) string {
	return fmt.Sprintf("385%d%d", n, binary.BigEndian.Uint64(id[8:])>>1)
}

// spaced writes a phone number as people type it: "+385 91 234 5678".
func spaced(ph string) string { return "+" + ph[:3] + " " + ph[3:5] + " " + ph[5:8] + " " + ph[8:] }

func doc(flowID string) []byte { return fmt.Appendf(nil, `{"id":%q}`, flowID) }

func publish(t *testing.T, s store.Store, flowID string) int {
	t.Helper()
	v, err := s.PublishFlow(t.Context(), &store.FlowVersion{FlowID: flowID, Document: doc(flowID), PublishedAt: base})
	require.NoError(t, err)
	return v
}

func newFlow(t *testing.T, s store.Store) string {
	t.Helper()
	id := uniq(t, "flow")
	publish(t, s, id)
	return id
}

func flowState(t *testing.T, s store.Store, flowID string) *store.FlowState {
	t.Helper()
	st, err := s.Flow(t.Context(), flowID)
	require.NoError(t, err)
	return st
}

func update(t *testing.T, s store.Store, personID uuid.UUID, fn func(store.Tx) error) {
	t.Helper()
	require.NoError(t, s.Update(t.Context(), personID, fn))
}

// newPerson stores a new person with an external id, a phone and an email.
func newPerson(t *testing.T, s store.Store) *store.Person {
	t.Helper()
	id := newID(t)
	p := &store.Person{
		ID:         id,
		ExternalID: "x-" + id.String(),
		Phones:     []string{phone(id, 0)},
		Emails:     []string{email(id, 0)},
		CreatedAt:  base,
		UpdatedAt:  base,
	}
	update(t, s, id, func(tx store.Tx) error { return tx.PutPerson(p) })
	return p
}

func txPerson(t *testing.T, s store.Store, id uuid.UUID) (*store.Person, error) {
	t.Helper()
	var p *store.Person
	var perr error
	update(t, s, id, func(tx store.Tx) error {
		p, perr = tx.Person()
		return nil
	})
	return p, perr
}

func requireFound(t *testing.T, s store.Store, ref store.PersonRef, want uuid.UUID) {
	t.Helper()
	got, err := s.FindPerson(t.Context(), ref)
	require.NoError(t, err, "%+v", ref)
	require.Equal(t, want, got, "%+v", ref)
}

func requireNotFound(t *testing.T, s store.Store, ref store.PersonRef) {
	t.Helper()
	_, err := s.FindPerson(t.Context(), ref)
	require.ErrorIs(t, err, store.ErrNotFound, "%+v", ref)
}

func newParticipant(t *testing.T, personID uuid.UUID, flowID string) *store.Participant {
	t.Helper()
	return &store.Participant{
		ID:             newID(t),
		PersonID:       personID,
		FlowID:         flowID,
		FlowVersion:    1,
		Status:         store.Active,
		Element:        "start",
		EnteredAt:      base,
		ArrivedAt:      base,
		LastActivityAt: base,
	}
}

// put stores p in its own transaction; p.Version follows.
func put(t *testing.T, s store.Store, p *store.Participant) {
	t.Helper()
	update(t, s, p.PersonID, func(tx store.Tx) error { return tx.PutParticipant(p) })
}

// waiter stores a new person with one participant waiting until until.
func waiter(t *testing.T, s store.Store, flowID string, until time.Time) *store.Participant {
	t.Helper()
	w := newParticipant(t, newPerson(t, s).ID, flowID)
	w.Status = store.Waiting
	w.Element = "wait"
	w.Wait = &store.Wait{Until: until, Deadline: until}
	put(t, s, w)
	return w
}

func participant(t *testing.T, s store.Store, id uuid.UUID) *store.Participant {
	t.Helper()
	p, err := s.Participant(t.Context(), id)
	require.NoError(t, err)
	return p
}

func participants(t *testing.T, s store.Store, q *store.ParticipantQuery) []*store.Participant {
	t.Helper()
	ps, err := s.Participants(t.Context(), q)
	require.NoError(t, err)
	return ps
}

func participantIDs(ps []*store.Participant) []uuid.UUID {
	ids := make([]uuid.UUID, 0, len(ps))
	for _, p := range ps {
		ids = append(ids, p.ID)
	}
	return ids
}

func compareIDs(a, b uuid.UUID) int { return strings.Compare(string(a[:]), string(b[:])) }

func newEvent(t *testing.T, name string, at time.Time) *store.Event {
	t.Helper()
	return &store.Event{ID: "evt-" + newID(t).String(), Category: store.External, Name: name, Time: at}
}

func queryEvents(t *testing.T, s store.Store, personID uuid.UUID, q store.EventQuery) []*store.Event {
	t.Helper()
	var out []*store.Event
	update(t, s, personID, func(tx store.Tx) error {
		var err error
		out, err = tx.Events(&q)
		return err
	})
	return out
}

// eventIDs returns the events' IDs, nil for none.
func eventIDs(es []*store.Event) []string {
	var ids []string
	for _, e := range es {
		ids = append(ids, e.ID)
	}
	return ids
}

func counters(t *testing.T, s store.Store, flowID string) []store.Counter {
	t.Helper()
	cs, err := s.Counters(t.Context(), flowID)
	require.NoError(t, err)
	return cs
}

func requireTime(t *testing.T, want, got time.Time, msgAndArgs ...any) {
	t.Helper()
	require.True(t, want.Equal(got), "time %v, want %v %s", got, want, fmt.Sprint(msgAndArgs...))
}

// requireTimers checks that got names the participants' timers, in order.
func requireTimers(t *testing.T, got []store.Timer, want ...*store.Participant) {
	t.Helper()
	gotIDs := make([]uuid.UUID, len(got))
	for i, tm := range got {
		gotIDs[i] = tm.ParticipantID
	}
	require.Equal(t, participantIDs(want), gotIDs, "due participants")
	for i, w := range want {
		require.Equal(t, w.PersonID, got[i].PersonID, "timer %d", i)
		requireTime(t, w.Wait.Until, got[i].Due, "timer ", i)
	}
}

// within runs fn and fails the test when it does not return in d.
func within(t *testing.T, d time.Duration, what string, fn func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		require.NoError(t, err, what)
	case <-time.After(d):
		t.Fatalf("%s did not return in %v", what, d)
	}
}

// Stores may hand back times in another location or without a monotonic
// reading; the norm functions put every time of a record in UTC so that
// records compare with require.Equal.

func normPerson(p *store.Person) *store.Person {
	p.BirthDate = p.BirthDate.UTC()
	p.CreatedAt = p.CreatedAt.UTC()
	p.UpdatedAt = p.UpdatedAt.UTC()
	if p.Attributes != nil {
		p.Attributes = InUTC(p.Attributes).(map[string]any)
	}
	for k, v := range p.LastContacted {
		p.LastContacted[k] = v.UTC()
	}
	return p
}

func normParticipant(p *store.Participant) *store.Participant {
	p.EnteredAt = p.EnteredAt.UTC()
	p.ArrivedAt = p.ArrivedAt.UTC()
	p.LastActivityAt = p.LastActivityAt.UTC()
	p.ExitedAt = p.ExitedAt.UTC()
	if p.Vars != nil {
		p.Vars = InUTC(p.Vars).(map[string]any)
	}
	if p.Entry != nil {
		p.Entry = normEvent(p.Entry)
	}
	if p.Wait != nil {
		p.Wait.Until = p.Wait.Until.UTC()
		p.Wait.Deadline = p.Wait.Deadline.UTC()
		if p.Wait.State != nil {
			p.Wait.State = InUTC(p.Wait.State).(map[string]any)
		}
	}
	for i := range p.Journal {
		p.Journal[i].At = p.Journal[i].At.UTC()
	}
	if e := p.Effect; e != nil {
		e.Started = e.Started.UTC()
		if w := e.Resumed; w != nil {
			w.Until, w.Deadline = w.Until.UTC(), w.Deadline.UTC()
			if w.State != nil {
				w.State = InUTC(w.State).(map[string]any)
			}
		}
		if e.Event != nil {
			e.Event = normEvent(e.Event)
		}
		for i, h := range e.Held {
			e.Held[i] = normEvent(h)
		}
	}
	return p
}

// normEvent returns a normalized copy of e.
func normEvent(e *store.Event) *store.Event {
	c := *e
	c.Time = c.Time.UTC()
	if c.Properties != nil {
		c.Properties = InUTC(c.Properties).(map[string]any)
	}
	return &c
}

// InUTC returns a deep copy of a stored value with its times in UTC, as
// stores hand values back: compare what a store returns with InUTC of what
// it was given.
func InUTC(v any) any {
	switch x := v.(type) {
	case time.Time:
		return x.UTC()
	case map[string]any:
		c := make(map[string]any, len(x))
		for k, e := range x {
			c[k] = InUTC(e)
		}
		return c
	case []any:
		c := make([]any, len(x))
		for i, e := range x {
			c[i] = InUTC(e)
		}
		return c
	}
	return v
}

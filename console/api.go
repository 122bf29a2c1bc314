package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

// api serves the JSON endpoints.
type api struct {
	eng  *flow.Engine
	opts Options
}

// The response records. They are the console's own, in lowerCamel JSON,
// so that the store's records can change without changing the API.
type (
	flowJSON struct {
		ID        string        `json:"id"`
		Name      string        `json:"name"`
		Status    string        `json:"status"`
		TimeZone  string        `json:"timezone"`
		Latest    int           `json:"latest"`
		UpdatedAt time.Time     `json:"updatedAt"`
		Versions  []versionJSON `json:"versions"`
		// Can lists the lifecycle actions Authorize lets the user take on
		// the flow, whether or not its status allows them now.
		Can []Action `json:"can"`
		// Experiments are the flow's experiments (flow.Engine.Experiments).
		Experiments []experimentJSON `json:"experiments"`
	}
	// experimentJSON is one experiment: a Split Audience of a version
	// (element "" and holdout true for the flow's holdout).
	experimentJSON struct {
		Element    string  `json:"element"`
		Version    int     `json:"version"`
		Holdout    bool    `json:"holdout,omitempty"`
		Goal       string  `json:"goal"`
		Confidence float64 `json:"confidence"`
		// Winner is "" while the experiment runs; DecidedAt is RFC 3339,
		// "" while it runs.
		Winner    string               `json:"winner"`
		DecidedAt string               `json:"decidedAt"`
		Reason    string               `json:"reason,omitempty"`
		Variants  []flow.VariantResult `json:"variants"`
		Decided   []flow.VariantResult `json:"decided,omitempty"`
	}
	flowsJSON struct {
		Flows []flowJSON `json:"flows"`
		// Can lists the actions on the console as a whole that the user
		// may take: ReadPeople, or none.
		Can []Action `json:"can"`
	}
	versionJSON struct {
		Version     int       `json:"version"`
		PublishedAt time.Time `json:"publishedAt"`
		// Entered counts the participants that entered the version;
		// InFlow those waiting or in a call outside on it now. Both are
		// given by GET /api/flows/{flow}, and zero in the flow list.
		Entered int64 `json:"entered"`
		InFlow  int64 `json:"inFlow"`
	}
	documentJSON struct {
		FlowID   string     `json:"flowId"`
		Version  int        `json:"version"`
		Document *flow.Flow `json:"document"`
	}
	statsJSON struct {
		FlowID string `json:"flowId"`
		// Version is the version counted; 0 for every version.
		Version  int           `json:"version"`
		Elements []elementJSON `json:"elements"`
		// Goals names the flow's conversion goals.
		Goals []string `json:"goals"`
		// Experiments are the results of the flow's Split Audience
		// experiments, where the engine provides them.
		Experiments []experimentJSON `json:"experiments,omitempty"`
	}
	elementJSON struct {
		ID       string           `json:"id"`
		Type     string           `json:"type"`
		Name     string           `json:"name,omitempty"`
		Entered  int64            `json:"entered"`
		Waiting  int64            `json:"waiting"`
		InFlight int64            `json:"inFlight"`
		Errors   int64            `json:"errors"`
		Left     map[string]int64 `json:"left"`
		// ExitRules counts participants exit rules took out here, by rule.
		ExitRules map[string]int64 `json:"exitRules"`
		// Conversions counts participants that reached the element and
		// then converted, by goal; BranchConversions those that left it
		// by a branch and then converted, by branch and goal.
		Conversions       map[string]int64            `json:"conversions"`
		BranchConversions map[string]map[string]int64 `json:"branchConversions"`
		Other             map[string]int64            `json:"other"`
	}
	participantJSON struct {
		ID             string         `json:"id"`
		PersonID       string         `json:"personId"`
		FlowID         string         `json:"flowId"`
		FlowVersion    int            `json:"flowVersion"`
		Status         string         `json:"status"`
		Element        string         `json:"element"`
		EnteredAt      time.Time      `json:"enteredAt"`
		ArrivedAt      time.Time      `json:"arrivedAt"`
		LastActivityAt time.Time      `json:"lastActivityAt"`
		ExitedAt       *time.Time     `json:"exitedAt,omitempty"`
		Reason         string         `json:"reason,omitempty"`
		Steps          int64          `json:"steps"`
		Vars           map[string]any `json:"vars,omitempty"`
		Wait           *waitJSON      `json:"wait,omitempty"`
		// Person is who the participant is, for users who may read
		// people; absent otherwise.
		Person  *personBriefJSON `json:"person,omitempty"`
		Journal []stepJSON       `json:"journal,omitempty"`
	}
	waitJSON struct {
		Until    *time.Time `json:"until,omitempty"`
		Deadline *time.Time `json:"deadline,omitempty"`
		Events   []string   `json:"events,omitempty"`
		Parked   bool       `json:"parked,omitempty"`
	}
	stepJSON struct {
		Seq     int64     `json:"seq"`
		At      time.Time `json:"at"`
		Element string    `json:"element"`
		Branch  string    `json:"branch,omitempty"`
		Reason  string    `json:"reason"`
	}
	personBriefJSON struct {
		ExternalID string `json:"externalId,omitempty"`
		Name       string `json:"name,omitempty"`
		Email      string `json:"email,omitempty"`
		Phone      string `json:"phone,omitempty"`
	}
	participantsJSON struct {
		Participants []participantJSON `json:"participants"`
		// Next is the "after" of the next page; absent on the last page.
		Next string `json:"next,omitempty"`
		// Prev is the "before" of the page before; absent on the first.
		Prev string `json:"prev,omitempty"`
		// Total counts every participant the filters select, on every
		// page; absent when the store cannot count.
		Total *int64 `json:"total,omitempty"`
	}
	personJSON struct {
		ID                string         `json:"id"`
		ExternalID        string         `json:"externalId,omitempty"`
		FirstName         string         `json:"firstName,omitempty"`
		LastName          string         `json:"lastName,omitempty"`
		Gender            string         `json:"gender,omitempty"`
		BirthDate         string         `json:"birthDate,omitempty"`
		City              string         `json:"city,omitempty"`
		Country           string         `json:"country,omitempty"`
		PreferredLanguage string         `json:"preferredLanguage,omitempty"`
		TimeZone          string         `json:"timeZone,omitempty"`
		Attributes        map[string]any `json:"attributes,omitempty"`
		Phones            []string       `json:"phones,omitempty"`
		Emails            []string       `json:"emails,omitempty"`
		// PushApps names the apps the person has push registrations in;
		// their tokens stay out of the console.
		PushApps     []string  `json:"pushApps,omitempty"`
		Tags         []string  `json:"tags,omitempty"`
		DoNotContact []string  `json:"doNotContact,omitempty"`
		CreatedAt    time.Time `json:"createdAt"`
		UpdatedAt    time.Time `json:"updatedAt"`
	}
	personPageJSON struct {
		Person         personJSON        `json:"person"`
		Participations []participantJSON `json:"participations"`
	}
	eventJSON struct {
		ID         string         `json:"id"`
		Category   string         `json:"category"`
		Name       string         `json:"name"`
		Properties map[string]any `json:"properties,omitempty"`
		Time       time.Time      `json:"time"`
	}
	eventsJSON struct {
		Events []eventJSON `json:"events"`
		// Next is the "before" of the next (older) page; absent on the
		// last page.
		Next string `json:"next,omitempty"`
	}
	statusJSON struct {
		FlowID string `json:"flowId"`
		Status string `json:"status"`
	}
	errorJSON struct {
		Error string `json:"error"`
		// LoginURL is where to sign in, on a 401.
		LoginURL string `json:"loginUrl,omitempty"`
	}
)

// endpoint answers one API request, given its query parameters, with a
// value to encode or an error for fail.
type endpoint func(r *http.Request, q url.Values) (any, error)

// serve adapts an endpoint: it authorizes the request for act on the
// path's {flow}, if any, refuses query parameters other than params, and
// writes the answer.
func (a *api) serve(act Action, fn endpoint, params ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !a.allow(w, r, Access{Action: act, FlowID: r.PathValue("flow")}) {
			return
		}
		q, err := query(r.URL, params...)
		var v any
		if err == nil {
			v, err = fn(r, q)
		}
		if err != nil {
			a.fail(w, r, err)
			return
		}
		writeJSON(w, v)
	}
}

// GET /api/flows: every flow the user may read, with its status and
// versions.
func (a *api) flows(r *http.Request, _ url.Values) (any, error) {
	infos, err := a.eng.Flows(r.Context())
	if err != nil {
		return nil, err
	}
	out := flowsJSON{Flows: []flowJSON{}, Can: []Action{}}
	if a.may(r, Access{Action: ReadPeople}) {
		out.Can = append(out.Can, ReadPeople)
	}
	for _, info := range infos {
		if !a.may(r, Access{Action: Read, FlowID: info.Flow.ID}) {
			continue
		}
		fj, err := a.flowOf(r, info, false)
		if err != nil {
			return nil, err
		}
		out.Flows = append(out.Flows, fj)
	}
	return out, nil
}

// GET /api/flows/{flow}: one flow with its status and versions.
func (a *api) flow(r *http.Request, _ url.Values) (any, error) {
	info, err := a.eng.Flow(r.Context(), r.PathValue("flow"))
	if err != nil {
		return nil, err
	}
	return a.flowOf(r, info, true)
}

// flowOf is a flow's record for the user of r, who may read it; with
// counts, its versions say how many entered them and are in them now.
func (a *api) flowOf(r *http.Request, info *flow.FlowInfo, counts bool) (flowJSON, error) {
	ctx := r.Context()
	vs, err := a.eng.Versions(ctx, info.Flow.ID)
	if err != nil {
		return flowJSON{}, err
	}
	var perVersion map[int]versionCount
	if counts {
		if perVersion, err = a.versionCounts(ctx, info.Flow.ID, len(vs)); err != nil {
			return flowJSON{}, err
		}
	}
	tz := info.Flow.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	fj := flowJSON{
		ID: info.Flow.ID, Name: info.Flow.Name, Status: string(info.Status), TimeZone: tz,
		Latest: info.Flow.Version, UpdatedAt: info.UpdatedAt, Versions: make([]versionJSON, len(vs)), Can: []Action{},
	}
	for _, act := range flowActions {
		if a.may(r, Access{Action: act, FlowID: info.Flow.ID}) {
			fj.Can = append(fj.Can, act)
		}
	}
	for i, v := range vs {
		fj.Versions[i] = versionJSON{Version: v.Version, PublishedAt: v.PublishedAt}
		if c, ok := perVersion[v.Version]; ok {
			fj.Versions[i].Entered, fj.Versions[i].InFlow = c.entered, c.inFlow
		}
	}
	if fj.Experiments, err = a.experiments(r.Context(), info.Flow.ID, 0); err != nil {
		return flowJSON{}, err
	}
	return fj, nil
}

// experiments returns the results of a flow's experiments, of one version
// or, for version 0, of every version.
func (a *api) experiments(ctx context.Context, flowID string, version int) ([]experimentJSON, error) {
	ex, err := a.eng.Experiments(ctx, flowID)
	if err != nil {
		return nil, err
	}
	out := []experimentJSON{}
	for _, x := range ex {
		if version != 0 && x.Version != version {
			continue
		}
		xj := experimentJSON{Element: x.Element, Version: x.Version, Holdout: x.Holdout, Goal: x.Goal, Confidence: x.Confidence,
			Winner: x.Winner, Reason: x.Reason, Variants: x.Variants, Decided: x.Decided}
		if !x.DecidedAt.IsZero() {
			xj.DecidedAt = x.DecidedAt.UTC().Format(time.RFC3339Nano)
		}
		out = append(out, xj)
	}
	return out, nil
}

// versionCount is how many entered a version and are in it now.
type versionCount struct{ entered, inFlow int64 }

// versionCounts counts, from the flow's counters, the participants that
// entered each version (those that reached its start element) and those
// waiting or calling outside on it now.
func (a *api) versionCounts(ctx context.Context, flowID string, versions int) (map[int]versionCount, error) {
	out := make(map[int]versionCount, versions)
	for v := 1; v <= versions; v++ {
		f, err := a.eng.FlowVersion(ctx, flowID, v)
		if err != nil {
			return nil, err
		}
		st, err := a.eng.VersionStats(ctx, flowID, v)
		if err != nil {
			return nil, err
		}
		start := f.Start
		if start == "" && len(f.Elements) > 0 {
			start = f.Elements[0].ID
		}
		var c versionCount
		for _, e := range st {
			if e.ID == start {
				c.entered = e.Entered
			}
			c.inFlow += e.Waiting + e.InFlight
		}
		out[v] = c
	}
	return out, nil
}

// GET /api/flows/{flow}/versions/{version}: one version's document.
func (a *api) document(r *http.Request, _ url.Values) (any, error) {
	v, err := version(r.PathValue("version"))
	if err != nil {
		return nil, err
	}
	f, err := a.eng.FlowVersion(r.Context(), r.PathValue("flow"), v)
	if err != nil {
		return nil, err
	}
	return documentJSON{FlowID: f.ID, Version: f.Version, Document: f}, nil
}

// GET /api/flows/{flow}/versions/{version}/stats: one version's counts,
// a row for every element in document order.
func (a *api) stats(r *http.Request, _ url.Values) (any, error) {
	flowID := r.PathValue("flow")
	v, err := version(r.PathValue("version"))
	if err != nil {
		return nil, err
	}
	f, err := a.eng.FlowVersion(r.Context(), flowID, v)
	if err != nil {
		return nil, err
	}
	st, err := a.eng.VersionStats(r.Context(), flowID, v)
	if err != nil {
		return nil, err
	}
	out := statsJSON{FlowID: flowID, Version: v, Elements: make([]elementJSON, len(st)), Goals: goalNames(f)}
	for i, s := range st {
		out.Elements[i] = elementOf(s.ID, s.Kind, s.Name, &s.ElementStats)
	}
	if out.Experiments, err = a.experiments(r.Context(), flowID, v); err != nil {
		return nil, err
	}
	return out, nil
}

// GET /api/flows/{flow}/stats: the counts of every version together, a
// row for every element of any version: the latest version's in document
// order, then those only earlier versions have, newest first.
func (a *api) allStats(r *http.Request, _ url.Values) (any, error) {
	ctx := r.Context()
	flowID := r.PathValue("flow")
	vs, err := a.eng.Versions(ctx, flowID)
	if err != nil {
		return nil, err
	}
	st, err := a.eng.Stats(ctx, flowID)
	if err != nil {
		return nil, err
	}
	out := statsJSON{FlowID: flowID, Elements: []elementJSON{}, Goals: []string{}}
	seen := map[string]bool{}
	for i := len(vs) - 1; i >= 0; i-- {
		f, err := a.eng.FlowVersion(ctx, flowID, vs[i].Version)
		if err != nil {
			return nil, err
		}
		if i == len(vs)-1 {
			out.Goals = goalNames(f)
		}
		for _, n := range f.Elements {
			if seen[n.ID] {
				continue
			}
			seen[n.ID] = true
			es := st[n.ID]
			if es == nil {
				es = &flow.ElementStats{}
			}
			out.Elements = append(out.Elements, elementOf(n.ID, n.Element.Kind(), n.Name, es))
			// Every branch of the element has a row, zero or not.
			for _, b := range n.Element.Branches() {
				if _, ok := out.Elements[len(out.Elements)-1].Left[b]; !ok {
					out.Elements[len(out.Elements)-1].Left[b] = 0
				}
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(st)) {
		if !seen[id] { // counted at an element no version has: kept, not hidden
			out.Elements = append(out.Elements, elementOf(id, "", "", st[id]))
		}
	}
	if out.Experiments, err = a.experiments(ctx, flowID, 0); err != nil {
		return nil, err
	}
	return out, nil
}

func goalNames(f *flow.Flow) []string {
	out := make([]string, 0, len(f.Goals))
	for _, g := range f.Goals {
		out = append(out, g.Name)
	}
	return out
}

// elementOf is an element's row of counts, with empty maps rather than
// absent ones.
func elementOf(id, kind, name string, s *flow.ElementStats) elementJSON {
	e := elementJSON{
		ID: id, Type: kind, Name: name, Entered: s.Entered, Waiting: s.Waiting, InFlight: s.InFlight, Errors: s.Errors,
		Left: maps.Clone(s.Left), ExitRules: maps.Clone(s.ExitRules), Conversions: maps.Clone(s.Conversions),
		BranchConversions: s.BranchConversions, Other: maps.Clone(s.Other),
	}
	for _, m := range []*map[string]int64{&e.Left, &e.ExitRules, &e.Conversions, &e.Other} {
		if *m == nil {
			*m = map[string]int64{}
		}
	}
	if e.BranchConversions == nil {
		e.BranchConversions = map[string]map[string]int64{}
	}
	return e
}

// participantsParams are the query parameters of a participant list.
var participantsParams = []string{"status", "element", "version", "reason", "sort", "after", "before", "limit"}

// GET /api/flows/{flow}/participants?status=&element=&version=&reason=&sort=&after=&before=&limit=:
// a page of a flow's participants, oldest first (sort=newest for newest
// first), without their journals, with the total the filters select.
func (a *api) participants(r *http.Request, q url.Values) (any, error) {
	ctx := r.Context()
	flowID := r.PathValue("flow")
	pq := store.ParticipantQuery{FlowID: flowID, Element: q.Get("element"), Reason: q.Get("reason")}
	var err error
	if pq.Statuses, err = statusList(q.Get("status")); err != nil {
		return nil, err
	}
	if q.Get("version") != "" {
		if pq.Version, err = version(q.Get("version")); err != nil {
			return nil, err
		}
	}
	newest := false
	switch q.Get("sort") {
	case "", "oldest":
	case "newest":
		newest = true
	default:
		return nil, badParam("sort", "must be oldest or newest, got %q", q.Get("sort"))
	}
	var after, before uuid.UUID
	if q.Has("after") {
		if after, err = id("after", q.Get("after")); err != nil {
			return nil, err
		}
	}
	if q.Has("before") {
		if before, err = id("before", q.Get("before")); err != nil {
			return nil, err
		}
	}
	if after != uuid.Nil && before != uuid.Nil {
		return nil, badParam("before", "give after or before, not both")
	}
	n, err := limit(q)
	if err != nil {
		return nil, err
	}
	// An unknown flow is a 404, not an empty list.
	if _, err := a.eng.Versions(ctx, flowID); err != nil {
		return nil, err
	}
	// The store lists in ascending or descending ID order; a page back
	// is read in the other order, then turned round.
	back := before != uuid.Nil
	cursor := after
	if back {
		cursor = before
	}
	pq.Descending = newest != back
	if cursor != uuid.Nil {
		if pq.Descending {
			pq.Before = cursor
		} else {
			pq.After = cursor
		}
	}
	// The total is counted while the page is read.
	type count struct {
		n   int64
		ok  bool
		err error
	}
	counted := make(chan count, 1)
	go func() {
		var c count
		c.n, c.ok, c.err = a.eng.CountParticipants(ctx, store.ParticipantQuery{FlowID: flowID, Statuses: pq.Statuses, Element: pq.Element, Version: pq.Version, Reason: pq.Reason})
		counted <- c
	}()
	total := func() (*int64, error) {
		c := <-counted
		if !c.ok {
			return nil, c.err
		}
		return &c.n, nil
	}
	pq.Limit = n + 1 // one more tells whether a page beyond exists
	ps, err := a.eng.Participants(ctx, pq)
	if err != nil {
		total()
		return nil, err
	}
	more := len(ps) > n
	ps = ps[:min(len(ps), n)]
	if back {
		slices.Reverse(ps)
	}
	out := participantsJSON{Participants: make([]participantJSON, 0, len(ps))}
	if len(ps) > 0 {
		first, last := ps[0].ID.String(), ps[len(ps)-1].ID.String()
		if back {
			out.Next = last // the page the user came from
			if more {
				out.Prev = first
			}
		} else {
			if more {
				out.Next = last
			}
			if cursor != uuid.Nil {
				out.Prev = first
			}
		}
	}
	for _, p := range ps {
		out.Participants = append(out.Participants, participantOf(p, false))
	}
	if a.may(r, Access{Action: ReadPeople}) {
		if err := a.addPeople(ctx, out.Participants); err != nil {
			total()
			return nil, err
		}
	}
	if out.Total, err = total(); err != nil {
		return nil, err
	}
	return out, nil
}

// addPeople adds who each participant is, reading the people a few at a
// time.
func (a *api) addPeople(ctx context.Context, parts []participantJSON) error {
	var g errgroup
	sem := make(chan struct{}, 8)
	for i := range parts {
		pid, err := uuid.Parse(parts[i].PersonID)
		if err != nil {
			return err
		}
		sem <- struct{}{}
		g.Go(func() error {
			defer func() { <-sem }()
			p, err := a.eng.Person(ctx, store.PersonRef{ID: pid})
			if errors.Is(err, store.ErrNotFound) {
				return nil // erased meanwhile
			}
			if err != nil {
				return err
			}
			parts[i].Person = briefOf(p)
			return nil
		})
	}
	return g.Wait()
}

func briefOf(p *store.Person) *personBriefJSON {
	b := &personBriefJSON{ExternalID: p.ExternalID, Name: strings.TrimSpace(p.FirstName + " " + p.LastName)}
	if len(p.Emails) > 0 {
		b.Email = p.Emails[0]
	}
	if len(p.Phones) > 0 {
		b.Phone = p.Phones[0]
	}
	return b
}

// errgroup runs functions on goroutines and returns the first error.
type errgroup struct {
	wg   sync.WaitGroup
	once sync.Once
	err  error
}

func (g *errgroup) Go(fn func() error) {
	g.wg.Go(func() {
		if err := fn(); err != nil {
			g.once.Do(func() { g.err = err })
		}
	})
}

func (g *errgroup) Wait() error {
	g.wg.Wait()
	return g.err
}

// GET /api/participants/{id}: one participant with its journal. A
// participant of a flow the user may not read is not found, as one that
// does not exist.
func (a *api) participant(r *http.Request, _ url.Values) (any, error) {
	pid, err := id("id", r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	p, err := a.eng.Participant(r.Context(), pid)
	if err != nil {
		return nil, err
	}
	if !a.may(r, Access{Action: Read, FlowID: p.FlowID}) {
		return nil, fmt.Errorf("participant %s: %w", pid, store.ErrNotFound)
	}
	return participantOf(p, true), nil
}

// readable answers, for one request, whether its user may read a flow,
// asking Authorize once per flow.
type readable struct {
	a    *api
	r    *http.Request
	seen map[string]bool
}

func (rd *readable) flow(flowID string) bool {
	ok, asked := rd.seen[flowID]
	if !asked {
		ok = rd.a.may(rd.r, Access{Action: Read, FlowID: flowID})
		if rd.seen == nil {
			rd.seen = map[string]bool{}
		}
		rd.seen[flowID] = ok
	}
	return ok
}

// GET /api/person?id=|externalId=|phone=|email=: one person and their
// participations, with journals, in the flows the user may read.
func (a *api) person(r *http.Request, q url.Values) (any, error) {
	ref, err := personRef(q)
	if err != nil {
		return nil, err
	}
	p, err := a.eng.Person(r.Context(), ref)
	if err != nil {
		return nil, err
	}
	ps, err := a.eng.Participations(r.Context(), store.PersonRef{ID: p.ID})
	if err != nil {
		return nil, err
	}
	out := personPageJSON{Person: personOf(p), Participations: make([]participantJSON, 0, len(ps))}
	rd := readable{a: a, r: r}
	for _, part := range ps {
		if rd.flow(part.FlowID) {
			out.Participations = append(out.Participations, participantOf(part, true))
		}
	}
	return out, nil
}

// GET /api/person/events?<person>&before=&limit=: a page of a person's
// event history, newest first, of at most limit events. Events about a
// flow the user may not read (those whose "flowId" property names it, as
// the engine's own do) are left out, so a page may hold fewer.
func (a *api) events(r *http.Request, q url.Values) (any, error) {
	ref, err := personRef(q)
	if err != nil {
		return nil, err
	}
	until, untilID, err := before(q)
	if err != nil {
		return nil, err
	}
	n, err := limit(q)
	if err != nil {
		return nil, err
	}
	evs, err := a.eng.Events(r.Context(), ref, store.EventQuery{Until: until, UntilID: untilID, Limit: n + 1})
	if err != nil {
		return nil, err
	}
	var out eventsJSON
	if len(evs) > n {
		evs = evs[:n]
		out.Next = cursor(evs[n-1])
	}
	out.Events = make([]eventJSON, 0, len(evs))
	rd := readable{a: a, r: r}
	for _, e := range evs {
		if flowID, ok := e.Properties["flowId"].(string); ok && !rd.flow(flowID) {
			continue
		}
		out.Events = append(out.Events, eventJSON{ID: e.ID, Category: string(e.Category), Name: e.Name, Properties: e.Properties, Time: e.Time})
	}
	return out, nil
}

// lifecycle returns the endpoint of a flow lifecycle action, POST
// /api/flows/{flow}/{action}; it answers with the flow's new status and
// writes the action to the audit trail.
func (a *api) lifecycle(act Action, do func(*flow.Engine, context.Context, string) error) endpoint {
	return func(r *http.Request, _ url.Values) (any, error) {
		flowID := r.PathValue("flow")
		err := do(a.eng, r.Context(), flowID)
		a.record(r, act, flowID, "flow", "", err)
		if err != nil {
			return nil, err
		}
		info, err := a.eng.Flow(r.Context(), flowID)
		if err != nil {
			return nil, err
		}
		return statusJSON{FlowID: flowID, Status: string(info.Status)}, nil
	}
}

func participantOf(p *store.Participant, journal bool) participantJSON {
	out := participantJSON{
		ID: p.ID.String(), PersonID: p.PersonID.String(), FlowID: p.FlowID, FlowVersion: p.FlowVersion,
		Status: string(p.Status), Element: p.Element,
		EnteredAt: p.EnteredAt, ArrivedAt: p.ArrivedAt, LastActivityAt: p.LastActivityAt,
		ExitedAt: timeOrNil(p.ExitedAt), Reason: p.Reason, Steps: p.Seq, Vars: p.Vars,
	}
	if p.Wait != nil {
		out.Wait = &waitJSON{Until: timeOrNil(p.Wait.Until), Deadline: timeOrNil(p.Wait.Deadline), Events: p.Wait.Events, Parked: p.Wait.Parked}
	}
	if journal {
		out.Journal = make([]stepJSON, len(p.Journal))
		for i, s := range p.Journal {
			out.Journal[i] = stepJSON{Seq: s.Seq, At: s.At, Element: s.Element, Branch: s.Branch, Reason: s.Reason}
		}
	}
	return out
}

func personOf(p *store.Person) personJSON {
	out := personJSON{
		ID: p.ID.String(), ExternalID: p.ExternalID, FirstName: p.FirstName, LastName: p.LastName,
		Gender: p.Gender, City: p.City, Country: p.Country, PreferredLanguage: p.PreferredLanguage,
		TimeZone: p.TimeZone, Attributes: p.Attributes, Phones: p.Phones, Emails: p.Emails,
		Tags: p.Tags, DoNotContact: p.DoNotContact, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
	}
	if !p.BirthDate.IsZero() {
		out.BirthDate = p.BirthDate.Format(time.DateOnly)
	}
	for _, reg := range p.Push {
		out.PushApps = append(out.PushApps, reg.App)
	}
	return out
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// fail answers with the status an error calls for: 400 for a bad
// parameter, 404 for an unknown flow, version, participant or person, 409
// for a lifecycle action the flow's status does not allow, and 500, with
// the details in the log only, for anything else.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	var pe *paramError
	var oe *flow.OperationError
	var me *flow.MigrationError
	switch {
	case errors.As(err, &pe):
		writeError(w, http.StatusBadRequest, pe.Error())
	case errors.As(err, &oe), errors.As(err, &me):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, flow.ErrBadTransition), errors.Is(err, flow.ErrFlowNotActive), errors.Is(err, errNothingToDo):
		writeError(w, http.StatusConflict, err.Error())
	case r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
	default:
		a.opts.Logger.ErrorContext(r.Context(), "console request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	writeJSONStatus(w, http.StatusOK, v)
}

func writeJSONStatus(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b, _ = json.Marshal(errorJSON{Error: "internal error: the answer could not be encoded"}) // strings always encode
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSONStatus(w, code, errorJSON{Error: msg})
}

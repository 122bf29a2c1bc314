package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/store"
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
	}
	documentJSON struct {
		FlowID   string     `json:"flowId"`
		Version  int        `json:"version"`
		Document *flow.Flow `json:"document"`
	}
	statsJSON struct {
		FlowID   string        `json:"flowId"`
		Version  int           `json:"version"`
		Elements []elementJSON `json:"elements"`
	}
	elementJSON struct {
		ID      string           `json:"id"`
		Type    string           `json:"type"`
		Name    string           `json:"name,omitempty"`
		Entered int64            `json:"entered"`
		Waiting int64            `json:"waiting"`
		Errors  int64            `json:"errors"`
		Left    map[string]int64 `json:"left"`
		Other   map[string]int64 `json:"other"`
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
		Journal        []stepJSON     `json:"journal,omitempty"`
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
	participantsJSON struct {
		Participants []participantJSON `json:"participants"`
		// Next is the "after" of the next page; absent on the last page.
		Next string `json:"next,omitempty"`
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
		fj, err := a.flowOf(r, info)
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
	return a.flowOf(r, info)
}

// flowOf is a flow's record for the user of r, who may read it.
func (a *api) flowOf(r *http.Request, info *flow.FlowInfo) (flowJSON, error) {
	vs, err := a.eng.Versions(r.Context(), info.Flow.ID)
	if err != nil {
		return flowJSON{}, err
	}
	fj := flowJSON{
		ID: info.Flow.ID, Name: info.Flow.Name, Status: string(info.Status),
		Latest: info.Flow.Version, UpdatedAt: info.UpdatedAt, Versions: make([]versionJSON, len(vs)), Can: []Action{},
	}
	for _, act := range lifecycleActions {
		if a.may(r, Access{Action: act, FlowID: info.Flow.ID}) {
			fj.Can = append(fj.Can, act)
		}
	}
	for i, v := range vs {
		fj.Versions[i] = versionJSON{Version: v.Version, PublishedAt: v.PublishedAt}
	}
	ex, err := a.eng.Experiments(r.Context(), info.Flow.ID)
	if err != nil {
		return flowJSON{}, err
	}
	fj.Experiments = make([]experimentJSON, len(ex))
	for i, x := range ex {
		fj.Experiments[i] = experimentJSON{Element: x.Element, Version: x.Version, Holdout: x.Holdout, Goal: x.Goal, Confidence: x.Confidence,
			Winner: x.Winner, Reason: x.Reason, Variants: x.Variants, Decided: x.Decided}
		if !x.DecidedAt.IsZero() {
			fj.Experiments[i].DecidedAt = x.DecidedAt.UTC().Format(time.RFC3339Nano)
		}
	}
	return fj, nil
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
	st, err := a.eng.VersionStats(r.Context(), flowID, v)
	if err != nil {
		return nil, err
	}
	out := statsJSON{FlowID: flowID, Version: v, Elements: make([]elementJSON, len(st))}
	for i, s := range st {
		out.Elements[i] = elementJSON{
			ID: s.ID, Type: s.Kind, Name: s.Name,
			Entered: s.Entered, Waiting: s.Waiting, Errors: s.Errors, Left: s.Left, Other: s.Other,
		}
	}
	return out, nil
}

// GET /api/flows/{flow}/participants?status=&element=&after=&limit=: a
// page of a flow's participants in id order, without their journals.
func (a *api) participants(r *http.Request, q url.Values) (any, error) {
	flowID := r.PathValue("flow")
	pq := store.ParticipantQuery{FlowID: flowID, Element: q.Get("element")}
	var err error
	if pq.Statuses, err = statusList(q.Get("status")); err != nil {
		return nil, err
	}
	if q.Has("after") {
		if pq.After, err = id("after", q.Get("after")); err != nil {
			return nil, err
		}
	}
	n, err := limit(q)
	if err != nil {
		return nil, err
	}
	// An unknown flow is a 404, not an empty list.
	if _, err := a.eng.Versions(r.Context(), flowID); err != nil {
		return nil, err
	}
	pq.Limit = n + 1 // one more tells whether a next page exists
	ps, err := a.eng.Participants(r.Context(), pq)
	if err != nil {
		return nil, err
	}
	out := participantsJSON{Participants: make([]participantJSON, 0, min(len(ps), n))}
	if len(ps) > n {
		ps = ps[:n]
		out.Next = ps[n-1].ID.String()
	}
	for _, p := range ps {
		out.Participants = append(out.Participants, participantOf(p, false))
	}
	return out, nil
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
// /api/flows/{flow}/{action}; it answers with the flow's new status.
func (a *api) lifecycle(do func(*flow.Engine, context.Context, string) error) endpoint {
	return func(r *http.Request, _ url.Values) (any, error) {
		flowID := r.PathValue("flow")
		if err := do(a.eng, r.Context(), flowID); err != nil {
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
	switch {
	case errors.As(err, &pe):
		writeError(w, http.StatusBadRequest, pe.Error())
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, flow.ErrBadTransition):
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

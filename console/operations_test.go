package console_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/flowkit/flowkit/console"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	"github.com/stretchr/testify/require"
)

// TestOperatorAPI runs the tests of the operator endpoints on the memory
// store and, when FLOWKIT_TEST_POSTGRES names a database, on PostgreSQL.
func TestOperatorAPI(t *testing.T) {
	tests := []struct {
		name string
		fn   func(*testing.T, storeMaker)
	}{
		{"ListFiltersTotalsAndPaging", testListFilters}, {"AllVersionStats", testAllVersionStats},
		{"ParticipantActions", testParticipantActions}, {"BulkOperations", testBulkOperations},
		{"Migrations", testMigrations},
	}
	stores := []struct {
		name string
		mk   storeMaker
	}{{"memory", func(testing.TB) store.Store { return memory.New() }}, {"postgres", postgresStore}}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) { tc.fn(t, st.mk) })
			}
		})
	}
}

type listPage struct {
	Participants []struct {
		ID, PersonID, Status, Element, Reason string
		FlowVersion                           int
		Person                                *struct{ ExternalID, Name, Email, Phone string }
	}
	Next, Prev string
	Total      *int64
}

func (p listPage) ids() []string {
	out := make([]string, len(p.Participants))
	for i, x := range p.Participants {
		out[i] = x.ID
	}
	return out
}

// post sends a POST with a JSON body and returns the status and body.
func post(t *testing.T, h http.Handler, target string, body any) (int, []byte) {
	t.Helper()
	var b []byte
	if body != nil {
		var err error
		b, err = json.Marshal(body)
		require.NoError(t, err)
	}
	req := httptest.NewRequest(http.MethodPost, "http://localhost"+target, strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

func getJSON(t *testing.T, h http.Handler, target string, out any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, newRequest(http.MethodGet, target))
	require.Equal(t, http.StatusOK, rec.Code, "GET %s: %s", target, rec.Body)
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), out))
}

// Lists filter by version and reason, count what they select, sort both
// ways, page back as well as forward, and say who each participant is to
// users who may read people.
func testListFilters(t *testing.T, mk storeMaker) {
	eng := newPromo(t, mk(t))
	h := console.Handler(eng, operator)
	var all listPage
	getJSON(t, h, "/api/flows/promo/participants?limit=500", &all)
	require.Len(t, all.Participants, promoPeople)
	require.EqualValues(t, promoPeople, *all.Total)
	require.True(t, slices.IsSorted(all.ids()))
	for _, p := range all.Participants {
		require.NotNil(t, p.Person)
		require.True(t, strings.HasPrefix(p.Person.ExternalID, "member-"), p.Person.ExternalID)
		require.Equal(t, "m"+strings.TrimPrefix(p.Person.ExternalID, "member-")+"@example.com", p.Person.Email)
	}

	// Forward by 7, then back from the last page, give the same pages.
	var pages [][]string
	page := listPage{}
	getJSON(t, h, "/api/flows/promo/participants?limit=7", &page)
	require.Empty(t, page.Prev, "the first page has none before it")
	pages = append(pages, page.ids())
	for page.Next != "" {
		next := page.Next
		page = listPage{}
		getJSON(t, h, "/api/flows/promo/participants?limit=7&after="+next, &page)
		require.NotEmpty(t, page.Prev)
		pages = append(pages, page.ids())
	}
	require.Len(t, pages, 5)
	require.Equal(t, all.ids(), slices.Concat(pages...))
	for i := len(pages) - 2; i >= 0; i-- {
		prev := page.Prev
		page = listPage{}
		getJSON(t, h, "/api/flows/promo/participants?limit=7&before="+prev, &page)
		require.Equal(t, pages[i], page.ids(), "page %d, going back", i)
		require.NotEmpty(t, page.Next)
	}
	require.Empty(t, page.Prev, "back at the first page")

	var newest listPage
	getJSON(t, h, "/api/flows/promo/participants?limit=500&sort=newest", &newest)
	want := all.ids()
	slices.Reverse(want)
	require.Equal(t, want, newest.ids())
	var newestSecond listPage
	getJSON(t, h, "/api/flows/promo/participants?limit=10&sort=newest&after="+want[9], &newestSecond)
	require.Equal(t, want[10:20], newestSecond.ids())
	var newestBack listPage
	getJSON(t, h, "/api/flows/promo/participants?limit=10&sort=newest&before="+want[10], &newestBack)
	require.Equal(t, want[:10], newestBack.ids())

	var failed listPage
	getJSON(t, h, "/api/flows/promo/participants?status=failed&reason=connection+refused&version=1", &failed)
	require.NotEmpty(t, failed.Participants)
	require.EqualValues(t, len(failed.Participants), *failed.Total)
	for _, p := range failed.Participants {
		require.Equal(t, "failed", p.Status)
		require.Contains(t, p.Reason, "connection refused")
	}
	var none listPage
	getJSON(t, h, "/api/flows/promo/participants?reason=nothing+like+this", &none)
	require.Empty(t, none.Participants)
	require.Zero(t, *none.Total)
	getJSON(t, h, "/api/flows/promo/participants?version=2", &none)
	require.Zero(t, *none.Total)

	// A user who may not read people sees no one's name or contact.
	var anon listPage
	getJSON(t, console.Handler(eng, console.Options{Authorize: func(_ *http.Request, a console.Access) bool { return a.Action == console.Read }}),
		"/api/flows/promo/participants?limit=5", &anon)
	for _, p := range anon.Participants {
		require.Nil(t, p.Person)
	}

	fx := &fixture{h: h}
	fx.fails(t, "GET", "/api/flows/promo/participants?sort=random", 400, `parameter "sort": must be oldest or newest`)
	fx.fails(t, "GET", "/api/flows/promo/participants?version=0", 400, `parameter "version"`)
	fx.fails(t, "GET", "/api/flows/promo/participants?after="+want[0]+"&before="+want[1], 400, `give after or before, not both`)
}

// Counts over every version add each version's up, keep elements only an
// earlier version has, and carry in-flight, exit-rule and conversion
// figures; the flow record says how many are on each version.
func testAllVersionStats(t *testing.T, mk storeMaker) {
	fx := newFixtureOn(t, mk(t), readAll)
	type stats struct {
		Version  int
		Goals    []string
		Elements []struct {
			ID, Type                           string
			Entered, Waiting, InFlight, Errors int64
			Left, ExitRules, Conversions       map[string]int64
			BranchConversions                  map[string]map[string]int64
		}
	}
	var all, v1, v2 stats
	fx.get(t, "/api/flows/cart/stats", &all)
	fx.get(t, "/api/flows/cart/versions/1/stats", &v1)
	fx.get(t, "/api/flows/cart/versions/2/stats", &v2)
	require.Zero(t, all.Version)
	require.Len(t, all.Elements, 4)
	for i, e := range all.Elements {
		require.Equal(t, v1.Elements[i].Entered+v2.Elements[i].Entered, e.Entered, e.ID)
		require.Equal(t, v1.Elements[i].Waiting+v2.Elements[i].Waiting, e.Waiting, e.ID)
		require.NotNil(t, e.ExitRules)
		require.NotNil(t, e.Conversions)
		for b := range v1.Elements[i].Left {
			require.Equal(t, v1.Elements[i].Left[b]+v2.Elements[i].Left[b], e.Left[b], e.ID+":"+b)
		}
	}
	var f struct {
		TimeZone string `json:"timezone"`
		Versions []struct{ Version, Entered, InFlow int }
	}
	fx.get(t, "/api/flows/cart", &f)
	require.Equal(t, "UTC", f.TimeZone)
	require.Equal(t, []struct{ Version, Entered, InFlow int }{{1, 10, 0}, {2, 4, 4}}, f.Versions)

	// The promo's outcomes.
	eng := newPromo(t, mk(t))
	var promo stats
	getJSON(t, console.Handler(eng, readAll), "/api/flows/promo/stats", &promo)
	require.Equal(t, []string{"purchase"}, promo.Goals)
	st, err := eng.Stats(t.Context(), "promo")
	require.NoError(t, err)
	for _, e := range promo.Elements {
		want := st[e.ID]
		if want == nil {
			want = &flow.ElementStats{}
		}
		require.Equal(t, want.ExitRules["unsubscribed"], e.ExitRules["unsubscribed"], e.ID)
		require.Equal(t, want.Conversions["purchase"], e.Conversions["purchase"], e.ID)
	}
	var exits, want int64
	for _, e := range promo.Elements {
		exits += e.ExitRules["unsubscribed"]
		if st[e.ID] != nil {
			want += st[e.ID].ExitRules["unsubscribed"]
		}
	}
	require.Equal(t, want, exits, "exits by rule")
	require.EqualValues(t, 1, exits, "member 6 unsubscribed")
	require.EqualValues(t, 3, promo.Elements[0].Conversions["purchase"], "members 0, 2 and 4 bought in the flow")
	require.Equal(t, st["split"].BranchConversions["a"]["purchase"], promo.Elements[0].BranchConversions["a"]["purchase"])
}

// A participant is canceled or retried alone, by users who may operate
// on its flow, and each action is in the audit trail.
func testParticipantActions(t *testing.T, mk storeMaker) {
	eng := newPromo(t, mk(t))
	ctx := t.Context()
	waiting, err := eng.Participants(ctx, store.ParticipantQuery{FlowID: "promo", Statuses: []store.Status{store.Waiting}, Limit: 1})
	require.NoError(t, err)
	failed, err := eng.Participants(ctx, store.ParticipantQuery{FlowID: "promo", Statuses: []store.Status{store.Failed}, Limit: 1})
	require.NoError(t, err)
	w, fl := waiting[0].ID.String(), failed[0].ID.String()

	rd := console.Handler(eng, reader)
	code, body := post(t, rd, "/api/participants/"+w+"/cancel", nil)
	require.Equal(t, http.StatusForbidden, code, "%s", body)
	require.Contains(t, errorOf(t, body), `not authorized to operate flow "promo"`)
	other := console.Handler(eng, console.Options{Authorize: func(_ *http.Request, a console.Access) bool { return a.FlowID != "promo" }})
	code, _ = post(t, other, "/api/participants/"+w+"/cancel", nil)
	require.Equal(t, http.StatusNotFound, code, "a participant of a flow the user may not read is not found")

	audit := console.NewMemoryAudit(100)
	opts := operator
	opts.Audit = audit
	h := console.Handler(eng, opts)
	code, body = post(t, h, "/api/participants/"+w+"/cancel", nil)
	require.Equal(t, http.StatusOK, code, "%s", body)
	var p struct{ Status string }
	require.NoError(t, json.Unmarshal(body, &p))
	require.Equal(t, "canceled", p.Status)
	n, _, err := eng.CountParticipants(ctx, store.ParticipantQuery{FlowID: "promo", Statuses: []store.Status{store.Canceled}})
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "that participant alone")

	code, body = post(t, h, "/api/participants/"+w+"/cancel", nil)
	require.Equal(t, http.StatusConflict, code, "%s", body)
	code, body = post(t, h, "/api/participants/"+fl+"/retry", nil)
	require.Equal(t, http.StatusOK, code, "%s", body)
	require.NoError(t, json.Unmarshal(body, &p))
	require.Equal(t, "failed", p.Status, "the API is still down: it failed again")

	entries, err := audit.Entries(ctx, "promo", 10)
	require.NoError(t, err)
	require.Len(t, entries, 3)
	require.Equal(t, console.Operate, entries[2].Action)
	require.Equal(t, "ops@example.com", entries[2].User)
	require.Equal(t, w, entries[2].Target)
	require.Equal(t, "cancel: canceled", entries[2].Outcome)
	require.False(t, entries[1].OK, "the second cancel did nothing")
	require.Equal(t, fl, entries[0].Target)

	var trail struct{ Entries []console.AuditEntry }
	getJSON(t, h, "/api/flows/promo/audit", &trail)
	require.Len(t, trail.Entries, 3)
}

// Bulk cancel and retry: a dry run says what would happen, then the
// operation does it, by the same selection as the list's filters.
func testBulkOperations(t *testing.T, mk storeMaker) {
	eng := newPromo(t, mk(t))
	h := console.Handler(eng, operator)
	code, body := post(t, console.Handler(eng, reader), "/api/flows/promo/operations", map[string]any{"action": "cancel", "dryRun": true})
	require.Equal(t, http.StatusForbidden, code, "%s", body)

	var rep struct {
		Changed, Refused, Total int64
		DryRun                  bool
	}
	code, body = post(t, h, "/api/flows/promo/operations", map[string]any{"action": "cancel", "element": "hold", "dryRun": true})
	require.Equal(t, http.StatusOK, code, "%s", body)
	require.NoError(t, json.Unmarshal(body, &rep))
	require.True(t, rep.DryRun)
	waiting, _, err := eng.CountParticipants(t.Context(), store.ParticipantQuery{FlowID: "promo", Element: "hold", Statuses: []store.Status{store.Waiting}})
	require.NoError(t, err)
	require.Equal(t, waiting, rep.Changed)
	n, _, _ := eng.CountParticipants(t.Context(), store.ParticipantQuery{FlowID: "promo", Statuses: []store.Status{store.Canceled}})
	require.Zero(t, n, "a dry run changes nothing")

	code, body = post(t, h, "/api/flows/promo/operations", map[string]any{"action": "cancel", "element": "hold"})
	require.Equal(t, http.StatusOK, code, "%s", body)
	require.NoError(t, json.Unmarshal(body, &rep))
	require.Equal(t, waiting, rep.Changed)
	n, _, _ = eng.CountParticipants(t.Context(), store.ParticipantQuery{FlowID: "promo", Statuses: []store.Status{store.Canceled}})
	require.Equal(t, waiting, n)

	var ops struct {
		Operations []struct {
			Name    string
			Changed int64
			Done    bool
		}
	}
	getJSON(t, h, "/api/flows/promo/operations", &ops)
	require.Len(t, ops.Operations, 1)
	require.True(t, ops.Operations[0].Done)

	for _, bad := range []struct {
		body any
		want string
	}{
		{map[string]any{"action": "delete"}, `parameter "action": must be cancel or retry, got "delete"`},
		{map[string]any{"action": "retry", "status": "waiting"}, "Select.Statuses"},
		{map[string]any{"action": "cancel", "bogus": 1}, `unknown field "bogus"`},
	} {
		code, body := post(t, h, "/api/flows/promo/operations", bad.body)
		require.Equal(t, http.StatusBadRequest, code, "%s", body)
		require.Contains(t, errorOf(t, body), bad.want)
	}
}

// A migration's dry run needs reading only; applying it needs Migrate,
// and moves the participants as the dry run said.
func testMigrations(t *testing.T, mk storeMaker) {
	fx := newFixtureOn(t, mk(t), operator)
	ctx := context.Background()
	f, err := fx.eng.FlowVersion(ctx, "cart", 2)
	require.NoError(t, err)
	f.Elements[0].ID = "wait-purchase"
	f.Start = ""
	_, err = fx.eng.Publish(ctx, f)
	require.NoError(t, err)

	req := map[string]any{"from": 2, "to": 3, "map": map[string]string{"wait-order": "wait-purchase"}}
	var dry struct {
		DryRun                 bool
		Moved, Refused, Exited int
		Moves                  []struct {
			From, To string
			Count    int
		}
	}
	code, body := post(t, console.Handler(fx.eng, reader), "/api/flows/cart/migrations/preview", req)
	require.Equal(t, http.StatusOK, code, "%s", body)
	require.NoError(t, json.Unmarshal(body, &dry))
	require.True(t, dry.DryRun)
	require.Equal(t, 4, dry.Moved)
	require.Equal(t, "wait-order", dry.Moves[0].From)
	require.Equal(t, "wait-purchase", dry.Moves[0].To)
	require.Equal(t, 4, dry.Moves[0].Count)

	code, body = post(t, console.Handler(fx.eng, reader), "/api/flows/cart/migrations", req)
	require.Equal(t, http.StatusForbidden, code, "%s", body)
	code, body = post(t, fx.h, "/api/flows/cart/migrations", map[string]any{"from": 2, "to": 9})
	require.Equal(t, http.StatusBadRequest, code, "%s", body)
	code, body = post(t, fx.h, "/api/flows/cart/migrations", req)
	require.Equal(t, http.StatusOK, code, "%s", body)
	n, _, err := fx.eng.CountParticipants(ctx, store.ParticipantQuery{FlowID: "cart", Version: 3, Element: "wait-purchase"})
	require.NoError(t, err)
	require.EqualValues(t, 4, n)

	var trail struct{ Entries []console.AuditEntry }
	getJSON(t, fx.h, "/api/flows/cart/audit", &trail)
	require.Len(t, trail.Entries, 2, "the refused and the applied migration; not the dry run")
	require.Equal(t, "v2 → v3", trail.Entries[0].Target)
	require.Equal(t, "moved 4, refused 0, exited 0", trail.Entries[0].Outcome)
	require.False(t, trail.Entries[1].OK)
}

// errorOf returns the message of an error answer.
func errorOf(t *testing.T, body []byte) string {
	t.Helper()
	var e struct{ Error string }
	require.NoError(t, json.Unmarshal(body, &e), "%s", body)
	return e.Error
}

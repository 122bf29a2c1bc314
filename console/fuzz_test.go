package console_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/flowkit/flowkit/console"
	"github.com/stretchr/testify/require"
)

// FuzzQuery sends arbitrary paths and query strings to every read
// endpoint: the answer is always JSON, 200, 400 or 404, never a 500 or a
// panic, and a 400 names a parameter.
func FuzzQuery(f *testing.F) {
	fx := newFixture(f, console.Options{AllowUnauthenticated: true})
	for _, seed := range []struct{ path, query string }{
		{"/api/flows/cart/participants", "status=waiting,active&element=lost&limit=3"},
		{"/api/flows/cart/participants", "after=0190c9d2-3f4b-7000-8000-000000000000&limit=500"},
		{"/api/flows/cart/participants", "limit=%zz&limit=1"},
		{"/api/flows/cart/participants", "version=2&reason=never&sort=newest&before=0190c9d2-3f4b-7000-8000-000000000000"},
		{"/api/flows/cart/stats", ""},
		{"/api/flows/cart/audit", "limit=3"},
		{"/api/flows/cart/operations", ""},
		{"/api/person/events", "externalId=shopper-1&before=2026-03-02T09:00:00Z&limit=2"},
		{"/api/person", "email=s1@example.com"},
		{"/api/person", "id=not-a-uuid&phone="},
		{"/api/flows/cart/versions/1/stats", ""},
		{"/api/flows/cart/versions/99999999999999999999", ""},
		{"/api/participants/0190c9d2-3f4b-7000-8000-000000000000", "x=1"},
	} {
		f.Add(seed.path, seed.query)
	}
	f.Fuzz(func(t *testing.T, path, query string) {
		u := &url.URL{Path: path, RawQuery: query}
		if !strings.HasPrefix(u.RequestURI(), "/") {
			return // no request line holds it: it would read as part of the host
		}
		req, err := http.NewRequest(http.MethodGet, "http://localhost"+u.RequestURI(), nil)
		if err != nil {
			return // not a request a client could send
		}
		rec := httptest.NewRecorder()
		fx.h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusNotFound, http.StatusBadRequest,
			http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect,
			http.StatusMethodNotAllowed:
		default:
			t.Fatalf("GET %q: status %d: %s", req.URL, rec.Code, rec.Body)
		}
		if rec.Code == http.StatusBadRequest {
			var e struct{ Error string }
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &e), "GET %q: %s", req.URL, rec.Body)
			require.Contains(t, e.Error, "parameter ", "GET %q", req.URL)
		}
	})
}

// FuzzBody sends arbitrary JSON bodies to every POST that takes one: the
// answer is always JSON, 200, 400, 404 or 409, never a 500 or a panic,
// and a 400 names the parameter or field at fault.
func FuzzBody(f *testing.F) {
	fx := newFixture(f, console.Options{Authorize: func(*http.Request, console.Access) bool { return true }})
	for _, seed := range []struct{ path, body string }{
		{"/api/flows/cart/operations", `{"action": "cancel", "element": "wait-order", "dryRun": true}`},
		{"/api/flows/cart/operations", `{"action": "retry", "status": "failed", "version": 1, "reason": "x"}`},
		{"/api/flows/cart/operations", `{"action": "cancel", "version": -1}`},
		{"/api/flows/cart/migrations/preview", `{"from": 2, "to": 1, "map": {"wait-order": "remind"}}`},
		{"/api/flows/cart/migrations", `{"from": 1, "to": 2, "exitUnmapped": true}`},
		{"/api/flows/cart/migrations", `{"from": "1"}`},
		{"/api/flows/cart/operations", `[]`},
		{"/api/flows/nope/migrations/preview", `{"from": 1, "to": 2}`},
	} {
		f.Add(seed.path, seed.body)
	}
	f.Fuzz(func(t *testing.T, path, body string) {
		switch path {
		case "/api/flows/cart/operations", "/api/flows/cart/migrations/preview", "/api/flows/cart/migrations", "/api/flows/nope/migrations/preview":
		default:
			return
		}
		req, err := http.NewRequest(http.MethodPost, "http://localhost"+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		fx.h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusNotFound, http.StatusBadRequest, http.StatusConflict:
		default:
			t.Fatalf("POST %s %q: status %d: %s", path, body, rec.Code, rec.Body)
		}
		var e struct{ Error string }
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &e), "POST %s %q: %s", path, body, rec.Body)
	})
}

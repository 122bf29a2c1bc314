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

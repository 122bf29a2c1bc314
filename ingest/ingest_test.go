package ingest_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/ingest"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

var now = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

const writeKey = "wk_test"

func newEngine(t testing.TB, s store.Store) *flow.Engine {
	t.Helper()
	eng, err := flow.NewEngine(flow.Config{Store: s, Clock: clock.NewFake(now),
		Schema: store.Schema{"plan": store.Text, "logins": store.Number}})
	require.NoError(t, err)
	return eng
}

func newHandler(t testing.TB, eng *flow.Engine, o ingest.Options) *ingest.Handler {
	t.Helper()
	if o.Authenticate == nil {
		o.Authenticate = ingest.WriteKeys(writeKey)
	}
	h, err := ingest.New(eng, o)
	require.NoError(t, err)
	return h
}

// post sends body to path with the write key and returns the status and
// the decoded answer.
func post(t testing.TB, h http.Handler, path string, body []byte) (int, *ingest.Response) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	r.SetBasicAuth(writeKey, "")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var res ingest.Response
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &res), w.Body.String())
	return w.Code, &res
}

func testdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	require.NoError(t, err)
	return b
}

// The examples of Segment's spec (testdata, as the spec documents each
// call) apply as it says: a track call is an event with its messageId,
// name, properties and timestamp; an identify's traits are attributes,
// addresses and names; a batch applies each call, and reports the one
// it does not take (a page call) without losing the others.
func TestSegmentSpecExamples(t *testing.T) {
	ctx := t.Context()
	eng := newEngine(t, memory.New())
	h := newHandler(t, eng, ingest.Options{})

	code, res := post(t, h, "/v1/track", testdata(t, "track.json"))
	require.Equal(t, http.StatusOK, code, "%+v", res)
	require.True(t, res.Success)
	evs, err := eng.Events(ctx, store.PersonRef{ExternalID: "AiUGstSDIg"}, store.EventQuery{Category: store.External})
	require.NoError(t, err)
	require.Len(t, evs, 1)
	require.Equal(t, "ajs-f8ca1e4de5024d9430b3928bd8ac6b96", evs[0].ID)
	require.Equal(t, "Course Clicked", evs[0].Name)
	require.Equal(t, "Intro to Analytics", evs[0].Properties["title"])
	require.True(t, time.Date(2015, 12, 12, 19, 11, 1, 249e6, time.UTC).Equal(evs[0].Time), "the call's timestamp: %v", evs[0].Time)

	code, res = post(t, h, "/v1/track", testdata(t, "track.json"))
	require.Equal(t, http.StatusOK, code, "sent again")
	evs, err = eng.Events(ctx, store.PersonRef{ExternalID: "AiUGstSDIg"}, store.EventQuery{Category: store.External})
	require.NoError(t, err)
	require.Len(t, evs, 1, "one messageId, one event")

	code, res = post(t, h, "/v1/track", testdata(t, "track-http-api.json"))
	require.Equal(t, http.StatusOK, code, "%+v", res)
	evs, err = eng.Events(ctx, store.PersonRef{ExternalID: "019mr8mf4r"}, store.EventQuery{Category: store.External})
	require.NoError(t, err)
	require.Len(t, evs, 1)
	require.Equal(t, 14.99, evs[0].Properties["revenue"])

	code, res = post(t, h, "/v1/identify", testdata(t, "identify.json"))
	require.Equal(t, http.StatusOK, code, "%+v", res)
	require.Empty(t, res.Ignored, "every trait of the example names an attribute")
	p, err := eng.Person(ctx, store.PersonRef{ExternalID: "97980cfea0067"})
	require.NoError(t, err)
	require.Equal(t, "Peter", p.FirstName)
	require.Equal(t, "Gibbons", p.LastName)
	require.Equal(t, []string{"peter@example.com"}, p.Emails)
	require.Equal(t, "San Francisco", p.City)
	require.Equal(t, "USA", p.Country)
	require.Equal(t, "premium", p.Attributes["plan"])
	require.Equal(t, 5.0, p.Attributes["logins"])
	found, err := eng.Person(ctx, store.PersonRef{Email: "peter@example.com"})
	require.NoError(t, err)
	require.Equal(t, p.ID, found.ID, "found by the email the traits gave")

	code, res = post(t, h, "/v1/batch", testdata(t, "batch.json"))
	require.Equal(t, http.StatusOK, code, "%+v", res)
	require.False(t, res.Success)
	require.Equal(t, 3, res.Accepted)
	require.Len(t, res.Errors, 1)
	require.Equal(t, 3, res.Errors[0].Index)
	require.Equal(t, "type", res.Errors[0].Field)
	require.Contains(t, res.Errors[0].Error, `"page" calls are not taken`)
	require.Equal(t, map[int][]string{0: {"age"}, 2: {"age"}}, res.Ignored, "age is not declared")
	jake, err := eng.Person(ctx, store.PersonRef{ExternalID: "019mr8mf4r"})
	require.NoError(t, err)
	require.Equal(t, "Jake", jake.FirstName)
	require.Equal(t, "Peterson", jake.LastName)
	evs, err = eng.Events(ctx, store.PersonRef{ExternalID: "019mr8mf4r"}, store.EventQuery{Category: store.External})
	require.NoError(t, err)
	require.Len(t, evs, 2, "Item Purchased and Song Played")
	cindy, err := eng.Person(ctx, store.PersonRef{Email: "cindy@gmail.com"})
	require.NoError(t, err)
	require.Equal(t, "971mj8mk7p", cindy.ExternalID)
}

// A track call that an event entry takes enters its flow, and one that
// a waiting participant waits for wakes it.
func TestTrackDrivesFlows(t *testing.T) {
	ctx := t.Context()
	eng := newEngine(t, memory.New())
	f := flow.New("cart", "Cart").
		Add("wait", &kinds.WaitForEvent{Event: segment.EventSpec{Category: store.External, Name: "Order Completed"}}, flow.Next{"occurred": "done"}).
		Add("done", &kinds.Exit{}, nil)
	f.Trigger = &flow.Trigger{Category: store.External, Name: "Cart Abandoned"}
	_, _, err := eng.Deploy(ctx, f)
	require.NoError(t, err)
	h := newHandler(t, eng, ingest.Options{})
	code, res := post(t, h, "/v1/batch", []byte(`{"batch":[
		{"type":"track","userId":"u1","event":"Cart Abandoned","messageId":"m1","timestamp":"2026-03-02T08:00:00Z"},
		{"type":"track","userId":"u1","event":"Order Completed","messageId":"m2","timestamp":"2026-03-02T08:30:00Z"}]}`))
	require.Equal(t, http.StatusOK, code, "%+v", res)
	parts, err := eng.Participations(ctx, store.PersonRef{ExternalID: "u1"})
	require.NoError(t, err)
	require.Len(t, parts, 1)
	require.Equal(t, store.Completed, parts[0].Status, "entered by the first call, woken by the second")
}

// Bad calls of a batch are reported, each with its index, messageId and
// field, and the good ones around them are applied, in order per person.
func TestBadCallsInABatch(t *testing.T) {
	ctx := t.Context()
	eng := newEngine(t, memory.New())
	h := newHandler(t, eng, ingest.Options{MaxCallBytes: 300})
	body := `{"batch":[
		{"type":"track","userId":"ann","event":"A","messageId":"m1"},
		{"type":"track","userId":"ann","messageId":"m2"},
		{"type":"track","event":"B","messageId":"m3"},
		{"type":"track","userId":"ann","event":"C","messageId":"m4","timestamp":"yesterday"},
		{"type":"alias","userId":"ann","previousId":"x","messageId":"m5"},
		{"userId":"ann","event":"D","messageId":"m6"},
		{"type":"identify","userId":"ann","traits":{"logins":"many"},"messageId":"m7"},
		{"type":"track","userId":"ann","event":"E","messageId":"m8","properties":{"pad":"` + strings.Repeat("x", 300) + `"}},
		"not an object",
		{"type":"track","userId":"ann","event":"F","messageId":"m10","properties":{"n":1e400}},
		{"type":"track","userId":"ann","event":"G","messageId":"m11","properties":{"total":12.5}},
		{"type":"identify","userId":"ann","traits":{"logins":3},"messageId":"m12"}]}`
	code, res := post(t, h, "/v1/batch", []byte(body))
	require.Equal(t, http.StatusOK, code)
	require.False(t, res.Success)
	require.Equal(t, 3, res.Accepted)
	type bad struct {
		index     int
		messageID string
		field     string
	}
	var got []bad
	for _, e := range res.Errors {
		got = append(got, bad{e.Index, e.MessageID, e.Field})
		require.NotEmpty(t, e.Error)
		require.False(t, e.Retry)
	}
	require.Equal(t, []bad{{1, "m2", "event"}, {2, "m3", "userId"}, {3, "m4", "timestamp"}, {4, "m5", "type"},
		{5, "m6", "type"}, {6, "m7", "set.logins"}, {7, "", ""}, {8, "", ""}, {9, "m10", "properties"}}, got)
	evs, err := eng.Events(ctx, store.PersonRef{ExternalID: "ann"}, store.EventQuery{Category: store.External})
	require.NoError(t, err)
	var names []string
	for _, e := range evs {
		names = append(names, e.Name)
	}
	require.Equal(t, []string{"A", "G"}, names)
	require.Equal(t, 12.5, evs[1].Properties["total"])
	p, err := eng.Person(ctx, store.PersonRef{ExternalID: "ann"})
	require.NoError(t, err)
	require.Equal(t, 3.0, p.Attributes["logins"])

	// A single bad call is a 400.
	code, res = post(t, h, "/v1/track", []byte(`{"userId":"ann","messageId":"x"}`))
	require.Equal(t, http.StatusBadRequest, code)
	require.Equal(t, "event", res.Errors[0].Field)
}

// Requests are authenticated, POSTed, and bounded in size; gzip bodies
// are read.
func TestAuthenticationAndLimits(t *testing.T) {
	eng := newEngine(t, memory.New())
	h := newHandler(t, eng, ingest.Options{MaxBodyBytes: 1024, MaxBatchCalls: 3})
	call := []byte(`{"userId":"u","event":"E","messageId":"m"}`)

	for _, auth := range []func(*http.Request){func(*http.Request) {}, func(r *http.Request) { r.SetBasicAuth("wrong", "") }} {
		r := httptest.NewRequest(http.MethodPost, "/v1/track", bytes.NewReader(call))
		auth(r)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		require.Equal(t, http.StatusUnauthorized, w.Code)
	}
	r := httptest.NewRequest(http.MethodGet, "/v1/track", nil)
	r.SetBasicAuth(writeKey, "")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	require.Equal(t, http.StatusMethodNotAllowed, w.Code)

	code, _ := post(t, h, "/v1/page", call)
	require.Equal(t, http.StatusNotFound, code)
	code, res := post(t, h, "/v1/track", bytes.Repeat([]byte(" "), 2000))
	require.Equal(t, http.StatusRequestEntityTooLarge, code, "%+v", res)
	code, res = post(t, h, "/v1/batch", []byte(`{"batch":[{},{},{},{}]}`))
	require.Equal(t, http.StatusRequestEntityTooLarge, code, "%+v", res)
	code, res = post(t, h, "/v1/batch", []byte(`[1,2]`))
	require.Equal(t, http.StatusBadRequest, code, "%+v", res)

	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(call)
	require.NoError(t, zw.Close())
	r = httptest.NewRequest(http.MethodPost, "/v1/track", &gz)
	r.SetBasicAuth(writeKey, "")
	r.Header.Set("Content-Encoding", "gzip")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())

	// A gzip bomb is bounded by the limit after decompression.
	gz.Reset()
	zw = gzip.NewWriter(&gz)
	_, _ = zw.Write(bytes.Repeat([]byte(" "), 1<<20))
	require.NoError(t, zw.Close())
	r = httptest.NewRequest(http.MethodPost, "/v1/track", &gz)
	r.SetBasicAuth(writeKey, "")
	r.Header.Set("Content-Encoding", "gzip")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	require.Equal(t, http.StatusRequestEntityTooLarge, w.Code)

	_, err := ingest.New(eng, ingest.Options{})
	require.ErrorContains(t, err, "Authenticate is required")
}

// A store that does not answer makes the request a 503, so that the
// client sends it again; what was applied is not applied twice.
func TestUnavailableStoreAsksForRetry(t *testing.T) {
	s := &flaky{Store: memory.New()}
	eng := newEngine(t, s)
	h := newHandler(t, eng, ingest.Options{})
	body := []byte(`{"batch":[{"type":"track","userId":"a","event":"E","messageId":"m1"},{"type":"track","userId":"b","event":"E","messageId":"m2"}]}`)
	s.down.Store(true)
	code, res := post(t, h, "/v1/batch", body)
	require.Equal(t, http.StatusServiceUnavailable, code, "%+v", res)
	require.True(t, res.Errors[0].Retry)
	s.down.Store(false)
	code, _ = post(t, h, "/v1/batch", body)
	require.Equal(t, http.StatusOK, code)
	code, _ = post(t, h, "/v1/batch", body)
	require.Equal(t, http.StatusOK, code)
	for _, who := range []string{"a", "b"} {
		evs, err := eng.Events(t.Context(), store.PersonRef{ExternalID: who}, store.EventQuery{Category: store.External})
		require.NoError(t, err)
		require.Len(t, evs, 1, fmt.Sprint("person ", who))
	}
}

// flaky is a store that does not answer while down is set.
type flaky struct {
	store.Store
	down atomic.Bool
}

func (f *flaky) FindPerson(ctx context.Context, ref store.PersonRef) (uuid.UUID, error) {
	if f.down.Load() {
		return uuid.Nil, fmt.Errorf("connection refused: %w", store.ErrUnavailable)
	}
	return f.Store.FindPerson(ctx, ref)
}

func (f *flaky) Update(ctx context.Context, id uuid.UUID, fn func(store.Tx) error) error {
	if f.down.Load() {
		return fmt.Errorf("connection refused: %w", store.ErrUnavailable)
	}
	return f.Store.Update(ctx, id, fn)
}

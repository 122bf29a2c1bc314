package kinds_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/element/elementtest"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// apiSeen is what a test server received.
type apiSeen struct {
	Method, Path, Query, ContentType, Body string
	Header                                 http.Header
}

// apiRecorder is an httptest server that records requests and answers with
// a handler.
type apiRecorder struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []apiSeen
}

func newAPIRecorder(t *testing.T, h http.HandlerFunc) *apiRecorder {
	t.Helper()
	rec := &apiRecorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, apiSeen{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery,
			ContentType: r.Header.Get("Content-Type"), Body: string(b), Header: r.Header.Clone()})
		rec.mu.Unlock()
		if h != nil {
			h(w, r)
		}
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (rec *apiRecorder) last(t *testing.T) apiSeen {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.NotEmpty(t, rec.reqs, "the server got no request")
	return rec.reqs[len(rec.reqs)-1]
}

func (rec *apiRecorder) count() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.reqs)
}

func apiReply(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-Id", "req-42")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

var apiVars = map[string]store.Type{
	"points": store.Number, "tier": store.Text, "reqId": store.Text, "ok": store.Bool,
	"items": store.List, "cartId": store.Text, "name": store.Text, "since": store.DateTime,
}

func apiCompile(t *testing.T, el element.Element) {
	t.Helper()
	require.NoError(t, el.Validate(&element.Compiler{FlowID: "f", ElementID: "el", Variables: apiVars, Location: time.UTC}))
	apiOptions(el, kinds.CallAPIOptions{})
}

// apiOptions gives el the engine's options o, with a pacer of its own
// unless o has one.
func apiOptions(el element.Element, o kinds.CallAPIOptions, pacer ...kinds.Pacer) {
	opts := &kinds.Options{CallAPI: o, Pacer: kinds.NewPacer()}
	if len(pacer) > 0 {
		opts.Pacer = pacer[0]
	}
	opts.Bind(el)
}

func apiRun(now time.Time) *element.Run {
	return &element.Run{
		Now: now, Location: time.UTC, FlowID: "f", FlowVersion: 1, ElementID: "el",
		Participant: uuid.MustParse("0190a0b0-0000-7000-8000-000000000001"), Seq: 3,
		Person: &store.Person{ID: uuid.MustParse("0190a0b0-0000-7000-8000-0000000000aa"), ExternalID: "ann/42", FirstName: "Ann",
			Phones: []string{"385911234567"}, Emails: []string{"ann@example.com"}},
		Vars:  map[string]any{"cartId": "c 1&2", "points": 7.0, "name": "Ann \"A\" Lee"},
		Ports: element.Ports{HTTP: kinds.NewHTTPClient(kinds.HTTPClientOptions{})},
	}
}

var apiT0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC) // a Monday

// apiKit returns a kit for el in the step apiRun makes, with el validated
// and given the engine's default options.
func apiKit(t *testing.T, el element.Element) *elementtest.Kit {
	t.Helper()
	r := apiRun(apiT0)
	k := elementtest.New(el)
	k.FlowID, k.ElementID, k.Variables = r.FlowID, r.ElementID, apiVars
	k.Now, k.Participant, k.Person, k.Vars = r.Now, r.Participant, r.Person, r.Vars
	k.Ports.HTTP = r.Ports.HTTP
	require.NoError(t, k.Validate())
	apiOptions(el, kinds.CallAPIOptions{})
	return k
}

func TestCallAPIMethods(t *testing.T) {
	for _, method := range []string{"GET", "POST", "PUT", "DELETE", "PATCH"} {
		t.Run(method, func(t *testing.T) {
			srv := newAPIRecorder(t, apiReply(200, `{}`))
			el := &kinds.CallAPI{URL: srv.URL + "/carts/{{cartId}}?owner={{person.externalId}}", Method: strings.ToLower(method)}
			if method != "GET" {
				el.Body = json.RawMessage(`{"cart": "{{cartId}}"}`)
			}
			apiCompile(t, el)
			r := apiRun(apiT0)
			out, err := el.Run(context.Background(), r)
			require.NoError(t, err)
			require.Equal(t, kinds.Branch2xx, out.Branch)
			got := srv.last(t)
			require.Equal(t, method, got.Method)
			require.Equal(t, "/carts/c%201&2", got.Path, "path placeholders are path-escaped")
			require.Equal(t, "owner=ann%2F42", got.Query, "query placeholders are query-escaped")
			require.Equal(t, r.IdempotencyKey(), got.Header.Get("Idempotency-Key"))
			if method == "GET" {
				require.Empty(t, got.Body)
			} else {
				require.JSONEq(t, `{"cart":"c 1&2"}`, got.Body)
				require.Equal(t, "application/json", got.ContentType)
			}
		})
	}
}

func TestCallAPIBodies(t *testing.T) {
	cases := []struct {
		name, ctype string
		body        string
		wantType    string
		check       func(t *testing.T, body string)
	}{
		{"json object, typed placeholders", "", `{"name": "{{name}}", "points": "{{points}}", "note": "has {{points}} points", "nested": [{"id": "{{person.externalId}}"}], "fixed": 12345678901234567890}`,
			"application/json", func(t *testing.T, body string) {
				require.JSONEq(t, `{"name":"Ann \"A\" Lee","points":7,"note":"has 7 points","nested":[{"id":"ann/42"}],"fixed":12345678901234567890}`, body)
				require.Contains(t, body, "12345678901234567890", "numbers keep their exact form")
			}},
		{"json text", "", `"{\"name\": \"{{name}}\", \"greeting\": \"Hi {{name}}!\", \"points\": {{points}}}"`,
			"application/json", func(t *testing.T, body string) {
				require.JSONEq(t, `{"name":"Ann \"A\" Lee","greeting":"Hi Ann \"A\" Lee!","points":7}`, body)
			}},
		{"form", "application/x-www-form-urlencoded; charset=utf-8", `{"cart": "{{cartId}}", "n": 3, "name": "{{name}}"}`,
			"application/x-www-form-urlencoded; charset=utf-8", func(t *testing.T, body string) {
				require.Equal(t, "cart=c+1%262&n=3&name=Ann+%22A%22+Lee", body)
			}},
		{"explicit json content type", "application/vnd.api+json", `{"a": 1}`,
			"application/vnd.api+json", func(t *testing.T, body string) { require.JSONEq(t, `{"a":1}`, body) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newAPIRecorder(t, apiReply(201, `{}`))
			el := &kinds.CallAPI{URL: srv.URL + "/x", Method: "POST", Body: json.RawMessage(tc.body)}
			if tc.ctype != "" {
				el.Headers = map[string]string{"content-type": tc.ctype}
			}
			apiCompile(t, el)
			out, err := el.Run(context.Background(), apiRun(apiT0))
			require.NoError(t, err)
			require.Equal(t, kinds.Branch2xx, out.Branch)
			got := srv.last(t)
			require.Equal(t, tc.wantType, got.ContentType)
			tc.check(t, got.Body)
		})
	}
}

func TestCallAPIStatusBranches(t *testing.T) {
	cases := []struct {
		status int
		branch string
	}{
		{200, kinds.Branch2xx}, {201, kinds.Branch2xx}, {204, kinds.Branch2xx},
		{400, kinds.Branch4xx}, {404, kinds.Branch4xx}, {429, kinds.Branch4xx},
		{500, kinds.Branch5xx}, {503, kinds.Branch5xx},
		{304, kinds.BranchOther}, {302, kinds.BranchOther},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			srv := newAPIRecorder(t, func(w http.ResponseWriter, _ *http.Request) {
				if tc.status == 302 {
					w.Header().Set("Location", "/elsewhere") // not followed: the client ...
				}
				w.WriteHeader(tc.status)
				if tc.status/100 == 2 && tc.status != 204 {
					_, _ = io.WriteString(w, `{"points": 9}`)
				} else if tc.status != 204 && tc.status != 304 {
					_, _ = io.WriteString(w, `<html>error page, not JSON</html>`)
				}
			})
			el := &kinds.CallAPI{URL: srv.URL + "/s"}
			if tc.status != 204 {
				el.ResponseBody = []*kinds.JSONPathVariable{{Path: "$.points", Variable: "points"}}
			}
			apiCompile(t, el)
			r := apiRun(apiT0)
			if tc.status == 302 {
				// ... because this host's client does not follow redirects.
				r.Ports.HTTP = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			}
			out, err := el.Run(context.Background(), r)
			require.NoError(t, err, "non-2XX responses read no values, so a body that is not JSON is fine")
			require.Equal(t, tc.branch, out.Branch)
			require.Contains(t, out.Reason, fmt.Sprintf("GET %s/s: %d", srv.URL, tc.status))
			switch {
			case tc.status == 204:
			case tc.branch == kinds.Branch2xx:
				require.Equal(t, 9.0, r.Vars["points"])
			default:
				require.Equal(t, 7.0, r.Vars["points"], "variables are left alone on non-2XX")
			}
		})
	}
}

func TestCallAPIErrors(t *testing.T) {
	slow := newAPIRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	slowBody := newAPIRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		_, _ = io.WriteString(w, `{"points": `)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	cases := []struct {
		name, url, timeout, want string
	}{
		{"timeout waiting for headers", slow.URL, "100ms", "timed out after 100ms"},
		{"timeout reading the body", slowBody.URL, "100ms", "timed out after 100ms"},
		{"connection refused", closed.URL, "", "connection refused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			el := &kinds.CallAPI{URL: tc.url + "/p?token={{cartId}}", Timeout: tc.timeout,
				Headers:      map[string]string{"Authorization": "Bearer s3cret"},
				ResponseBody: []*kinds.JSONPathVariable{{Path: "$.points", Variable: "points"}}}
			apiCompile(t, el)
			r := apiRun(apiT0)
			start := time.Now()
			_, err := el.Run(context.Background(), r)
			require.Error(t, err)
			require.Less(t, time.Since(start), 3*time.Second)
			require.Contains(t, err.Error(), tc.want)
			require.Contains(t, err.Error(), "GET "+tc.url+"/p:", "the error names the target")
			require.NotContains(t, err.Error(), "s3cret")
			require.NotContains(t, err.Error(), "token=", "the query may hold secrets")
		})
	}
}

func TestCallAPIBodyLimit(t *testing.T) {
	const size = 50 << 20
	wrote := make(chan int64, 1)
	srv := newAPIRecorder(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		chunk := []byte(`{"pad":"` + strings.Repeat("x", 1<<20-8))
		var n int64
		for n < size {
			m, err := w.Write(chunk)
			n += int64(m)
			if err != nil {
				break
			}
			chunk = []byte(strings.Repeat("x", 1<<20))
		}
		wrote <- n
	})
	el := &kinds.CallAPI{URL: srv.URL, MaxResponseBytes: 1 << 20,
		ResponseBody: []*kinds.JSONPathVariable{{Path: "$.pad", Variable: "tier"}}}
	apiCompile(t, el)
	r := apiRun(apiT0)
	r.Vars["tier"] = "gold"
	_, err := el.Run(context.Background(), r)
	require.Error(t, err)
	require.Contains(t, err.Error(), "response body is larger than the limit of 1048576 bytes")
	require.Nil(t, r.Vars["tier"], "a variable whose value could not be read is null")
	require.NotContains(t, err.Error(), "xxx")
	select {
	case n := <-wrote:
		require.Less(t, n, int64(size), "the client stopped reading at the limit")
	case <-time.After(10 * time.Second):
		t.Fatal("the server is still writing")
	}

	// The engine-wide limit applies when the element sets none, and an
	// element cannot raise it.
	el = &kinds.CallAPI{URL: srv.URL, MaxResponseBytes: 100 << 20,
		ResponseBody: []*kinds.JSONPathVariable{{Path: "$.pad", Variable: "tier"}}}
	apiCompile(t, el)
	r = apiRun(apiT0)
	apiOptions(el, kinds.CallAPIOptions{MaxResponseBytes: 2 << 20})
	_, err = el.Run(context.Background(), r)
	require.ErrorContains(t, err, "limit of 2097152 bytes")
	<-wrote
}

func TestCallAPIResponseValues(t *testing.T) {
	body := `{"loyalty_points": 1250, "tier": "gold", "active": true, "gone": null, "list": [1,2], "obj": {"a": 1},
		"nested": {"deep": [{"v": "x"}]}, "since": "2025-01-02T03:04:05Z", "num_text": "12"}`
	cases := []struct {
		name, path, variable string
		want                 any
		err                  string
		shape                bool // an array or object: "failed", not a failed step
	}{
		{"number", "$.loyalty_points", "points", 1250.0, "", false},
		{"text", "$.tier", "tier", "gold", "", false},
		{"bool", "$.active", "ok", true, "", false},
		{"number into text", "$.loyalty_points", "tier", "1250", "", false},
		{"null", "$.gone", "tier", nil, "", false},
		{"nested index", "$.nested.deep[0].v", "tier", "x", "", false},
		{"date-time", "$.since", "since", time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), "", false},
		{"bracket key", `$["tier"]`, "tier", "gold", "", false},
		{"missing key", "$.nope", "points", nil, "no value at this path", false},
		{"array", "$.list", "points", nil, "points to an array", true},
		{"object", "$.obj", "points", nil, "points to an object", true},
		{"wildcard gives an array", "$.list[*]", "points", nil, "points to an array", true},
		{"list into a list variable is still an error", "$.list", "items", nil, "points to an array", true},
		{"out of range", "$.list[5]", "points", nil, "no value at this path", false},
		{"text into number", "$.num_text", "points", nil, "does not convert to number", false},
		{"through a scalar", "$.tier.x", "points", nil, "no value at this path", false},
	}
	srv := newAPIRecorder(t, apiReply(200, body))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			el := &kinds.CallAPI{URL: srv.URL, ResponseBody: []*kinds.JSONPathVariable{{Path: tc.path, Variable: tc.variable}}}
			apiCompile(t, el)
			r := apiRun(apiT0)
			r.Vars[tc.variable] = "before"
			out, err := el.Run(context.Background(), r)
			if tc.shape {
				require.NoError(t, err, "a path to an array or object does not fail the participant")
				require.Equal(t, kinds.BranchFailed, out.Branch)
				require.Contains(t, out.Reason, tc.err)
				require.Contains(t, out.Reason, tc.path)
				require.Contains(t, r.Vars, tc.variable)
				require.Nil(t, r.Vars[tc.variable], "the variable is set to null")
				return
			}
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				require.ErrorContains(t, err, tc.path)
				require.Contains(t, r.Vars, tc.variable)
				require.Nil(t, r.Vars[tc.variable], "the variable is set to null")
				return
			}
			require.NoError(t, err)
			require.Equal(t, kinds.Branch2xx, out.Branch)
			require.Equal(t, tc.want, r.Vars[tc.variable])
		})
	}
}

func TestCallAPIResponseValuesPartlyRead(t *testing.T) {
	srv := newAPIRecorder(t, apiReply(200, `{"loyalty_points": 5, "list": []}`))
	el := &kinds.CallAPI{URL: srv.URL,
		ResponseHeaders: []*kinds.HeaderVariable{{Header: "x-request-id", Variable: "reqId"}},
		ResponseBody: []*kinds.JSONPathVariable{
			{Path: "$.loyalty_points", Variable: "points"},
			{Path: "$.list", Variable: "tier"},
		}}
	apiCompile(t, el)
	r := apiRun(apiT0)
	out, err := el.Run(context.Background(), r)
	require.NoError(t, err)
	require.Equal(t, kinds.BranchFailed, out.Branch)
	require.Contains(t, out.Reason, "response $.list into tier: the path points to an array")
	require.Equal(t, 5.0, r.Vars["points"], "values read before the failure are kept")
	require.Equal(t, "req-42", r.Vars["reqId"])
	require.Nil(t, r.Vars["tier"])
}

func TestCallAPIInvalidJSON(t *testing.T) {
	for _, body := range []string{`{"points": 1`, `<html>oops secret</html>`, `{"a":1} trailing`, ``} {
		srv := newAPIRecorder(t, apiReply(200, body))
		el := &kinds.CallAPI{URL: srv.URL, ResponseBody: []*kinds.JSONPathVariable{{Path: "$.points", Variable: "points"}}}
		apiCompile(t, el)
		r := apiRun(apiT0)
		_, err := el.Run(context.Background(), r)
		require.ErrorContains(t, err, "response body is not JSON", "body %q", body)
		require.NotContains(t, err.Error(), "secret")
		require.NotContains(t, err.Error(), "html")
		require.Nil(t, r.Vars["points"])
	}
}

func TestCallAPIResponseHeader(t *testing.T) {
	srv := newAPIRecorder(t, apiReply(200, `not json, not read`))
	el := &kinds.CallAPI{URL: srv.URL, ResponseHeaders: []*kinds.HeaderVariable{
		{Header: "X-Request-Id", Variable: "reqId"}, {Header: "X-Absent", Variable: "tier"}}}
	apiCompile(t, el)
	r := apiRun(apiT0)
	r.Vars["tier"] = "gold"
	out, err := el.Run(context.Background(), r)
	require.NoError(t, err)
	require.Equal(t, kinds.Branch2xx, out.Branch)
	require.Equal(t, "req-42", r.Vars["reqId"])
	require.Nil(t, r.Vars["tier"], "an absent header empties the variable")
}

func TestCallAPIHeaders(t *testing.T) {
	srv := newAPIRecorder(t, apiReply(200, `{}`))
	el := &kinds.CallAPI{URL: srv.URL, Headers: map[string]string{
		"Authorization": "Bearer {{person.externalId}}", "X-Name": "{{name}}", "Idempotency-Key": "mine-{{cartId}}"}}
	apiCompile(t, el)
	r := apiRun(apiT0)
	_, err := el.Run(context.Background(), r)
	require.NoError(t, err)
	got := srv.last(t)
	require.Equal(t, "Bearer ann/42", got.Header.Get("Authorization"))
	require.Equal(t, `Ann "A" Lee`, got.Header.Get("X-Name"))
	require.Equal(t, "mine-c 1&2", got.Header.Get("Idempotency-Key"), "a configured key wins")

	// A placeholder value with a line break is refused at run time, and
	// the error does not quote it.
	r = apiRun(apiT0)
	r.Vars["name"] = "x\r\nX-Injected: 1"
	_, err = el.Run(context.Background(), r)
	require.ErrorContains(t, err, "headers.X-Name")
	require.ErrorContains(t, err, "line break")
	require.NotContains(t, err.Error(), "Injected")
}

func TestCallAPIAsync(t *testing.T) {
	release := make(chan struct{})
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- string(b)
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
		w.WriteHeader(500)
	}))
	defer srv.Close()
	defer close(release)
	el := &kinds.CallAPI{URL: srv.URL, Method: "POST", Async: true, Body: json.RawMessage(`{"id": "{{person.externalId}}"}`)}
	apiCompile(t, el)
	require.Equal(t, []string{kinds.BranchSent, kinds.BranchFailed}, el.Branches())
	start := time.Now()
	out, err := el.Run(context.Background(), apiRun(apiT0))
	require.NoError(t, err)
	require.Less(t, time.Since(start), 2*time.Second, "async does not wait for the response")
	require.Equal(t, kinds.BranchSent, out.Branch)
	select {
	case b := <-got:
		require.JSONEq(t, `{"id":"ann/42"}`, b)
	case <-time.After(5 * time.Second):
		t.Fatal("the request did not arrive")
	}

	// Failing to connect is still an error: the call is at-least-once.
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	el = &kinds.CallAPI{URL: closed.URL, Async: true}
	apiCompile(t, el)
	_, err = el.Run(context.Background(), apiRun(apiT0))
	require.ErrorContains(t, err, "connection refused")
	// ... which "failed" takes when the flow connects it.
	el = &kinds.CallAPI{URL: closed.URL, Async: true}
	require.NoError(t, el.Validate(&element.Compiler{Variables: apiVars, Location: time.UTC, Connected: []string{kinds.BranchFailed, kinds.BranchSent}}))
	out, err = el.Run(context.Background(), apiRun(apiT0))
	require.NoError(t, err)
	require.Equal(t, kinds.BranchFailed, out.Branch)
	require.Contains(t, out.Reason, "connection refused")
}

func TestCallAPIAddressGuard(t *testing.T) {
	srv := newAPIRecorder(t, apiReply(200, `{}`))
	// Literal addresses and localhost are refused before any dial, so no
	// traffic goes anywhere.
	for _, u := range []string{srv.URL, "http://localhost:1/x", "http://10.0.0.1/x", "http://169.254.169.254/latest",
		"http://[::1]:1/", "http://[::ffff:127.0.0.1]:1/", "http://0.0.0.0:1/", "http://100.64.0.1/"} {
		el := &kinds.CallAPI{URL: u}
		apiCompile(t, el)
		r := apiRun(apiT0)
		apiOptions(el, kinds.CallAPIOptions{BlockPrivateAddresses: true})
		r.Ports.HTTP = kinds.NewHTTPClient(kinds.HTTPClientOptions{BlockPrivateAddresses: true})
		_, err := el.Run(context.Background(), r)
		require.ErrorIs(t, err, kinds.ErrAddressBlocked, u)
	}
	// Names are checked at dial time against the addresses they resolve
	// to.
	c := kinds.NewHTTPClient(kinds.HTTPClientOptions{BlockPrivateAddresses: true})
	_, err := c.Get(strings.Replace(srv.URL, "127.0.0.1", "localhost", 1))
	require.ErrorIs(t, err, kinds.ErrAddressBlocked)
	// Off by default.
	el := &kinds.CallAPI{URL: srv.URL}
	apiCompile(t, el)
	out, err := el.Run(context.Background(), apiRun(apiT0))
	require.NoError(t, err)
	require.Equal(t, kinds.Branch2xx, out.Branch)
}

func TestBlockedAddress(t *testing.T) {
	for addr, blocked := range map[string]bool{
		"127.0.0.1": true, "127.8.9.1": true, "::1": true, "10.1.2.3": true, "172.16.0.1": true, "172.31.255.255": true,
		"192.168.1.1": true, "169.254.169.254": true, "fe80::1": true, "fc00::1": true, "fd12::1": true, "0.0.0.0": true,
		"::": true, "100.64.0.1": true, "100.127.255.255": true, "224.0.0.1": true, "ff02::1": true, "::ffff:10.0.0.1": true,
		"0.1.2.3": true,
		// The rest of the IANA special-purpose registries, with the
		// addresses on either side of each block.
		"192.0.0.1": true, "192.0.0.255": true, "192.0.1.0": false, "191.255.255.255": false,
		"192.0.2.1": true, "198.51.100.9": true, "203.0.113.255": true, "203.0.114.0": false,
		"198.18.0.1": true, "198.19.255.255": true, "198.17.255.255": false, "198.20.0.0": false,
		"192.31.196.1": true, "192.52.193.1": true, "192.88.99.1": true, "192.175.48.1": true,
		"240.0.0.1": true, "255.255.255.255": true, "239.255.255.255": true, "223.255.255.255": false,
		"100.63.255.255": false, "169.254.0.0": true, "169.253.255.255": false,
		// IPv4 in IPv6: mapped, compatible, translated, NAT64, 6to4.
		"::ffff:198.18.0.1": true, "::ffff:8.8.8.8": false, "::10.0.0.1": true, "::8.8.8.8": true,
		"::ffff:0:a00:1": true, "64:ff9b::10.0.0.1": true, "64:ff9b::192.0.2.1": true, "64:ff9b::127.0.0.1": true,
		"64:ff9b::8.8.8.8": false, "64:ff9b:1::8.8.8.8": true, "2002:a00:1::1": true, "2002:7f00:1::": true,
		"2002:c612:1::1": true, "2002:808:808::1": false,
		// IPv6 special-purpose blocks.
		"2001::1": true, "2001:0:4136:e378:8000:63bf:3fff:fdd2": true, "2001:2::1": true, "2001:1ff:ffff::1": true,
		"2001:200::1": false, "2001:db8::1": true, "2001:db9::1": false, "3fff::1": true, "3fff:fff:ffff::1": true,
		"4000::1": false, "100::1": true, "100:0:0:1::1": true, "100:0:0:2::1": false, "5f00::1": true,
		"2620:4f:8000::1": true, "fec0::1": true, "feff::1": true, "ff0e::1": true, "fe80::1%eth0": true,
		"2a00:1450:4001::200e": false,
		"8.8.8.8":              false, "172.32.0.1": false, "100.128.0.1": false, "2001:4860:4860::8888": false, "93.184.216.34": false,
	} {
		require.Equal(t, blocked, kinds.BlockedAddress(netip.MustParseAddr(addr)), addr)
	}
}

func TestCallAPIValidate(t *testing.T) {
	cases := []struct {
		name  string
		el    *kinds.CallAPI
		field string
		msg   string
	}{
		{"no url", &kinds.CallAPI{}, "url", "missing"},
		{"bad scheme", &kinds.CallAPI{URL: "ftp://x"}, "url", "http:// or https://"},
		{"placeholder scheme", &kinds.CallAPI{URL: "{{name}}/x"}, "url", "http:// or https://"},
		{"no host", &kinds.CallAPI{URL: "http:///path"}, "url", "host"},
		{"bad placeholder", &kinds.CallAPI{URL: "http://x/{{nope}}"}, "url", "unknown name nope"},
		{"bad method", &kinds.CallAPI{URL: "http://x", Method: "TRACE"}, "method", "TRACE"},
		{"bad header name", &kinds.CallAPI{URL: "http://x", Headers: map[string]string{"X Bad": "1"}}, "headers.X Bad", "not a valid"},
		{"header CRLF", &kinds.CallAPI{URL: "http://x", Headers: map[string]string{"X-A": "a\r\nX-B: b"}}, "headers.X-A", "line break"},
		{"header host", &kinds.CallAPI{URL: "http://x", Headers: map[string]string{"host": "y"}}, "headers.host", "set by the HTTP client"},
		{"get body", &kinds.CallAPI{URL: "http://x", Body: json.RawMessage(`{"a":1}`)}, "body", "GET"},
		{"bad json body", &kinds.CallAPI{URL: "http://x", Method: "POST", Body: json.RawMessage(`{"a":`)}, "body", "not JSON"},
		{"bad json text body", &kinds.CallAPI{URL: "http://x", Method: "POST", Body: json.RawMessage(`"{\"a\": {{points}"`)}, "body", "not closed"},
		{"json text body not json", &kinds.CallAPI{URL: "http://x", Method: "POST", Body: json.RawMessage(`"{\"a\" {{points}}}"`)}, "body", "not JSON"},
		{"form body not object", &kinds.CallAPI{URL: "http://x", Method: "POST", Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, Body: json.RawMessage(`[1]`)}, "body", "object of fields"},
		{"form body nested", &kinds.CallAPI{URL: "http://x", Method: "POST", Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, Body: json.RawMessage(`{"a":{"b":1}}`)}, "body.a", "not an object"},
		{"body placeholder", &kinds.CallAPI{URL: "http://x", Method: "POST", Body: json.RawMessage(`{"a":"{{nope}}"}`)}, "body.a", "unknown name nope"},
		{"bad timeout", &kinds.CallAPI{URL: "http://x", Timeout: "soon"}, "timeout", "duration"},
		{"long timeout", &kinds.CallAPI{URL: "http://x", Timeout: "1h"}, "timeout", "longer"},
		{"negative limit", &kinds.CallAPI{URL: "http://x", MaxResponseBytes: -1}, "maxResponseBytes", "negative"},
		{"path without $", &kinds.CallAPI{URL: "http://x", ResponseBody: []*kinds.JSONPathVariable{{Path: "points", Variable: "points"}}}, "responseBody[0].path", "start with"},
		{"bad path", &kinds.CallAPI{URL: "http://x", ResponseBody: []*kinds.JSONPathVariable{{Path: "$.a[", Variable: "points"}}}, "responseBody[0].path", "JSONPath"},
		{"undeclared variable", &kinds.CallAPI{URL: "http://x", ResponseBody: []*kinds.JSONPathVariable{{Path: "$.a", Variable: "nope"}}}, "responseBody[0].variable", "not declared"},
		{"header into number", &kinds.CallAPI{URL: "http://x", ResponseHeaders: []*kinds.HeaderVariable{{Header: "X-A", Variable: "points"}}}, "responseHeaders[0].variable", "text"},
		{"async reads", &kinds.CallAPI{URL: "http://x", Async: true, ResponseBody: []*kinds.JSONPathVariable{{Path: "$.a", Variable: "points"}}}, "async", "cannot read"},
		{"bad window", &kinds.CallAPI{URL: "http://x", Window: &kinds.TimeWindow{Start: kinds.At(9, 0)}}, "window.end", "missing"},
		{"empty window", &kinds.CallAPI{URL: "http://x", Window: &kinds.TimeWindow{Start: kinds.At(9, 0), End: kinds.At(9, 0)}}, "window.end", "empty"},
		{"window zone", &kinds.CallAPI{URL: "http://x", Window: &kinds.TimeWindow{Start: kinds.At(9, 0), End: kinds.At(17, 0), TimeZone: "Mars/Base"}}, "window.timeZone", "IANA"},
		{"bad speed unit", &kinds.CallAPI{URL: "http://x", Speed: &kinds.Speed{Count: 1, Per: "week"}}, "speed.per", "minute"},
		{"bad speed count", &kinds.CallAPI{URL: "http://x", Speed: &kinds.Speed{Count: 0, Per: "hour"}}, "speed.count", "positive"},
		{"too fast", &kinds.CallAPI{URL: "http://x", Speed: &kinds.Speed{Count: 100000, Per: "minute"}}, "speed.count", "millisecond"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.el.Validate(&element.Compiler{FlowID: "f", ElementID: "el", Variables: apiVars, Location: time.UTC})
			require.Error(t, err)
			var fe *element.FieldError
			require.True(t, errors.As(err, &fe), "%v", err)
			require.Equal(t, tc.field, fe.Field, "%v", err)
			require.Contains(t, err.Error(), tc.msg)
		})
	}
}

func TestCallAPIWindow(t *testing.T) {
	srv := newAPIRecorder(t, apiReply(200, `{}`))
	el := &kinds.CallAPI{URL: srv.URL, Window: &kinds.TimeWindow{Start: kinds.At(9, 0), End: kinds.At(17, 0), TimeZone: "Europe/Zagreb"}}
	apiCompile(t, el)
	zg, _ := time.LoadLocation("Europe/Zagreb")
	cases := []struct {
		now  time.Time
		wait time.Time // zero: calls now
	}{
		{time.Date(2026, 3, 2, 8, 59, 0, 0, zg), time.Date(2026, 3, 2, 9, 0, 0, 0, zg)},
		{time.Date(2026, 3, 2, 9, 0, 0, 0, zg), time.Time{}},
		{time.Date(2026, 3, 2, 16, 59, 59, 0, zg), time.Time{}},
		{time.Date(2026, 3, 2, 17, 0, 0, 0, zg), time.Date(2026, 3, 3, 9, 0, 0, 0, zg)},
		{time.Date(2026, 3, 28, 23, 0, 0, 0, zg), time.Date(2026, 3, 29, 9, 0, 0, 0, zg)}, // DST night
	}
	for _, tc := range cases {
		out, err := el.Run(context.Background(), apiRun(tc.now))
		require.NoError(t, err)
		if tc.wait.IsZero() {
			require.Equal(t, kinds.Branch2xx, out.Branch, tc.now.String())
			continue
		}
		require.NotNil(t, out.Wait, tc.now.String())
		require.True(t, tc.wait.Equal(out.Wait.Until), "%s: waits until %s, want %s", tc.now, out.Wait.Until, tc.wait)
		require.Contains(t, out.Reason, "outside the delivery window 09:00-17:00 Europe/Zagreb")
	}

	// Across midnight.
	el = &kinds.CallAPI{URL: srv.URL, Window: &kinds.TimeWindow{Start: kinds.At(22, 0), End: kinds.At(6, 0)}}
	apiCompile(t, el)
	for _, tc := range []struct {
		h    int
		open bool
	}{{21, false}, {22, true}, {23, true}, {0, true}, {5, true}, {6, false}, {12, false}} {
		out, err := el.Run(context.Background(), apiRun(time.Date(2026, 3, 2, tc.h, 0, 0, 0, time.UTC)))
		require.NoError(t, err)
		require.Equal(t, tc.open, out.Wait == nil, "hour %d", tc.h)
	}
}

func TestPacerNeverOverTheRate(t *testing.T) {
	p := kinds.NewPacer()
	per := time.Hour
	const n = 7 // per/n is not a whole number of milliseconds
	var slots []time.Time
	now := apiT0
	for i := 0; i < 100; i++ {
		s, ok, err := p.Reserve(t.Context(), "k", n, per, now, time.Time{})
		require.NoError(t, err)
		require.True(t, ok)
		require.False(t, s.Before(now))
		slots = append(slots, s)
		now = now.Add(time.Duration(i%3) * time.Second) // a burst, arriving over a few minutes
	}
	for i := range slots {
		in := 0
		for _, s := range slots[i:] {
			if s.Before(slots[i].Add(per)) {
				in++
			}
		}
		require.LessOrEqual(t, in, n, "window from slot %d", i)
	}
	// A slot that would come after notAfter is not booked, and costs
	// nothing.
	last := slots[len(slots)-1]
	_, ok, err := p.Reserve(t.Context(), "k", n, per, now, last)
	require.NoError(t, err)
	require.False(t, ok)
	s, ok, err := p.Reserve(t.Context(), "k", n, per, now, time.Time{})
	require.NoError(t, err)
	require.True(t, ok)
	require.WithinDuration(t, last.Add(per/n), s, time.Millisecond)
	// Keys are separate budgets.
	s, ok, err = p.Reserve(t.Context(), "other", n, per, now, time.Time{})
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, now, s)
}

func TestCallAPISpeed(t *testing.T) {
	srv := newAPIRecorder(t, apiReply(200, `{}`))
	el := &kinds.CallAPI{URL: srv.URL, Speed: &kinds.Speed{Count: 2, Per: kinds.PerMinute}}
	apiCompile(t, el)
	pacer := kinds.NewPacer()
	var holds []time.Time
	for i := 0; i < 4; i++ {
		r := apiRun(apiT0)
		apiOptions(el, kinds.CallAPIOptions{}, pacer)
		out, err := el.Run(context.Background(), r)
		require.NoError(t, err)
		if out.Wait == nil {
			require.Equal(t, kinds.Branch2xx, out.Branch)
			holds = append(holds, apiT0)
			continue
		}
		holds = append(holds, out.Wait.Until)
		// At its slot the participant calls without booking again.
		r = apiRun(out.Wait.Until)
		apiOptions(el, kinds.CallAPIOptions{}, pacer)
		r.Wait = out.Wait
		out, err = el.Resume(context.Background(), r, element.Wake{Timer: true})
		require.NoError(t, err)
		require.Equal(t, kinds.Branch2xx, out.Branch)
	}
	require.Equal(t, []time.Time{apiT0, apiT0.Add(30 * time.Second), apiT0.Add(time.Minute), apiT0.Add(90 * time.Second)}, holds)
	require.Equal(t, 4, srv.count())
}

// brokenPacer cannot reach its budgets: reserving fails, or claiming.
type brokenPacer struct{ reserveOK bool }

func (b brokenPacer) Reserve(_ context.Context, _ string, _ int, _ time.Duration, now, _ time.Time) (time.Time, bool, error) {
	if b.reserveOK {
		return now, true, nil
	}
	return time.Time{}, false, errors.New("database unreachable")
}

func (brokenPacer) Claim(context.Context, string, int, time.Duration, time.Time) (bool, time.Time, error) {
	return false, time.Time{}, errors.New("database unreachable")
}

// A Pacer that fails fails the step with the sending speed and the cause,
// and no call is made.
func TestCallAPISpeedPacerError(t *testing.T) {
	srv := newAPIRecorder(t, apiReply(200, `{}`))
	el := &kinds.CallAPI{URL: srv.URL, Speed: &kinds.Speed{Count: 2, Per: kinds.PerMinute}}
	apiCompile(t, el)
	for _, p := range []brokenPacer{{}, {reserveOK: true}} {
		r := apiRun(apiT0)
		apiOptions(el, kinds.CallAPIOptions{}, p)
		_, err := el.Run(context.Background(), r)
		require.EqualError(t, err, "sending speed 2 per minute: database unreachable")
	}
	require.Zero(t, srv.count(), "no call made")
}

func FuzzReadJSONPath(f *testing.F) {
	f.Add(`{"loyalty_points": 10}`, "$.loyalty_points")
	f.Add(`{"a": [1, {"b": "c"}]}`, "$.a[1].b")
	f.Add(`[1,2,3]`, "$[1]")
	f.Add(`{"a": {"b": null}}`, "$..b")
	f.Add(`"text"`, "$")
	f.Add(`{"a": 1}`, "$[?(@.a > 0)]")
	f.Add(`{"a": 1`, "$.a")
	f.Add(`{}`, `$["a","b"]`)
	f.Fuzz(func(t *testing.T, body, path string) {
		srv := kinds.ReadResponseForTest
		v, err := srv(body, path)
		if err != nil {
			require.Nil(t, v)
			require.NotContains(t, err.Error(), "panic")
			return
		}
		switch v.(type) {
		case nil, string, float64, bool:
		default:
			t.Fatalf("path %q on %q gave %T, not a single value", path, body, v)
		}
	})
}

// apiDoer is an HTTPDoer answering from a function, without a network.
type apiDoer func(*http.Request) (*http.Response, error)

func (f apiDoer) Do(r *http.Request) (*http.Response, error) { return f(r) }

func FuzzCallAPIResponse(f *testing.F) {
	f.Add(200, "42", `{"loyalty_points": 10, "tier": "gold"}`)
	f.Add(404, "", `{"error": "nope"}`)
	f.Add(200, "2025-01-02T03:04:05Z", `[{"x": 1}]`)
	f.Add(503, "x", ``)
	f.Add(200, "", `{"loyalty_points": "10"}`)
	el := &kinds.CallAPI{URL: "https://api.example.com/p", MaxResponseBytes: 1 << 10,
		ResponseHeaders: []*kinds.HeaderVariable{{Header: "X-Since", Variable: "since"}},
		ResponseBody: []*kinds.JSONPathVariable{
			{Path: "$.loyalty_points", Variable: "points"}, {Path: "$.tier", Variable: "tier"}, {Path: "$[0].x", Variable: "name"}}}
	require.NoError(f, el.Validate(&element.Compiler{Variables: apiVars, Location: time.UTC}))
	// The same call in a flow that connects "in case of any error".
	anyError := *el
	require.NoError(f, anyError.Validate(&element.Compiler{Variables: apiVars, Location: time.UTC, Connected: []string{"2xx", "failed"}}))
	f.Fuzz(func(t *testing.T, status int, header, body string) {
		if status < 100 || status > 999 {
			status = 200
		}
		doer := apiDoer(func(req *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: status, Header: http.Header{"X-Since": {header}},
				Body: io.NopCloser(strings.NewReader(body)), Request: req}, nil
		})
		r := apiRun(apiT0)
		r.Ports.HTTP = doer
		out, err := anyError.Run(context.Background(), r)
		require.NoError(t, err, "with \"failed\" connected, no answer fails the participant")
		require.Contains(t, []string{"2xx", "failed"}, out.Branch)
		r = apiRun(apiT0)
		r.Ports.HTTP = doer
		out, err = el.Run(context.Background(), r)
		if err != nil {
			require.NotContains(t, err.Error(), "panic")
			return
		}
		require.Contains(t, el.Branches(), out.Branch)
		for _, v := range []string{"points", "tier", "name", "since"} {
			switch r.Vars[v].(type) {
			case nil, string, float64, bool, time.Time:
			default:
				t.Fatalf("variable %s holds %T", v, r.Vars[v])
			}
		}
	})
}

// One compiled element serves many participants at once.
func TestCallAPIConcurrent(t *testing.T) {
	srv := newAPIRecorder(t, apiReply(200, `{"loyalty_points": 3, "tier": "silver"}`))
	el := &kinds.CallAPI{URL: srv.URL + "/m/{{person.externalId}}", Method: "POST", Body: json.RawMessage(`{"n": "{{points}}"}`),
		Speed:        &kinds.Speed{Count: 1000, Per: kinds.PerMinute},
		ResponseBody: []*kinds.JSONPathVariable{{Path: "$.loyalty_points", Variable: "points"}, {Path: "$.tier", Variable: "tier"}}}
	apiCompile(t, el)
	pacer := kinds.NewPacer()
	apiOptions(el, kinds.CallAPIOptions{}, pacer)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 5; j++ {
				r := apiRun(apiT0.Add(time.Duration(j) * time.Minute))
				out, err := el.Run(context.Background(), r)
				if err != nil {
					t.Error(err)
					return
				}
				if out.Wait == nil && r.Vars["tier"] != "silver" {
					t.Errorf("tier %v", r.Vars["tier"])
				}
			}
		}()
	}
	wg.Wait()
}

// A flow that does not split 4XX and 5XX connects "failed", Call API's
// "in case of any error" exit: every non-2XX answer without an exit of its
// own and every failure takes it; flows without it keep routing by status,
// and the "error" branch keeps the failures it takes from any element.
func TestCallAPIAnyErrorExit(t *testing.T) {
	body := `{"points": 9, "list": [1, 2]}`
	ok := newAPIRecorder(t, apiReply(200, body))
	notFound := newAPIRecorder(t, apiReply(404, `{"error": "no such cart"}`))
	broken := newAPIRecorder(t, apiReply(503, `<html>down</html>`))
	notJSON := newAPIRecorder(t, apiReply(200, `<html>oops</html>`))
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	const fail = "(error)" // the step fails: "error" or the participant's failure
	exits := []struct {
		name      string
		connected []string
	}{
		{"2xx+failed", []string{"2xx", "failed"}},
		{"2xx+4xx+failed", []string{"2xx", "4xx", "failed"}},
		{"by status", []string{"2xx", "4xx", "5xx", "other"}},
		{"2xx+failed+error", []string{"2xx", "error", "failed"}},
		{"2xx only", []string{"2xx"}},
	}
	answers := []struct {
		name, url, path string
		want            []string // by exits, in order
	}{
		{"200", ok.URL, "$.points", []string{"2xx", "2xx", "2xx", "2xx", "2xx"}},
		{"404", notFound.URL, "$.points", []string{"failed", "4xx", "4xx", "failed", "4xx"}},
		{"503", broken.URL, "$.points", []string{"failed", "failed", "5xx", "failed", "5xx"}},
		{"connection refused", closed.URL, "$.points", []string{"failed", "failed", fail, fail, fail}},
		{"200 not JSON", notJSON.URL, "$.points", []string{"failed", "failed", fail, fail, fail}},
		{"200 missing key", ok.URL, "$.nope", []string{"failed", "failed", fail, fail, fail}},
		{"200 path to an array", ok.URL, "$.list", []string{"failed", "failed", "failed", fail, "failed"}},
	}
	for _, a := range answers {
		for i, x := range exits {
			t.Run(a.name+"/"+x.name, func(t *testing.T) {
				el := &kinds.CallAPI{URL: a.url + "/c", ResponseBody: []*kinds.JSONPathVariable{{Path: a.path, Variable: "points"}}}
				require.NoError(t, el.Validate(&element.Compiler{Variables: apiVars, Location: time.UTC, Connected: x.connected}))
				r := apiRun(apiT0)
				out, err := el.Run(context.Background(), r)
				if a.want[i] == fail {
					require.Error(t, err)
					if strings.HasPrefix(a.name, "200") {
						require.Nil(t, r.Vars["points"], "a failed read sets the variable to null")
					}
					return
				}
				require.NoError(t, err)
				require.Equal(t, a.want[i], out.Branch, out.Reason)
				require.Contains(t, out.Reason, "GET "+a.url+"/c")
				switch {
				case a.want[i] == "2xx":
					require.Equal(t, 9.0, r.Vars["points"])
				case strings.HasPrefix(a.name, "200"):
					require.Nil(t, r.Vars["points"], "a failed read sets the variable to null")
				default:
					require.Equal(t, 7.0, r.Vars["points"], "variables are left alone without a 2XX answer")
				}
			})
		}
	}
}

// A Call API URL may start with a setting that holds the base URL; other
// URLs still need http:// or https://.
func TestCallAPIBaseURLSetting(t *testing.T) {
	require.NoError(t, (&kinds.CallAPI{URL: "{{env.API_URL}}/points/{{cartId}}"}).Validate(exprCompiler()))
	err := (&kinds.CallAPI{URL: "{{cartId}}/points"}).Validate(exprCompiler())
	require.ErrorContains(t, err, "URL must start with http:// or https://")
}

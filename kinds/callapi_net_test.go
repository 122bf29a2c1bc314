package kinds_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/kinds"
	"github.com/stretchr/testify/require"
)

// rawServer is a real HTTP server on a given address that records the
// request-URI and headers of every request exactly as they arrived.
type rawServer struct {
	*httptest.Server
	mu   sync.Mutex
	uris []string
	hdrs []http.Header
}

func newRawServer(t *testing.T, addr string, h http.HandlerFunc) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	require.NoError(t, err, "listen on %s", addr)
	s := &rawServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.uris = append(s.uris, r.RequestURI)
		s.hdrs = append(s.hdrs, r.Header.Clone())
		s.mu.Unlock()
		if h != nil {
			h(w, r)
		}
	}))
	s.Listener.Close()
	s.Listener = ln
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func (s *rawServer) got() ([]string, []http.Header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.uris...), append([]http.Header(nil), s.hdrs...)
}

func redirectTo(url string, status int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/start") {
			http.Redirect(w, r, url, status)
			return
		}
		w.WriteHeader(200)
	}
}

// plainDoer wraps an HTTPDoer, as hosts do to count or log requests.
type plainDoer struct{ next element.HTTPDoer }

func (d plainDoer) Do(r *http.Request) (*http.Response, error) { return d.next.Do(r) }

// A redirect to another origin goes without the element's headers (the
// setting's token included), whichever client the host lends; one within
// the origin keeps them. The reason names the hop.
func TestCallAPIRedirectHeaders(t *testing.T) {
	t.Setenv("FLOWKIT_TEST_TOKEN", "tok-s3cr3t")
	other := newRawServer(t, "127.0.0.2", nil) // another host
	samePort := newRawServer(t, "127.0.0.1", nil)
	doers := map[string]func() element.HTTPDoer{
		"engine client":        func() element.HTTPDoer { return kinds.NewHTTPClient(kinds.HTTPClientOptions{}) },
		"host's http.Client":   func() element.HTTPDoer { return &http.Client{} },
		"doer wrapping engine": func() element.HTTPDoer { return plainDoer{kinds.NewHTTPClient(kinds.HTTPClientOptions{})} },
	}
	for name, doer := range doers {
		for _, tc := range []struct {
			name   string
			to     string // the Location
			status int
			cross  bool
		}{
			{"other host", other.URL + "/landing", http.StatusFound, true},
			{"other port of the same host", samePort.URL + "/landing", http.StatusTemporaryRedirect, true},
			{"same origin", "/landing", http.StatusFound, false},
		} {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				first := newRawServer(t, "127.0.0.1", redirectTo(tc.to, tc.status))
				el := &kinds.CallAPI{URL: first.URL + "/start", Headers: map[string]string{
					"X-Api-Key": "{{env.FLOWKIT_TEST_TOKEN}}", "X-Tenant": "acme", "Accept": "application/json"}}
				apiCompile(t, el)
				r := apiRun(apiT0)
				r.Ports.HTTP = doer()
				out, err := el.Run(context.Background(), r)
				require.NoError(t, err)
				require.Equal(t, kinds.Branch2xx, out.Branch)

				landed := first
				if tc.cross {
					landed = other
					if tc.name == "other port of the same host" {
						landed = samePort
					}
				}
				uris, hdrs := landed.got()
				require.Equal(t, "/landing", uris[len(uris)-1])
				h := hdrs[len(hdrs)-1]
				require.Equal(t, r.IdempotencyKey(), h.Get("Idempotency-Key"), "the engine's own key goes on")
				if tc.cross {
					require.Empty(t, h.Get("X-Api-Key"), "a setting's token must not reach another origin")
					require.Empty(t, h.Get("X-Tenant"), "custom headers do not go to another origin")
					require.Contains(t, out.Reason, "redirected to http://"+strings.TrimPrefix(landed.URL, "http://")+"/landing (another origin")
				} else {
					require.Equal(t, "tok-s3cr3t", h.Get("X-Api-Key"), "within the origin the headers go on")
					require.Equal(t, "acme", h.Get("X-Tenant"))
					require.Contains(t, out.Reason, "redirected to "+first.URL+"/landing: 200")
				}
				require.NotContains(t, out.Reason, "tok-s3cr3t")
			})
		}
	}
}

// A POST redirected by 307 to another origin is sent again with its body
// and a constant Content-Type, but not the element's other headers.
func TestCallAPIRedirectPostBody(t *testing.T) {
	var body string
	other := newRawServer(t, "127.0.0.2", func(_ http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		body = string(b)
	})
	first := newRawServer(t, "127.0.0.1", redirectTo(other.URL+"/landing", http.StatusTemporaryRedirect))
	el := &kinds.CallAPI{URL: first.URL + "/start", Method: "POST", Body: []byte(`{"id": "{{person.externalId}}"}`),
		Headers: map[string]string{"Content-Type": "application/json; charset=utf-8", "Authorization": "Bearer x", "X-Signature": "sig"}}
	apiCompile(t, el)
	out, err := el.Run(context.Background(), apiRun(apiT0))
	require.NoError(t, err)
	require.Equal(t, kinds.Branch2xx, out.Branch)
	_, hdrs := other.got()
	require.Len(t, hdrs, 1)
	require.JSONEq(t, `{"id": "ann/42"}`, body)
	require.Equal(t, "application/json; charset=utf-8", hdrs[0].Get("Content-Type"))
	require.Empty(t, hdrs[0].Get("Authorization"))
	require.Empty(t, hdrs[0].Get("X-Signature"))
}

// With "redirects": "refuse" no redirect is followed: the 3XX answer is
// the outcome, "other", or "failed" when only that is connected.
func TestCallAPIRedirectsRefuse(t *testing.T) {
	other := newRawServer(t, "127.0.0.2", nil)
	first := newRawServer(t, "127.0.0.1", redirectTo(other.URL+"/landing", http.StatusFound))
	for _, tc := range []struct {
		connected []string
		branch    string
	}{
		{nil, kinds.BranchOther},
		{[]string{kinds.Branch2xx, kinds.BranchFailed}, kinds.BranchFailed},
	} {
		el := &kinds.CallAPI{URL: first.URL + "/start", Redirects: kinds.RedirectsRefuse}
		require.NoError(t, el.Validate(&element.Compiler{FlowID: "f", ElementID: "el", Variables: apiVars, Connected: tc.connected}))
		for _, doer := range []element.HTTPDoer{kinds.NewHTTPClient(kinds.HTTPClientOptions{}), &http.Client{}, plainDoer{kinds.NewHTTPClient(kinds.HTTPClientOptions{})}} {
			r := apiRun(apiT0)
			r.Ports.HTTP = doer
			out, err := el.Run(context.Background(), r)
			require.NoError(t, err)
			require.Equal(t, tc.branch, out.Branch)
			require.Contains(t, out.Reason, "GET "+first.URL+"/start: 302, redirect to "+other.URL+"/landing refused")
		}
	}
	uris, _ := other.got()
	require.Empty(t, uris, "a refused redirect sends nothing to its target")

	// The value is checked at Publish.
	err := (&kinds.CallAPI{URL: "https://api.example.com/x", Redirects: "never"}).Validate(exprCompiler())
	var fe *element.FieldError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "redirects", fe.Field)
	require.Contains(t, err.Error(), `"follow" or "refuse"`)
}

// A redirect loop stops after MaxRedirects hops and fails the step.
func TestCallAPIRedirectLimit(t *testing.T) {
	srv := newRawServer(t, "127.0.0.1", redirectTo("/start", http.StatusFound))
	el := &kinds.CallAPI{URL: srv.URL + "/start"}
	apiCompile(t, el)
	_, err := el.Run(context.Background(), apiRun(apiT0))
	require.ErrorContains(t, err, fmt.Sprintf("stopped after %d redirects", kinds.MaxRedirects))
	uris, _ := srv.got()
	require.Len(t, uris, kinds.MaxRedirects+1)
}

// A placeholder never makes a "." or ".." path segment: the step fails
// before any request, while other values, escaped, reach the server as
// they are.
func TestCallAPIPathDotSegments(t *testing.T) {
	srv := newRawServer(t, "127.0.0.1", nil)
	el := &kinds.CallAPI{URL: srv.URL + "/members/{{person.externalId}}/points"}
	apiCompile(t, el)
	for id, want := range map[string]string{
		"..": "", ".": "", "../admin": "", "a/../b": "", "a/./b": "", "./..": "",
		"ann/42":  "/members/ann%2F42/points",
		"...":     "/members/.../points",
		"%2E%2E":  "/members/%252E%252E/points",
		"..a":     "/members/..a/points",
		"a..":     "/members/a../points",
		"a\\..\\": "/members/a%5C..%5C/points",
	} {
		before, _ := srv.got()
		r := apiRun(apiT0)
		r.Person.ExternalID = id
		_, err := el.Run(context.Background(), r)
		after, _ := srv.got()
		if want == "" {
			require.ErrorContains(t, err, `"." or ".." segment`, id)
			require.Equal(t, len(before), len(after), "%q: no request is sent", id)
			continue
		}
		require.NoError(t, err, id)
		require.Equal(t, want, after[len(after)-1], id)
	}
	// A path written with dot segments is refused at Publish.
	for _, u := range []string{"https://api.example.com/a/../b", "https://api.example.com/./b", "https://api.example.com/a/%2e%2E/b",
		"{{env.API_URL}}/../{{cartId}}"} {
		err := (&kinds.CallAPI{URL: u}).Validate(exprCompiler())
		require.ErrorContains(t, err, `"." or ".." segment`, u)
	}
}

// netnsEnv names the test that a test binary runs inside a network
// namespace of its own (see inNetNS).
const netnsEnv = "FLOWKIT_TEST_NETNS"

// inNetNS runs the calling test again in a fresh network namespace whose
// loopback interface also holds addrs, so that servers can listen on
// them without touching the host's network. It returns true in that
// namespace, where the test goes on; in the parent it checks that the
// test passed there and returns false. It skips the test when it cannot
// make the namespace.
func inNetNS(t *testing.T, addrs ...string) bool {
	t.Helper()
	ip := func(args ...string) error {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if os.Getenv(netnsEnv) == t.Name() {
		require.NoError(t, ip("link", "set", "lo", "up"))
		for _, a := range addrs {
			addr := netip.MustParseAddr(a)
			if addr.Is6() {
				require.NoError(t, ip("-6", "addr", "add", a+"/128", "dev", "lo", "nodad"))
			} else {
				require.NoError(t, ip("addr", "add", a+"/32", "dev", "lo"))
			}
		}
		// The kernel may install an address's route a moment after ip
		// returns: wait until each one is routable (a UDP connect sends
		// nothing, it only looks the route up).
		for _, a := range addrs {
			require.Eventually(t, func() bool {
				c, err := net.Dial("udp", net.JoinHostPort(a, "9"))
				if err != nil {
					return false
				}
				c.Close()
				return true
			}, 5*time.Second, 10*time.Millisecond, "%s is routable in the namespace", a)
		}
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a network namespace holding test addresses")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command to add test addresses")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), netnsEnv+"="+t.Name())
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	out, err := cmd.CombinedOutput()
	if err != nil && strings.Contains(err.Error(), "operation not permitted") {
		t.Skipf("cannot make a network namespace: %v", err)
	}
	require.NoError(t, err, "the test in its network namespace:\n%s", out)
	require.Contains(t, string(out), "--- PASS: "+t.Name(), "the test ran in its network namespace:\n%s", out)
	return false
}

// Addresses of the special-purpose ranges are refused when the client
// connects, so a name that resolves to one (or rebinds to one) is
// refused as a literal is: real servers listen on them, reachable without
// the guard and never reached with it.
func TestBlockedRangesAtConnect(t *testing.T) {
	addrs := []string{
		"198.18.0.1",      // benchmarking
		"192.0.0.1",       // IETF protocol assignments
		"192.0.2.1",       // documentation
		"198.51.100.7",    // documentation
		"240.0.0.1",       // reserved
		"64:ff9b::a00:1",  // NAT64 of 10.0.0.1
		"64:ff9b::c612:1", // NAT64 of 198.18.0.1
		"64:ff9b:1::1",    // local-use translation
		"2002:a00:1::1",   // 6to4 of 10.0.0.1
		"2001::1",         // Teredo
		"2001:db8::1",     // documentation
		"fec0::1",         // site-local
		"100::1",          // discard-only
		"3fff::1",         // documentation
	}
	if !inNetNS(t, addrs...) {
		return
	}
	open := kinds.NewHTTPClient(kinds.HTTPClientOptions{})
	guarded := kinds.NewHTTPClient(kinds.HTTPClientOptions{BlockPrivateAddresses: true})
	for _, a := range addrs {
		srv := newRawServer(t, a, nil)
		// The namespace's IPv6 routes may settle a moment after the
		// addresses: the open client tries until it gets through once.
		require.Eventually(t, func() bool {
			resp, err := open.Get(srv.URL + "/open")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return true
		}, 5*time.Second, 20*time.Millisecond, "%s is reachable without the guard", a)
		_, err := guarded.Get(srv.URL + "/guarded")
		require.ErrorIs(t, err, kinds.ErrAddressBlocked, a)
		uris, _ := srv.got()
		require.Equal(t, []string{"/open"}, uris, a)
	}
}

// With BlockPrivateAddresses every hop of a redirect is checked: a public
// endpoint that redirects to a blocked address reaches nothing there, and
// the step's error names the hop.
func TestCallAPIRedirectAddressGuard(t *testing.T) {
	const public = "11.0.0.1" // an ordinary unicast address, in the test's own network
	if !inNetNS(t, public, "198.18.0.1") {
		return
	}
	inside := newRawServer(t, "198.18.0.1", nil)
	for _, to := range []string{inside.URL + "/admin", "http://127.0.0.1:1/admin", "http://[::ffff:10.0.0.1]/admin", "http://localhost:1/"} {
		first := newRawServer(t, public, redirectTo(to, http.StatusFound))
		el := &kinds.CallAPI{URL: first.URL + "/start"}
		apiCompile(t, el)
		r := apiRun(apiT0)
		apiOptions(el, kinds.CallAPIOptions{BlockPrivateAddresses: true})
		r.Ports.HTTP = kinds.NewHTTPClient(kinds.HTTPClientOptions{BlockPrivateAddresses: true})
		_, err := el.Run(context.Background(), r)
		require.ErrorIs(t, err, kinds.ErrAddressBlocked, to)
		require.ErrorContains(t, err, "GET "+first.URL+"/start: redirected to ", to)
		uris, _ := first.got()
		require.Equal(t, []string{"/start"}, uris)
	}
	uris, _ := inside.got()
	require.Empty(t, uris, "the blocked address is never reached")
}

// An Async call follows the same policy: its redirect to another origin
// goes without the element's headers.
func TestCallAPIAsyncRedirectHeaders(t *testing.T) {
	other := newRawServer(t, "127.0.0.2", nil)
	first := newRawServer(t, "127.0.0.1", redirectTo(other.URL+"/landing", http.StatusFound))
	el := &kinds.CallAPI{URL: first.URL + "/start", Async: true, Headers: map[string]string{"X-Api-Key": "k-77"}}
	apiCompile(t, el)
	out, err := el.Run(context.Background(), apiRun(apiT0))
	require.NoError(t, err)
	require.Equal(t, kinds.BranchSent, out.Branch)
	require.Eventually(t, func() bool { uris, _ := other.got(); return len(uris) == 1 }, 5*time.Second, 5*time.Millisecond)
	_, hdrs := other.got()
	require.Empty(t, hdrs[0].Get("X-Api-Key"))
}

// recordingDoer answers 200 to every request and keeps its URL.
type recordingDoer struct{ last *url.URL }

func (d *recordingDoer) Do(r *http.Request) (*http.Response, error) {
	d.last = r.URL
	return &http.Response{StatusCode: 200, Body: http.NoBody, Header: http.Header{}, Request: r}, nil
}

// Whatever a person's data holds, a placeholder in a path segment stays
// one segment that is neither "." nor "..": the request goes to
// /members/<one segment>/points or not at all.
func FuzzCallAPIPathPlaceholder(f *testing.F) {
	for _, s := range []string{"..", ".", "a/../b", "%2e%2E", "ann/42", "..%2f", "?x=1#y", "\\..", "...", ""} {
		f.Add(s)
	}
	el := &kinds.CallAPI{URL: "https://api.example.com/members/{{person.externalId}}/points"}
	if err := el.Validate(&element.Compiler{FlowID: "f", ElementID: "el", Variables: apiVars}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id string) {
		r := apiRun(apiT0)
		r.Person.ExternalID = id
		d := &recordingDoer{}
		r.Ports.HTTP = d
		_, err := el.Run(context.Background(), r)
		if d.last == nil {
			return // refused or not a URL: nothing was sent
		}
		require.NoError(t, err)
		path := d.last.EscapedPath()
		seg, ok := strings.CutPrefix(path, "/members/")
		require.True(t, ok, path)
		seg, ok = strings.CutSuffix(seg, "/points")
		require.True(t, ok, path)
		require.NotContains(t, seg, "/", path)
		dec, err := url.PathUnescape(seg)
		require.NoError(t, err)
		for part := range strings.SplitSeq(dec, "/") {
			require.NotContains(t, []string{".", ".."}, part, path)
		}
		require.Empty(t, d.last.RawQuery)
	})
}

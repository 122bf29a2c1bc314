package flowtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

// Sender is an element.Sender that records every message with its send
// time by the engine's clock. It is safe for concurrent use.
type Sender struct {
	clk clock.Clock
	// Fail, when set, is called for each message; a non-nil error fails
	// the send (the message is recorded all the same).
	Fail func(m *element.Message) error

	mu   sync.Mutex
	sent []Sent
}

// Sent is one message a Sender got.
type Sent struct {
	At time.Time // by the engine's clock
	ID string    // the message id the Sender returned: "m1", "m2", ...
	element.Message
}

// NewSender returns a Sender reading send times from clk, the engine's
// clock.
func NewSender(clk clock.Clock) *Sender { return &Sender{clk: clk} }

// Send implements element.Sender.
func (s *Sender) Send(_ context.Context, m *element.Message) (string, error) {
	s.mu.Lock()
	id := "m" + strconv.Itoa(len(s.sent)+1)
	s.sent = append(s.sent, Sent{At: s.clk.Now(), ID: id, Message: *m})
	fail := s.Fail
	s.mu.Unlock()
	if fail != nil {
		if err := fail(m); err != nil {
			return "", err
		}
	}
	return id, nil
}

// Sent returns the messages sent so far, oldest first.
func (s *Sender) Sent() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sent)
}

// To returns the messages sent to an address, oldest first.
func (s *Sender) To(address string) []Sent {
	var out []Sent
	for _, m := range s.Sent() {
		if m.To == address {
			out = append(out, m)
		}
	}
	return out
}

// HTTP is an element.HTTPDoer that answers Call API requests from scripted
// responses per route, with no network, and records every request. It is
// safe for concurrent use.
type HTTP struct {
	clk clock.Clock

	mu       sync.Mutex
	mux      *http.ServeMux
	routes   map[string]*route
	requests []Request
}

type route struct {
	responses []Response
	served    int
}

// Response is a scripted answer.
type Response struct {
	// Status is the HTTP status. Defaults to 200.
	Status int
	// Body is the response body; a body that starts with "{" or "[" goes
	// with a JSON Content-Type unless Header sets one.
	Body   string
	Header http.Header
	// Delay holds the answer for this long, in real time, or until the
	// request's context ends (a Call API timeout): keep it short.
	Delay time.Duration
	// Err, when set, fails the request as a transport error would.
	Err error
}

// Request is one request an HTTP got.
type Request struct {
	At     time.Time // by the engine's clock
	Route  string    // the pattern that matched; "" for none
	Method string
	URL    string
	Header http.Header
	Body   string
}

// NewHTTP returns an HTTP with no routes, reading request times from clk.
// A request no route matches gets 404.
func NewHTTP(clk clock.Clock) *HTTP {
	return &HTTP{clk: clk, mux: http.NewServeMux(), routes: map[string]*route{}}
}

// Handle scripts the answers of a route, a net/http.ServeMux pattern such
// as "POST /members/{id}" or "GET api.example.com/points": the first
// request gets the first response, and so on, the last one repeating. It
// panics on a pattern ServeMux refuses or a route handled twice, as
// ServeMux does: both are mistakes in a test.
func (h *HTTP) Handle(pattern string, responses ...Response) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(responses) == 0 {
		responses = []Response{{}}
	}
	h.mux.Handle(pattern, http.NotFoundHandler()) // matching only
	h.routes[pattern] = &route{responses: responses}
}

// Do implements element.HTTPDoer.
func (h *HTTP) Do(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		body = b
	}
	h.mu.Lock()
	_, pattern := h.mux.Handler(r)
	rt := h.routes[pattern]
	h.requests = append(h.requests, Request{At: h.clk.Now(), Route: pattern, Method: r.Method, URL: r.URL.String(), Header: r.Header.Clone(), Body: string(body)})
	resp := Response{Status: http.StatusNotFound, Body: "flowtest: no route for " + r.Method + " " + r.URL.Path}
	if rt != nil {
		resp = rt.responses[min(rt.served, len(rt.responses)-1)]
		rt.served++
	}
	h.mu.Unlock()
	if resp.Delay > 0 {
		t := time.NewTimer(resp.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return nil, r.Context().Err()
		}
	}
	if resp.Err != nil {
		return nil, resp.Err
	}
	header := resp.Header.Clone()
	if header == nil {
		header = http.Header{}
	}
	if header.Get("Content-Type") == "" && (strings.HasPrefix(resp.Body, "{") || strings.HasPrefix(resp.Body, "[")) {
		header.Set("Content-Type", "application/json")
	}
	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	}
	return &http.Response{
		Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), StatusCode: status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: header, Body: io.NopCloser(bytes.NewReader([]byte(resp.Body))),
		ContentLength: int64(len(resp.Body)), Request: r,
	}, nil
}

// Requests returns the requests made so far, oldest first.
func (h *HTTP) Requests() []Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.requests)
}

// ForceVariants returns a flow.Config.Ports.Variants that sends each person
// named by external id to a Split Audience variant, in every split; other
// people go by the split's hash.
func ForceVariants(byExternalID map[string]string) func(flowID, elementID string, p *store.Person) (string, bool) {
	return func(_, _ string, p *store.Person) (string, bool) {
		v, ok := byExternalID[p.ExternalID]
		return v, ok
	}
}

// Path returns the way a participant went, from its journal: each element
// it reached, in order, written "id" when it went on by "next" (or did
// not go on: it waits or left there) and "id:branch" for any other
// branch, such as "wait-order:timeout". Only the steps the journal keeps
// are there (flow.Config.JournalLimit).
func Path(p *store.Participant) []string {
	var out []string
	last, open := "", false
	for _, s := range p.Journal {
		// A step without a branch at the element just reached or left is
		// more of that visit: the wait, or the exit of a branch that
		// leads nowhere.
		if s.Element != last || (s.Branch != "" && !open) {
			out = append(out, s.Element)
			last = s.Element
		}
		open = s.Branch == ""
		if s.Branch != "" && s.Branch != element.BranchNext {
			out[len(out)-1] = s.Element + ":" + s.Branch
		}
	}
	return out
}

// RequirePath fails the test unless the participant's Path is want.
func RequirePath(t testing.TB, eng *flow.Engine, id uuid.UUID, want ...string) {
	t.Helper()
	p, err := eng.Participant(t.Context(), id)
	if err != nil {
		t.Fatalf("flowtest: participant %s: %v", id, err)
	}
	if got := Path(p); !slices.Equal(got, want) {
		t.Fatalf("flowtest: participant %s went\n\t%s\nnot\n\t%s", id, strings.Join(got, " → "), strings.Join(want, " → "))
	}
}

// MostWithin returns the most of times that fall within any window of
// length d (half open): for asserting a sending speed at an endpoint,
// such as "never more than 10 calls in any minute".
func MostWithin(times []time.Time, d time.Duration) int {
	s := slices.Clone(times)
	slices.SortFunc(s, func(a, b time.Time) int { return a.Compare(b) })
	most, lo := 0, 0
	for hi := range s {
		for s[hi].Sub(s[lo]) >= d {
			lo++
		}
		most = max(most, hi-lo+1)
	}
	return most
}

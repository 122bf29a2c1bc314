package elementtest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/internal/clone"
	"github.com/flowkit/flowkit/store"
)

// Sender is an element.Sender that records every message. It is safe for
// concurrent use.
type Sender struct {
	// Err, when set, fails every send (the message is recorded all the
	// same).
	Err error

	mu   sync.Mutex
	sent []element.Message
}

// Send implements element.Sender: it returns the message ids "m1", "m2",
// and so on.
func (s *Sender) Send(_ context.Context, m *element.Message) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, *m)
	if s.Err != nil {
		return "", s.Err
	}
	return "m" + strconv.Itoa(len(s.sent)), nil
}

// Sent returns the messages sent so far, oldest first.
func (s *Sender) Sent() []element.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sent)
}

// HTTP is an element.HTTPDoer that serves requests with Handler in the
// process, with no network, and records them. It is safe for concurrent
// use when Handler is.
type HTTP struct {
	// Handler answers the requests. Defaults to answering 404.
	Handler http.Handler

	mu   sync.Mutex
	reqs []*http.Request
}

// Do implements element.HTTPDoer.
func (h *HTTP) Do(r *http.Request) (*http.Response, error) {
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	h.mu.Lock()
	h.reqs = append(h.reqs, r)
	handler := h.Handler
	h.mu.Unlock()
	if handler == nil {
		handler = http.NotFoundHandler()
	}
	// The handler sees the request as a server would.
	in := r.Clone(r.Context())
	in.RequestURI = r.URL.RequestURI()
	if in.Body == nil {
		in.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, in)
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

// Requests returns the requests made so far, oldest first. Their bodies
// were read by the Handler.
func (h *HTTP) Requests() []*http.Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.reqs)
}

// Conversations is an element.Conversations that records every
// conversation started. It is safe for concurrent use.
type Conversations struct {
	// Err, when set, fails every start (the conversation is recorded all
	// the same).
	Err error

	mu      sync.Mutex
	started []element.Conversation
}

// Start implements element.Conversations: it returns the ids "c1", "c2",
// and so on.
func (c *Conversations) Start(_ context.Context, conv *element.Conversation) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.started = append(c.started, *conv)
	if c.Err != nil {
		return "", c.Err
	}
	return "c" + strconv.Itoa(len(c.started)), nil
}

// Started returns the conversations started so far, oldest first.
func (c *Conversations) Started() []element.Conversation {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.started)
}

// Flows is an element.Flows that records every entry. It is safe for
// concurrent use.
type Flows struct {
	// Err, when set, fails every entry (the entry is recorded all the
	// same), as entering a flow that is not active does.
	Err error

	mu      sync.Mutex
	entered []Entry
}

// Entry is one entry a Flows got.
type Entry struct {
	FlowID string
	Who    store.PersonRef // zero for the step's own person
	Vars   map[string]any
	Key    string
}

// Enter implements element.Flows.
func (f *Flows) Enter(_ context.Context, flowID string, who store.PersonRef, vars map[string]any, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entered = append(f.entered, Entry{FlowID: flowID, Who: who, Vars: clone.Map(vars), Key: key})
	return f.Err
}

// Entered returns the entries so far, oldest first.
func (f *Flows) Entered() []Entry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.entered)
}

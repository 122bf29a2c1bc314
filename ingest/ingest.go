// Package ingest serves an HTTP endpoint that takes events and profile
// changes in the form of Segment's HTTP tracking API (the spec that
// RudderStack and others speak too), so that a host's web and mobile
// clients, or its backend's analytics library, feed flowkit without
// plumbing of the host's own:
//
//	POST /v1/track     a track call: an event, delivered (flow.Engine.Deliver)
//	POST /v1/identify  an identify call: traits, a profile change (flow.Engine.ChangePerson)
//	POST /v1/batch     {"batch": [calls...]}: each call as above (also /v1/import)
//
// A call names its person by userId (the person's external id) or, when
// it has none, by anonymousId (the external id "anonymous:" + the id);
// Options.Person changes that. A track call's messageId is the event's
// id, so a call sent twice is delivered once, its event name the
// event's name (category external), its properties the event's, and its
// time the call's timestamp (corrected for the client's clock when it
// gives originalTimestamp and sentAt, else the time it arrived). An
// identify's traits become attributes: the standard ones by name
// (firstName, lastName, gender, birthday as birthDate, address.city and
// address.country, name split into first and last when they are not
// given), email and phone added to the person's addresses, and custom
// attributes the engine's Config.Schema declares; other traits are
// ignored, and the response names them.
//
// Every request is authenticated by Options.Authenticate (WriteKeys
// checks Segment's write key). Bodies are bounded (Options.MaxBodyBytes,
// MaxCallBytes, MaxBatchCalls) and may be gzip-compressed.
//
// Each call of a batch succeeds or fails alone, in order per person: a
// bad call (no person, no event name, a property the engine refuses) is
// reported with its index and the others are applied. The answer is 200
// with {"success": true}, or with "success": false and the bad calls in
// "errors"; 400 for a single bad call; and 503 when a call failed because
// the store did not answer, so that the client sends the request again
// (what was applied is not applied twice: events by messageId, and
// profile changes set the same values again).
package ingest

import (
	"compress/gzip"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/store"
)

// Options configures a Handler. Authenticate is required unless
// AllowUnauthenticated is set; the other fields default as they say.
type Options struct {
	// Authenticate accepts a request (nil) or refuses it with an error,
	// which the handler answers with 401 and the error's words. See
	// WriteKeys. Required unless AllowUnauthenticated.
	Authenticate func(r *http.Request) error
	// AllowUnauthenticated serves requests without Authenticate, for
	// endpoints that a network boundary protects. Defaults to false.
	AllowUnauthenticated bool
	// Person maps a call's userId and anonymousId to the person it is
	// about. Defaults to DefaultPerson.
	Person func(userID, anonymousID string) (store.PersonRef, error)
	// MaxBodyBytes bounds a request's body, after decompression.
	// Defaults to 512 KiB (Segment's batch limit is 500 KB).
	MaxBodyBytes int64
	// MaxCallBytes bounds one call, alone or in a batch. Defaults to
	// 32 KiB, as Segment's.
	MaxCallBytes int
	// MaxBatchCalls bounds the calls of one batch. Defaults to 2500.
	MaxBatchCalls int
	// Concurrency is how many people's calls of one batch run at once;
	// each person's run in order. Defaults to 8.
	Concurrency int
}

// Handler serves the tracking API on an engine. Build it with New.
type Handler struct {
	eng    *flow.Engine
	o      Options
	schema store.Schema
}

// New returns a Handler that applies calls on eng.
func New(eng *flow.Engine, o Options) (*Handler, error) {
	if eng == nil {
		return nil, errors.New("ingest: the engine is nil")
	}
	if o.Authenticate == nil && !o.AllowUnauthenticated {
		return nil, errors.New("ingest: Options.Authenticate is required (or set AllowUnauthenticated)")
	}
	if o.MaxBodyBytes < 0 || o.MaxCallBytes < 0 || o.MaxBatchCalls < 0 || o.Concurrency < 0 {
		return nil, errors.New("ingest: Options limits must not be negative")
	}
	if o.Person == nil {
		o.Person = DefaultPerson
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = 512 << 10
	}
	if o.MaxCallBytes == 0 {
		o.MaxCallBytes = 32 << 10
	}
	if o.MaxBatchCalls == 0 {
		o.MaxBatchCalls = 2500
	}
	if o.Concurrency == 0 {
		o.Concurrency = 8
	}
	return &Handler{eng: eng, o: o, schema: eng.Schema()}, nil
}

// DefaultPerson names a call's person: the external id userId, else the
// external id "anonymous:" + anonymousId.
func DefaultPerson(userID, anonymousID string) (store.PersonRef, error) {
	switch {
	case userID != "":
		return store.PersonRef{ExternalID: userID}, nil
	case anonymousID != "":
		return store.PersonRef{ExternalID: "anonymous:" + anonymousID}, nil
	}
	return store.PersonRef{}, errors.New("the call has neither a userId nor an anonymousId")
}

// WriteKeys returns an Authenticate function that accepts requests
// carrying one of keys as Segment's clients send their write key: the
// user name of HTTP basic authentication (any password).
func WriteKeys(keys ...string) func(*http.Request) error {
	return func(r *http.Request) error {
		user, _, ok := r.BasicAuth()
		if !ok || user == "" {
			return errors.New("no write key: send it as the user name of basic authentication")
		}
		for _, k := range keys {
			if k != "" && subtle.ConstantTimeCompare([]byte(user), []byte(k)) == 1 {
				return nil
			}
		}
		return errors.New("unknown write key")
	}
}

// Response is the body of every answer.
type Response struct {
	Success bool `json:"success"`
	// Accepted is how many calls were applied.
	Accepted int `json:"accepted"`
	// Errors are the calls that were not, with why.
	Errors []CallError `json:"errors,omitempty"`
	// Ignored names, per call index, the traits that name no attribute.
	Ignored map[int][]string `json:"ignored,omitempty"`
	// Error says why a request was refused as a whole.
	Error string `json:"error,omitempty"`
}

// CallError is one call that was not applied.
type CallError struct {
	// Index is the call's place in the batch (0 for a single call).
	Index     int    `json:"index"`
	MessageID string `json:"messageId,omitempty"`
	// Field names what was wrong, such as "event" or "properties.total".
	Field string `json:"field,omitempty"`
	Error string `json:"error"`
	// Retry is set when the call failed for a reason that may pass (the
	// store did not answer): the request answers 503.
	Retry bool `json:"retry,omitempty"`
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	kind := strings.TrimSuffix(r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:], "/")
	switch kind {
	case "track", "identify", "batch", "import":
	default:
		answer(w, http.StatusNotFound, &Response{Error: "no such call: POST /v1/track, /v1/identify or /v1/batch"})
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		answer(w, http.StatusMethodNotAllowed, &Response{Error: "calls are POSTed"})
		return
	}
	if h.o.Authenticate != nil {
		if err := h.o.Authenticate(r); err != nil {
			answer(w, http.StatusUnauthorized, &Response{Error: err.Error()})
			return
		}
	}
	body, status, err := h.read(r)
	if err != nil {
		answer(w, status, &Response{Error: err.Error()})
		return
	}
	var raws []json.RawMessage
	if kind == "batch" || kind == "import" {
		var b struct {
			Batch []json.RawMessage `json:"batch"`
		}
		if err := json.Unmarshal(body, &b); err != nil {
			answer(w, http.StatusBadRequest, &Response{Error: "the body is not a batch: " + err.Error()})
			return
		}
		if len(b.Batch) > h.o.MaxBatchCalls {
			answer(w, http.StatusRequestEntityTooLarge, &Response{Error: fmt.Sprintf("the batch has %d calls, more than the limit of %d", len(b.Batch), h.o.MaxBatchCalls)})
			return
		}
		raws = b.Batch
	} else {
		raws = []json.RawMessage{body}
	}
	calls := make([]*call, len(raws))
	res := &Response{}
	for i, raw := range raws {
		c, err := h.parse(raw, kind)
		if err != nil {
			res.Errors = append(res.Errors, callError(i, c, err))
			continue
		}
		calls[i] = c
	}
	h.apply(r.Context(), calls, res)
	res.Success = len(res.Errors) == 0
	status = http.StatusOK
	for _, e := range res.Errors {
		if e.Retry {
			status = http.StatusServiceUnavailable
			break
		}
	}
	if status == http.StatusOK && !res.Success && len(raws) == 1 && kind != "batch" && kind != "import" {
		status = http.StatusBadRequest
	}
	answer(w, status, res)
}

// read reads the body within the limits, decompressing gzip.
func (h *Handler) read(r *http.Request) ([]byte, int, error) {
	var rd io.Reader = http.MaxBytesReader(nil, r.Body, h.o.MaxBodyBytes)
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(rd)
		if err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("the body is not gzip: %w", err)
		}
		defer zr.Close()
		rd = zr
	}
	body, err := io.ReadAll(io.LimitReader(rd, h.o.MaxBodyBytes+1))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig) || int64(len(body)) > h.o.MaxBodyBytes:
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("the body is larger than the limit of %d bytes", h.o.MaxBodyBytes)
	case err != nil:
		return nil, http.StatusBadRequest, fmt.Errorf("reading the body: %w", err)
	}
	return body, 0, nil
}

// apply runs the parsed calls: each person's in order, people in
// parallel.
func (h *Handler) apply(ctx context.Context, calls []*call, res *Response) {
	var order []string
	groups := map[string][]int{}
	for i, c := range calls {
		if c == nil {
			continue
		}
		k := personKey(c.ref)
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	slots := make(chan struct{}, h.o.Concurrency)
	for _, k := range order {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			for _, i := range groups[k] {
				ignored, err := h.run(ctx, calls[i])
				mu.Lock()
				if err != nil {
					res.Errors = append(res.Errors, callError(i, calls[i], err))
				} else {
					res.Accepted++
				}
				if len(ignored) > 0 {
					if res.Ignored == nil {
						res.Ignored = map[int][]string{}
					}
					res.Ignored[i] = ignored
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.SortFunc(res.Errors, func(a, b CallError) int { return a.Index - b.Index })
}

func personKey(r store.PersonRef) string {
	return r.ID.String() + "\x00" + r.ExternalID + "\x00" + r.Phone + "\x00" + r.Email
}

// run applies one call.
func (h *Handler) run(ctx context.Context, c *call) (ignored []string, err error) {
	switch c.kind {
	case "track":
		return nil, h.eng.Deliver(ctx, c.event)
	case "identify":
		_, err := h.eng.ChangePerson(ctx, c.ref, c.changes)
		return c.ignored, err
	}
	return nil, fmt.Errorf("unsupported call type %q", c.kind)
}

func callError(i int, c *call, err error) CallError {
	e := CallError{Index: i, Error: err.Error()}
	if c != nil {
		e.MessageID = c.messageID
	}
	var ie *flow.InputError
	var fe *fieldError
	switch {
	case errors.As(err, &fe):
		e.Field = fe.field
	case errors.As(err, &ie):
		e.Field = ie.Field
	}
	e.Retry = errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
	return e
}

func answer(w http.ResponseWriter, status int, res *Response) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(res)
}

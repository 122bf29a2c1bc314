package kinds

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/PaesslerAG/gval"
	"github.com/PaesslerAG/jsonpath"
	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/internal/values"
	"github.com/flowkit/flowkit/store"
)

// The branches of Call API.
const (
	// Branch2xx is taken on a 2XX response, after the response values
	// were read into variables.
	Branch2xx = "2xx"
	// Branch4xx is taken on a 4XX response.
	Branch4xx = "4xx"
	// Branch5xx is taken on a 5XX response.
	Branch5xx = "5xx"
	// BranchOther is taken on any other status (1XX, 3XX the client did
	// not follow).
	BranchOther = "other"
	// BranchSent is the only branch of an Async call: the request went
	// out.
	BranchSent = "sent"
)

// Call API defaults and bounds.
const (
	// defaultCallTimeout is the per-request timeout when neither the
	// element nor CallAPIOptions set one.
	defaultCallTimeout = 10 * time.Second
	// maxCallTimeout is the longest per-request timeout an element may
	// set, so that a step never holds its person's transaction longer.
	maxCallTimeout = 2 * time.Minute
	// defaultMaxResponseBytes is the response size limit when neither
	// the element nor CallAPIOptions set one.
	defaultMaxResponseBytes = 1 << 20
)

// CallAPIOptions are the host's settings for Call API elements.
type CallAPIOptions struct {
	// Timeout bounds each request, response body included, unless the
	// element sets its own. Defaults to 10s.
	Timeout time.Duration
	// MaxResponseBytes is the most response body bytes read; an element
	// may set a lower limit, not a higher one. A larger body that must be
	// read fails the step. Defaults to 1 MiB.
	MaxResponseBytes int64
	// BlockPrivateAddresses refuses requests to the addresses
	// BlockedAddress names (loopback, private, link-local, shared and the
	// other special-purpose blocks of IANA's registries), for hosts whose
	// flow authors are less trusted than the host. A literal address or
	// "localhost" in the URL or in a redirect is refused by the element;
	// names are checked against the addresses they resolve to, when the
	// client connects, by the client NewHTTPClient returns (the engine's
	// default), for every hop of a redirect. A host that brings its own
	// HTTPDoer guards its connections itself (see BlockedAddress).
	// Defaults to false.
	BlockPrivateAddresses bool
}

func (o CallAPIOptions) withDefaults() CallAPIOptions {
	if o.Timeout <= 0 {
		o.Timeout = defaultCallTimeout
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = defaultMaxResponseBytes
	}
	return o
}

// ErrAddressBlocked is returned (wrapped) for a Call API request to an
// address that CallAPIOptions.BlockPrivateAddresses refuses.
var ErrAddressBlocked = errors.New("address is loopback, private or link-local, or another special-purpose address, which this host refuses")

// CallAPI calls an HTTP API: the flow's link to a website, a CRM or any
// third-party system.
//
// The request: URL may hold placeholders, URL-encoded (path escaping before
// the "?", query escaping after it); it must start with http:// or
// https://, or with a host setting that holds the base URL
// ("{{env.API_URL}}/points", see flow.Config.Ports.Settings), which is written as it
// is. A path segment never becomes "." or "..", which servers would
// resolve against the segments before it: a URL whose path holds one,
// percent-encoded or not, is refused at Publish, and a step whose
// placeholders make one fails (a placeholder's "/" is escaped as %2F).
// Method is GET (the default), POST, PUT, DELETE or PATCH.
// Headers hold placeholders as text; a value with a line break (CR or LF)
// is refused, at Publish for literal text and at run time for placeholder
// values. Body is a JSON value whose strings may hold placeholders: a
// string that is exactly one placeholder ("{{points}}") is written as the
// JSON of its value, any other as a JSON string. A body given as one JSON
// string is a text template, such as "{\"id\": \"{{person.externalId}}\"}",
// its placeholders JSON-encoded. With a Content-Type header of
// application/x-www-form-urlencoded, Body is an object of fields sent as a
// URL-encoded form. A body goes with JSON's Content-Type unless a header
// sets one; GET takes no body. Every request carries an Idempotency-Key
// header, stable across retries of the step (participant id and step
// sequence), unless Headers sets one.
//
// The response: unless Async, the step waits for the response and goes on
// by Branch2xx, Branch4xx, Branch5xx or BranchOther. When the flow
// connects BranchFailed ("failed", "in case of any error"), a non-2XX
// answer whose own exit is not connected goes on by it instead, so a flow
// may connect only "2xx" and "failed", or split off "4xx" and leave the
// rest to "failed"; flows that connect no "failed" branch route by status
// alone. On a 2XX response,
// ResponseHeaders copy response headers into variables (an absent header
// empties the variable) and ResponseBody reads values of a JSON body into
// variables by JSONPath (github.com/PaesslerAG/jsonpath, compiled at
// Publish), converted to the variables' types. A path must point to a
// single value: an array, an object, a missing key or a value that does not
// convert is an error, and the variable is set to null. Any error —
// timeouts, connection failures, a body larger than the limit, one that is
// not JSON when values are read from it, a path that reads no single value
// — fails the step, which takes the element's "error" branch when it has
// one, as any element's failure does, else "failed" when connected, and
// fails the participant otherwise, with the reason in its journal;
// variables read so far are kept, failed ones are null. A path that points
// to an array or an object is the error the reference names: it never
// fails the participant, but takes "error" when connected and "failed"
// otherwise (leaving the flow when that is not connected either). Reasons
// name the method, host and path but never header values or bodies.
//
// Async goes on at once by BranchSent, without waiting for the response:
// the step waits only until the request has been written to the server,
// which keeps the call at-least-once (a failure to connect or to write is
// an error as above, "failed" included, and a step retried after a crash
// sends again with the same Idempotency-Key). The response is then read and discarded in the
// background, within the per-request timeout, so the person's transaction
// is never held by a slow server. Async calls read no response values.
//
// Redirects: with RedirectsFollow ("follow", the default) the request
// follows up to 10 redirects, each hop checked by
// BlockPrivateAddresses. A hop to another origin (scheme, host or port
// differ from the URL's, as browsers compare them) goes without the
// element's Headers, which may carry credentials ({{env.API_KEY}}), except
// a Content-Type without placeholders; Authorization and cookies are not
// sent there either. The step's reason names each hop. With
// RedirectsRefuse ("refuse") no redirect is followed: the 3XX answer is
// the outcome, BranchOther ("failed" instead when the flow connects it and
// not "other"), its reason naming the redirect refused.
//
// Timeout bounds each request, body included (a Go duration such as "5s";
// defaults to CallAPIOptions.Timeout, 10s, at most 2 minutes).
// MaxResponseBytes lowers the response size limit of CallAPIOptions (1 MiB).
//
// Scheduling: with Window, participants who arrive outside the daily
// delivery window wait until it opens. With Speed, calls of all the
// element's participants are spaced out to at most Count per minute, hour
// or day (see NewPacer): a participant over the rate waits for its slot,
// which the engine's Pacer books on the engine's clock, so nobody is lost
// and nobody is early. A slot that would fall after the window closes is
// not booked: the participant waits for the next opening instead.
type CallAPI struct {
	URL              string              `json:"url"`
	Method           string              `json:"method,omitempty"`
	Headers          map[string]string   `json:"headers,omitempty"`
	Body             json.RawMessage     `json:"body,omitempty"`
	Async            bool                `json:"async,omitempty"`
	ResponseHeaders  []*HeaderVariable   `json:"responseHeaders,omitempty"`
	ResponseBody     []*JSONPathVariable `json:"responseBody,omitempty"`
	Window           *TimeWindow         `json:"window,omitempty"`
	Speed            *Speed              `json:"speed,omitempty"`
	Timeout          string              `json:"timeout,omitempty"`
	MaxResponseBytes int64               `json:"maxResponseBytes,omitempty"`
	Redirects        string              `json:"redirects,omitempty"`
	// Messaging marks a call that reaches the person (a message sent
	// through the API of another service): participants held out of an
	// experiment skip it, going on by "sent" (async) or "2xx".
	Messaging bool `json:"messaging,omitempty"`

	method   string
	url      *element.Template
	headers  []apiHeader
	form     bool
	body     *jsonTemplate
	bodyText *element.Template
	timeout  time.Duration
	refuse   bool     // Redirects is RedirectsRefuse
	drop     []string // the headers not sent to another origin
	vars     map[string]store.Type
	exits    map[string]bool // the branches the flow connects
	opts     CallAPIOptions  // the engine's, see Options.Bind
	pacer    Pacer           // the engine's, see Options.Bind
}

// HeaderVariable copies a response header into a flow variable.
type HeaderVariable struct {
	Header   string `json:"header"`
	Variable string `json:"variable"`
}

// JSONPathVariable reads a value of a JSON response body into a flow
// variable: Path is a JSONPath such as "$.loyalty_points".
type JSONPathVariable struct {
	Path     string `json:"path"`
	Variable string `json:"variable"`

	eval gval.Evaluable
}

type apiHeader struct {
	name string // canonical
	tmpl *element.Template
}

// Kind implements element.Element.
func (*CallAPI) Kind() string { return "callApi" }

// External implements element.External: it calls an HTTP API.
func (*CallAPI) External() bool { return true }

// HeldOutBranch implements element.ReachesPerson for calls marked as
// messaging.
func (c *CallAPI) HeldOutBranch() (string, bool) {
	if c.Async {
		return BranchSent, c.Messaging
	}
	return Branch2xx, c.Messaging
}

// bind implements binder.
func (c *CallAPI) bind(o *Options) { c.opts, c.pacer = o.CallAPI, o.Pacer }

// Branches implements element.Element.
func (c *CallAPI) Branches() []string {
	if c.Async {
		return []string{BranchSent, BranchFailed}
	}
	return []string{Branch2xx, Branch4xx, Branch5xx, BranchOther, BranchFailed}
}

var apiMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch}

// Validate implements element.Element.
func (c *CallAPI) Validate(comp *element.Compiler) error {
	if err := c.validateURL(comp); err != nil {
		return err
	}
	c.exits = make(map[string]bool, len(comp.Connected))
	for _, b := range comp.Connected {
		c.exits[b] = true
	}
	c.method = strings.ToUpper(strings.TrimSpace(c.Method))
	if c.method == "" {
		c.method = http.MethodGet
	}
	ok := false
	for _, m := range apiMethods {
		ok = ok || m == c.method
	}
	if !ok {
		return element.Errorf("method", "%q is not one of %s", c.Method, strings.Join(apiMethods, ", "))
	}
	if err := c.validateHeaders(comp); err != nil {
		return err
	}
	if err := c.validateBody(comp); err != nil {
		return err
	}
	if c.Timeout != "" {
		d, err := time.ParseDuration(c.Timeout)
		if err != nil || d <= 0 {
			return element.Errorf("timeout", "%q is not a positive duration such as \"5s\"", c.Timeout)
		}
		if d > maxCallTimeout {
			return element.Errorf("timeout", "%s is longer than the most allowed, %s", d, maxCallTimeout)
		}
		c.timeout = d
	}
	switch c.Redirects {
	case "", RedirectsFollow:
		c.refuse = false
	case RedirectsRefuse:
		c.refuse = true
	default:
		return element.Errorf("redirects", "%q is not %q or %q", c.Redirects, RedirectsFollow, RedirectsRefuse)
	}
	if c.MaxResponseBytes < 0 {
		return element.Errorf("maxResponseBytes", "must not be negative, got %d", c.MaxResponseBytes)
	}
	if c.Async && (len(c.ResponseHeaders) > 0 || len(c.ResponseBody) > 0) {
		return element.Errorf("async", "an async call does not wait for the response, so it cannot read response values")
	}
	c.vars = map[string]store.Type{}
	for i, h := range c.ResponseHeaders {
		field := fmt.Sprintf("responseHeaders[%d]", i)
		if h == nil || !validHeaderName(h.Header) {
			return element.Errorf(field+".header", "header name is missing or not a valid HTTP header name")
		}
		t, err := c.captureVar(comp, field, h.Variable)
		if err != nil {
			return err
		}
		if t != store.Text && t != store.Date && t != store.DateTime {
			return element.Errorf(field+".variable", "variable %q is %s, but a header is text", h.Variable, t)
		}
	}
	for i, p := range c.ResponseBody {
		field := fmt.Sprintf("responseBody[%d]", i)
		if p == nil || !strings.HasPrefix(strings.TrimSpace(p.Path), "$") {
			return element.Errorf(field+".path", "JSONPath must start with \"$\", such as \"$.loyalty_points\"")
		}
		ev, err := compileJSONPath(p.Path)
		if err != nil {
			return element.Errorf(field+".path", "JSONPath %q: %v", p.Path, err)
		}
		p.eval = ev
		if _, err := c.captureVar(comp, field, p.Variable); err != nil {
			return err
		}
	}
	if c.Window != nil {
		if err := c.Window.validate("window"); err != nil {
			return err
		}
	}
	if c.Speed != nil {
		if err := c.Speed.validate("speed"); err != nil {
			return err
		}
	}
	return nil
}

func compileJSONPath(path string) (ev gval.Evaluable, err error) {
	defer func() {
		if v := recover(); v != nil {
			ev, err = nil, fmt.Errorf("cannot be compiled")
		}
	}()
	return jsonpath.New(strings.TrimSpace(path))
}

func (c *CallAPI) captureVar(comp *element.Compiler, field, name string) (store.Type, error) {
	if name == "" {
		return "", element.Errorf(field+".variable", "variable name is missing")
	}
	t, err := declaredVar(comp, field+".variable", name)
	if err != nil {
		return "", err
	}
	c.vars[name] = t
	return t, nil
}

func (c *CallAPI) validateURL(comp *element.Compiler) error {
	if strings.TrimSpace(c.URL) == "" {
		return element.Errorf("url", "URL is missing")
	}
	if strings.ContainsAny(c.URL, " \r\n\t") {
		return element.Errorf("url", "URL must not hold spaces or line breaks")
	}
	t, err := comp.WithSettings().Template("url", c.URL)
	if err != nil {
		return err
	}
	// A URL may start with a host setting holding the base URL, checked
	// when the step runs: its shape then starts with http://x.
	// Placeholders stand for a plain word here; the shape must hold.
	shape := t.Shape(element.URL)
	lower := strings.ToLower(shape)
	if !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") {
		return element.Errorf("url", "URL must start with http:// or https://, or with a setting holding the base URL ({{env.API_URL}})")
	}
	u, err := url.Parse(shape)
	if err != nil || u.Host == "" {
		return element.Errorf("url", "%q is not a URL with a host", c.URL)
	}
	if hasDotSegment(u.Path) {
		return element.Errorf("url", "the path must not hold a \".\" or \"..\" segment")
	}
	c.url = t
	return nil
}

// unsafeHeaders are set by the HTTP client from the request itself.
var unsafeHeaders = map[string]bool{"Host": true, "Content-Length": true, "Transfer-Encoding": true, "Connection": true}

func (c *CallAPI) validateHeaders(comp *element.Compiler) error {
	c.headers, c.drop = nil, nil
	for name, value := range c.Headers {
		field := "headers." + name
		if !validHeaderName(name) {
			return element.Errorf(field, "%q is not a valid HTTP header name", name)
		}
		canon := http.CanonicalHeaderKey(name)
		if unsafeHeaders[canon] {
			return element.Errorf(field, "header %s is set by the HTTP client", canon)
		}
		if strings.ContainsAny(value, "\r\n\x00") {
			return element.Errorf(field, "header value holds a line break")
		}
		t, err := comp.WithSettings().Template(field, value)
		if err != nil {
			return err
		}
		c.headers = append(c.headers, apiHeader{name: canon, tmpl: t})
		if canon != "Content-Type" || !t.Constant() {
			c.drop = append(c.drop, canon)
		}
		if canon == "Content-Type" {
			if !t.Constant() {
				continue
			}
			mt, _, err := mime.ParseMediaType(value)
			if err != nil {
				return element.Errorf(field, "%q is not a media type", value)
			}
			c.form = mt == "application/x-www-form-urlencoded"
		}
	}
	// Map order is random; requests should not be.
	for i := 1; i < len(c.headers); i++ {
		for j := i; j > 0 && c.headers[j].name < c.headers[j-1].name; j-- {
			c.headers[j], c.headers[j-1] = c.headers[j-1], c.headers[j]
		}
	}
	return nil
}

func (c *CallAPI) validateBody(comp *element.Compiler) error {
	c.body, c.bodyText = nil, nil
	raw := bytes.TrimSpace(c.Body)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if c.method == http.MethodGet {
		return element.Errorf("body", "a GET request takes no body")
	}
	if raw[0] == '"' {
		if c.form {
			return element.Errorf("body", "a form body is an object of fields, not text")
		}
		var text string
		if err := json.Unmarshal(raw, &text); err != nil {
			return element.Errorf("body", "is not a JSON string: %v", err)
		}
		t, err := comp.WithSettings().Template("body", text)
		if err != nil {
			return err
		}
		// With placeholders standing for values, the text must be JSON.
		if !json.Valid([]byte(t.Shape(element.JSON))) {
			return element.Errorf("body", "body text is not JSON (placeholders outside quotes stand for values)")
		}
		c.bodyText = t
		return nil
	}
	t, err := compileJSONTemplate(comp.WithSettings(), "body", raw)
	if err != nil {
		return err
	}
	if c.form {
		if t.kind != 'o' {
			return element.Errorf("body", "a form body is an object of fields")
		}
		for i, f := range t.fields {
			if f.kind == 'o' || f.kind == 'a' {
				return element.Errorf("body."+t.keys[i], "a form field is text, not an object or a list")
			}
		}
	}
	c.body = t
	return nil
}

// validHeaderName reports whether s is an HTTP token (RFC 9110).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", ch) >= 0:
		default:
			return false
		}
	}
	return true
}

// Run implements element.Element.
func (c *CallAPI) Run(ctx context.Context, r *element.Run) (element.Outcome, error) {
	return c.settle(c.attempt(ctx, r, time.Time{}))
}

// settle routes a failed step: to "error" when the flow connects it (the
// engine takes it), else to "failed" when connected.
func (c *CallAPI) settle(out element.Outcome, err error) (element.Outcome, error) {
	if err != nil && !c.exits[element.BranchError] && c.exits[BranchFailed] {
		return element.Next(BranchFailed, "in case of any error: "+err.Error()), nil
	}
	return out, err
}

// Resume implements element.Resumer: the window opened or the participant's slot
// came.
func (c *CallAPI) Resume(ctx context.Context, r *element.Run, w element.Wake) (element.Outcome, error) {
	if !w.Timer {
		return element.Hold(*r.Wait, ""), nil
	}
	return c.settle(c.attempt(ctx, r, slotOf(r.Wait)))
}

// attempt calls the API when the window is open and the participant has a
// slot, and waits for them otherwise.
func (c *CallAPI) attempt(ctx context.Context, r *element.Run, slot time.Time) (element.Outcome, error) {
	var closes time.Time
	if c.Window != nil {
		loc := c.Window.location(r.Location)
		open, next := c.Window.at(r.Now, loc)
		if !open {
			return element.Hold(element.Wait{Until: next}, fmt.Sprintf("outside the delivery window %s: waits until %s", c.Window, next.In(loc).Format("Mon 2006-01-02 15:04 MST"))), nil
		}
		closes = next
	}
	hold, err := paceStep(ctx, r, c.pacer, c.Speed, c.Window, closes, slot, "call")
	if err != nil || hold != nil {
		return deref(hold), err
	}
	return c.call(ctx, r)
}

// call makes the request.
func (c *CallAPI) call(ctx context.Context, r *element.Run) (element.Outcome, error) {
	opts, doer := c.opts.withDefaults(), r.Ports.HTTP
	if doer == nil {
		return element.Outcome{}, errors.New("the engine lends no HTTP client")
	}
	timeout := opts.Timeout
	if c.timeout > 0 {
		timeout = c.timeout
	}
	limit := opts.MaxResponseBytes
	if c.MaxResponseBytes > 0 && c.MaxResponseBytes < limit {
		limit = c.MaxResponseBytes
	}
	req, target, err := c.request(r, opts)
	if err != nil {
		return element.Outcome{}, err
	}
	// The policy travels in the request's context, where CheckRedirect
	// finds it in the engine's client or in one a host's doer wraps.
	policy := &redirectPolicy{refuse: c.refuse, block: opts.BlockPrivateAddresses, drop: c.drop,
		bare: !strings.HasPrefix(strings.ToLower(c.URL), "http")}
	doer = withRedirectPolicy(doer)
	r.Calling()
	if c.Async {
		return c.send(context.WithValue(ctx, redirectKey{}, policy), doer, req, target, timeout, limit)
	}
	rctx, cancel := context.WithTimeout(context.WithValue(ctx, redirectKey{}, policy), timeout)
	defer cancel()
	resp, err := doer.Do(req.WithContext(rctx))
	if err != nil {
		return element.Outcome{}, fmt.Errorf("%s: %w", redirected(target, policy, nil), transportError(err, timeout))
	}
	defer resp.Body.Close()
	branch := statusBranch(resp.StatusCode)
	reason := fmt.Sprintf("%s: %d", redirected(target, policy, resp.Request), resp.StatusCode)
	if policy.refused != "" {
		reason += ", redirect to " + policy.refused + " refused"
	}
	if branch != Branch2xx && !c.exits[branch] && c.exits[BranchFailed] {
		branch, reason = BranchFailed, reason+", in case of any error"
	}
	if branch != Branch2xx || (len(c.ResponseHeaders) == 0 && len(c.ResponseBody) == 0) {
		// Read what is left, within the limit, so that the connection
		// can be reused; what it holds does not matter.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, limit))
		return element.Next(branch, reason), nil
	}
	if shapes, err := c.capture(r, resp, limit, timeout); err != nil {
		err = fmt.Errorf("%s: %w", redirected(target, policy, resp.Request), err)
		if shapes && !c.exits[element.BranchError] {
			return element.Next(BranchFailed, "in case of any error: "+err.Error()), nil
		}
		return element.Outcome{}, err
	}
	return element.Next(branch, reason), nil
}

// redirected returns the target of a request with the redirects it
// followed, as its reason shows them: the hops CheckRedirect noted, else,
// for a doer that follows redirects by itself, the final request's URL
// when it differs.
func redirected(target string, p *redirectPolicy, final *http.Request) string {
	if d := p.describe(); d != "" {
		return target + ": " + d
	}
	if final != nil && final.URL != nil && final.Response != nil {
		return target + ": redirected to " + p.show(final.URL)
	}
	return target
}

// send makes an Async request: it returns once the request is written,
// and leaves reading the response to a goroutine bounded by the timeout.
func (c *CallAPI) send(ctx context.Context, doer element.HTTPDoer, req *http.Request, target string, timeout time.Duration, limit int64) (element.Outcome, error) {
	wrote := make(chan struct{})
	var once sync.Once
	trace := &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) {
		if i.Err == nil {
			once.Do(func() { close(wrote) })
		}
	}}
	// The request outlives the step: detach it from the step's context,
	// but not from its timeout.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	req = req.WithContext(httptrace.WithClientTrace(rctx, trace))
	done := make(chan error, 1)
	go func() {
		defer cancel()
		resp, err := doer.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, limit))
			resp.Body.Close()
		}
		done <- err
	}()
	select {
	case <-wrote:
		return element.Next(BranchSent, target+": request sent, not waiting for the response"), nil
	case err := <-done:
		if err != nil {
			return element.Outcome{}, fmt.Errorf("%s: %w", target, transportError(err, timeout))
		}
		return element.Next(BranchSent, target+": request sent, not waiting for the response"), nil
	case <-ctx.Done():
		return element.Outcome{}, fmt.Errorf("%s: %w", target, ctx.Err())
	}
}

// request builds the request and a description of its target for reasons
// and errors: method, scheme, host and path, no query.
func (c *CallAPI) request(r *element.Run, opts CallAPIOptions) (*http.Request, string, error) {
	raw, err := c.url.Render(r, element.URL)
	if err != nil {
		return nil, "", fmt.Errorf("url: %w", err)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, "", fmt.Errorf("url: the URL with its placeholders filled in is not an http(s) URL with a host")
	}
	target := c.method + " " + showURL(u)
	if hasDotSegment(u.Path) {
		return nil, "", errors.New("url: the path with its placeholders filled in holds a \".\" or \"..\" segment, which is refused")
	}
	if opts.BlockPrivateAddresses {
		if err := checkHost(u.Hostname()); err != nil {
			return nil, "", fmt.Errorf("%s: %w", target, err)
		}
	}
	var body io.Reader
	contentType := ""
	switch {
	case c.bodyText != nil:
		b, err := c.bodyText.Render(r, element.JSON)
		if err != nil {
			return nil, "", fmt.Errorf("body: %w", err)
		}
		if !json.Valid([]byte(b)) {
			return nil, "", errors.New("body: the body with its placeholders filled in is not JSON")
		}
		body, contentType = strings.NewReader(b), "application/json"
	case c.body != nil && c.form:
		form := url.Values{}
		for i, k := range c.body.keys {
			v, err := c.body.fields[i].text(r)
			if err != nil {
				return nil, "", fmt.Errorf("body.%s: %w", k, err)
			}
			form.Set(k, v)
		}
		body = strings.NewReader(form.Encode())
	case c.body != nil:
		b, err := c.body.renderJSON(r)
		if err != nil {
			return nil, "", fmt.Errorf("body: %w", err)
		}
		body, contentType = bytes.NewReader(b), "application/json"
	}
	req, err := http.NewRequest(c.method, u.String(), body)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", target, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Idempotency-Key", r.IdempotencyKey())
	for _, h := range c.headers {
		v, err := h.tmpl.Render(r, element.Plain)
		if err != nil {
			return nil, "", fmt.Errorf("headers.%s: %w", h.name, err)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return nil, "", fmt.Errorf("headers.%s: the value with its placeholders filled in holds a line break", h.name)
		}
		req.Header.Set(h.name, v)
	}
	return req, target, nil
}

func statusBranch(code int) string {
	switch code / 100 {
	case 2:
		return Branch2xx
	case 4:
		return Branch4xx
	case 5:
		return Branch5xx
	}
	return BranchOther
}

// capture reads response values into variables. Every variable it names is
// set: to its value, or to null when reading it failed. shapes reports
// that every failure was a path pointing to an array or an object.
func (c *CallAPI) capture(r *element.Run, resp *http.Response, limit int64, timeout time.Duration) (shapes bool, err error) {
	for _, h := range c.ResponseHeaders {
		var v any
		if s := resp.Header.Get(h.Header); s != "" {
			v = s
		}
		cv, err := values.Convert(c.vars[h.Variable], v)
		if err != nil {
			r.Vars[h.Variable] = nil
			return false, fmt.Errorf("response header %s does not convert to %s", h.Header, c.vars[h.Variable])
		}
		r.Vars[h.Variable] = cv
	}
	if len(c.ResponseBody) == 0 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, limit))
		return false, nil
	}
	fail := func(err error) error {
		for _, p := range c.ResponseBody {
			r.Vars[p.Variable] = nil
		}
		return err
	}
	data, err := readJSONBody(resp.Body, limit)
	if err != nil {
		return false, fail(transportError(err, timeout))
	}
	var errs []error
	shapes = true
	for _, p := range c.ResponseBody {
		v, err := readJSONPath(p.eval, data)
		if err == nil {
			v, err = values.Convert(c.vars[p.Variable], v)
			if err != nil {
				err = fmt.Errorf("the value does not convert to %s", c.vars[p.Variable])
			}
		}
		shapes = shapes && (err == nil || errors.Is(err, errNotSingle))
		if err != nil {
			r.Vars[p.Variable] = nil
			errs = append(errs, fmt.Errorf("response %s into %s: %w", strings.TrimSpace(p.Path), p.Variable, err))
			continue
		}
		r.Vars[p.Variable] = v
	}
	return shapes, errors.Join(errs...)
}

// errNotSingle is wrapped by readJSONPath's errors for a path that points
// to an array or an object.
var errNotSingle = errors.New("not a single value")

// errBodyTooLarge is returned for a response body over the size limit.
type errBodyTooLarge int64

func (e errBodyTooLarge) Error() string {
	return "response body is larger than the limit of " + strconv.FormatInt(int64(e), 10) + " bytes"
}

// readJSONBody reads at most limit bytes of a JSON body and decodes it.
// Errors say what is wrong without quoting the body.
func readJSONBody(body io.Reader, limit int64) (any, error) {
	b, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("response body cannot be read: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, errBodyTooLarge(limit)
	}
	return parseJSONBody(b)
}

func parseJSONBody(b []byte) (any, error) {
	var data any
	if err := json.Unmarshal(b, &data); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("response body is not JSON (at byte %d)", se.Offset)
		}
		return nil, errors.New("response body is not JSON")
	}
	return data, nil
}

// readJSONPath evaluates a compiled JSONPath on a decoded body: it returns
// a single value (text, number, true/false or null), or an error for a path
// that reads nothing, an array or an object.
func readJSONPath(ev gval.Evaluable, data any) (v any, err error) {
	defer func() {
		if p := recover(); p != nil {
			v, err = nil, errors.New("the path cannot be evaluated on this body")
		}
	}()
	v, err = ev(context.Background(), data)
	if err != nil {
		// The evaluator's messages name keys of the path, not values, but
		// say no more than needed.
		return nil, errors.New("no value at this path")
	}
	switch v.(type) {
	case map[string]any:
		return nil, fmt.Errorf("the path points to an object, %w", errNotSingle)
	case []any:
		return nil, fmt.Errorf("the path points to an array, %w", errNotSingle)
	case nil, string, float64, bool:
		return v, nil
	}
	if f, err := values.Convert(store.Number, v); err == nil {
		return f, nil
	}
	return nil, fmt.Errorf("the path gives a %T, not a single JSON value", v)
}

// transportError says what went wrong with a request in words that leak
// neither headers nor bodies; a timeout says so.
func transportError(err error, timeout time.Duration) error {
	var tl errBodyTooLarge
	if errors.As(err, &tl) {
		return tl
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("timed out after %s", timeout)
	}
	if errors.Is(err, ErrAddressBlocked) {
		return ErrAddressBlocked
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

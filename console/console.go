package console

import (
	"context"
	"embed"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"

	"github.com/flowkit/flowkit/flow"
)

// Action is what a request asks to do, as Options.Authorize sees it.
type Action string

// The actions. Read covers the page and every GET of the JSON API; the
// others are the flow lifecycle POSTs, named as the Engine methods they call.
const (
	Read     Action = "read"
	Activate Action = "activate"
	Pause    Action = "pause"
	Resume   Action = "resume"
	Finish   Action = "finish"
	Cancel   Action = "cancel"
)

// Access describes one request for Options.Authorize.
type Access struct {
	Action Action
	// FlowID is the flow the request reads or acts on; "" when it is not
	// about one flow (the page, the flow list, a person or a participant).
	FlowID string
}

// Options configures a console Handler. Its zero value refuses every
// request: set Authorize, or AllowUnauthenticated for a read-only console.
type Options struct {
	// Authorize decides whether a request may do what it asks; it sees the
	// request (its cookies, headers, client certificate) and the Access.
	// A refused request gets 403 Forbidden. It is called on every request,
	// concurrently. Defaults to none, which refuses everything unless
	// AllowUnauthenticated is set.
	Authorize func(r *http.Request, a Access) bool
	// AllowUnauthenticated, with no Authorize, lets anyone who reaches the
	// handler read: the page and the GETs of the JSON API. Lifecycle
	// actions still need Authorize's consent. Defaults to false.
	AllowUnauthenticated bool
	// Logger receives the errors behind 500 responses, which the response
	// itself does not reveal. Defaults to discarding them.
	Logger *slog.Logger
}

//go:embed web
var webFiles embed.FS

// Handler returns the console for eng: a web page at "/" with its assets
// under "/assets/", and the JSON API under "/api/" (see the package
// documentation). Mount it under a prefix with http.StripPrefix, with a
// trailing slash so the page's relative links resolve:
//
//	mux.Handle("/console/", http.StripPrefix("/console", console.Handler(eng, opts)))
//
// State-changing requests from other origins are refused by
// http.CrossOriginProtection. The handler is safe for concurrent use.
func Handler(eng *flow.Engine, opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	a := &api{eng: eng, opts: opts}
	web, _ := fs.Sub(webFiles, "web") // a constant, embedded path
	assets := http.FileServerFS(web)

	mux := http.NewServeMux()
	page := func(w http.ResponseWriter, r *http.Request) {
		if !a.allow(w, r, Access{Action: Read}) {
			return
		}
		setPageHeaders(w)
		http.ServeFileFS(w, r, web, "index.html")
	}
	mux.HandleFunc("GET /{$}", page)
	mux.HandleFunc("GET /assets/", func(w http.ResponseWriter, r *http.Request) {
		if !a.allow(w, r, Access{Action: Read}) {
			return
		}
		setPageHeaders(w)
		assets.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /api/flows", a.serve(Read, a.flows))
	mux.HandleFunc("GET /api/flows/{flow}", a.serve(Read, a.flow))
	mux.HandleFunc("GET /api/flows/{flow}/versions/{version}", a.serve(Read, a.document))
	mux.HandleFunc("GET /api/flows/{flow}/versions/{version}/stats", a.serve(Read, a.stats))
	mux.HandleFunc("GET /api/flows/{flow}/participants", a.serve(Read, a.participants, "status", "element", "after", "limit"))
	mux.HandleFunc("GET /api/participants/{id}", a.serve(Read, a.participant))
	mux.HandleFunc("GET /api/person", a.serve(Read, a.person, personKeys...))
	mux.HandleFunc("GET /api/person/events", a.serve(Read, a.events, append([]string{"before", "limit"}, personKeys...)...))
	for _, act := range []struct {
		action Action
		do     func(*flow.Engine, context.Context, string) error
	}{
		{Activate, (*flow.Engine).Activate}, {Pause, (*flow.Engine).Pause}, {Resume, (*flow.Engine).Resume},
		{Finish, (*flow.Engine).Finish}, {Cancel, (*flow.Engine).Cancel},
	} {
		mux.HandleFunc("POST /api/flows/{flow}/"+string(act.action), a.serve(act.action, a.lifecycle(act.do)))
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})

	root := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" { // mounted with StripPrefix("/console/", ...)
			r.URL.Path = "/"
		}
		mux.ServeHTTP(w, r)
	})
	return http.NewCrossOriginProtection().Handler(root)
}

// setPageHeaders keeps the page to its own files: nothing is loaded from
// elsewhere, and no inline script runs.
func setPageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'self'; base-uri 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
}

// errNoAuthorize is the reason given when no Authorize is set.
var errNoAuthorize = errors.New("the console has no Options.Authorize: set it, or set AllowUnauthenticated to let anyone read")

// allow applies the authorization rules, answering 403 when they refuse.
func (a *api) allow(w http.ResponseWriter, r *http.Request, acc Access) bool {
	switch {
	case a.opts.Authorize != nil:
		if a.opts.Authorize(r, acc) {
			return true
		}
		writeError(w, http.StatusForbidden, "forbidden: not authorized to "+string(acc.Action))
	case acc.Action != Read:
		writeError(w, http.StatusForbidden, "forbidden: "+string(acc.Action)+" needs the consent of Options.Authorize, which is not set")
	case a.opts.AllowUnauthenticated:
		return true
	default:
		writeError(w, http.StatusForbidden, "forbidden: "+errNoAuthorize.Error())
	}
	return false
}

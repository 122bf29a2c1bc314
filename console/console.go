package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"

	"github.com/flowkit/flowkit/flow"
)

// Action is what a request asks to do, as Options.Authorize sees it.
type Action string

// The actions. Read covers the page, the flow list, every GET of a
// flow's data and a migration's dry run; ReadPeople covers looking a
// person up, their event history and who each listed participant is;
// Activate to Cancel are the flow lifecycle POSTs, named as the Engine
// methods they call; Operate covers canceling and retrying participants,
// one or in bulk; Migrate covers moving participants between versions.
const (
	Read       Action = "read"
	ReadPeople Action = "readPeople"
	Activate   Action = "activate"
	Pause      Action = "pause"
	Resume     Action = "resume"
	Finish     Action = "finish"
	Cancel     Action = "cancel"
	Operate    Action = "operate"
	Migrate    Action = "migrate"
)

// flowActions are the actions a flow's "can" lists: the lifecycle
// actions in button order, then the others.
var flowActions = []Action{Activate, Pause, Resume, Finish, Cancel, Operate, Migrate}

// Access describes one request for Options.Authorize.
type Access struct {
	Action Action
	// FlowID is the flow the request reads or acts on; "" when it is
	// about the console as a whole: the page and its assets, the flow
	// list, and (with ReadPeople) a person.
	FlowID string
}

// Options configures a console Handler. Its zero value refuses every
// request: set Authorize, or AllowUnauthenticated for a read-only console.
type Options struct {
	// Authorize decides whether a request may do what it asks; it sees the
	// request (its cookies, headers, client certificate) and the Access.
	// It is asked once for the console as a whole (FlowID "") and then
	// for every flow whose data the answer carries: lists leave out what
	// it refuses, a participant of a refused flow is not found, and a
	// refused request gets 403 Forbidden. A flow's record also asks it
	// for each lifecycle action, so the page shows only the buttons the
	// user may use. It is called several times per request, concurrently.
	// Defaults to none, which refuses everything unless
	// AllowUnauthenticated is set.
	Authorize func(r *http.Request, a Access) bool
	// AllowUnauthenticated, with no Authorize, lets anyone who reaches the
	// handler read: the page and the GETs of the JSON API. Lifecycle
	// actions still need Authorize's consent. Defaults to false.
	AllowUnauthenticated bool
	// SignedIn tells whether the request comes from a signed-in user.
	// When it answers false, Authorize is not asked: the JSON API answers
	// 401 Unauthorized with LoginURL, on which the page shows a sign-in
	// link, and the page itself redirects to LoginURL. Defaults to none:
	// Authorize alone decides, and refusals are 403.
	SignedIn func(r *http.Request) bool
	// LoginURL is where the host's users sign in, as the page links to
	// it: absolute, or relative to the console's page. Defaults to "",
	// which leaves the 401 without a link.
	LoginURL string
	// AllowedHosts are the Host headers the console answers, so that a
	// page of another site cannot reach it by DNS rebinding (pointing its
	// own name at the console's address). An entry is a host name or IP
	// address, which matches it with any port ("console.example.com",
	// "10.0.0.7", "[::1]"), a host with a port, which matches only that
	// port ("console.example.com:8443"), a name with a leading dot, which
	// matches it and its subdomains (".example.com"), or "*", which
	// matches any Host. Other Hosts get 403 Forbidden. Behind a reverse
	// proxy list the names the proxy passes on. Handler panics on a
	// malformed entry, as ServeMux does on a bad pattern. Defaults to the
	// loopback names: localhost, 127.0.0.1 and [::1], with any port.
	AllowedHosts []string
	// Logger receives the errors behind 500 responses, which the response
	// itself does not reveal. Defaults to discarding them.
	Logger *slog.Logger
	// User names the signed-in user of a request for the audit trail.
	// Defaults to none: entries name the user "anonymous".
	User func(r *http.Request) string
	// Audit keeps the audit trail: every action taken through the
	// console (lifecycle, participant and bulk operations, migrations),
	// who took it, on what, and what came of it. Defaults to an AuditLog
	// in memory holding the latest 10,000 entries (NewMemoryAudit).
	Audit AuditLog
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
// Requests whose Host is not in Options.AllowedHosts are refused, and so
// are state-changing requests from other origins
// (http.CrossOriginProtection). Handler panics on a malformed
// Options.AllowedHosts entry. The handler is safe for concurrent use.
func Handler(eng *flow.Engine, opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	hosts, err := hostRules(opts.AllowedHosts)
	if err != nil {
		panic(err)
	}
	if opts.Audit == nil {
		opts.Audit = NewMemoryAudit(10_000)
	}
	a := &api{eng: eng, opts: opts}
	web, _ := fs.Sub(webFiles, "web") // a constant, embedded path
	assets := http.FileServerFS(web)

	mux := http.NewServeMux()
	page := func(w http.ResponseWriter, r *http.Request) {
		if !a.signedIn(r) && a.opts.LoginURL != "" {
			// A browser that comes to the page signed out goes to sign
			// in; the Location stays as given, so that a relative one
			// resolves against the page's own address.
			w.Header().Set("Location", a.opts.LoginURL)
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusSeeOther)
			return
		}
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
	mux.HandleFunc("GET /api/flows/{flow}/stats", a.serve(Read, a.allStats))
	mux.HandleFunc("GET /api/flows/{flow}/participants", a.serve(Read, a.participants, participantsParams...))
	mux.HandleFunc("GET /api/flows/{flow}/operations", a.serve(Read, a.operations))
	mux.HandleFunc("POST /api/flows/{flow}/operations", a.serve(Operate, a.operate))
	mux.HandleFunc("POST /api/flows/{flow}/migrations/preview", a.serve(Read, a.migrate(true)))
	mux.HandleFunc("POST /api/flows/{flow}/migrations", a.serve(Migrate, a.migrate(false)))
	mux.HandleFunc("GET /api/flows/{flow}/audit", a.serve(Read, a.audit, "limit"))
	mux.HandleFunc("POST /api/participants/{id}/cancel", a.participantAction(flow.Cancel))
	mux.HandleFunc("POST /api/participants/{id}/retry", a.participantAction(flow.Retry))
	mux.HandleFunc("GET /api/participants/{id}", a.serve(Read, a.participant))
	mux.HandleFunc("GET /api/person", a.serve(ReadPeople, a.person, personKeys...))
	mux.HandleFunc("GET /api/person/events", a.serve(ReadPeople, a.events, append([]string{"before", "limit"}, personKeys...)...))
	for _, act := range []struct {
		action Action
		do     func(*flow.Engine, context.Context, string) error
	}{
		{Activate, (*flow.Engine).Activate}, {Pause, (*flow.Engine).Pause}, {Resume, (*flow.Engine).Resume},
		{Finish, (*flow.Engine).Finish}, {Cancel, (*flow.Engine).Cancel},
	} {
		mux.HandleFunc("POST /api/flows/{flow}/"+string(act.action), a.serve(act.action, a.lifecycle(act.action, act.do)))
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
	return checkHost(hosts, http.NewCrossOriginProtection().Handler(root))
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

// signedIn reports whether Options.SignedIn counts the request as coming
// from a signed-in user.
func (a *api) signedIn(r *http.Request) bool {
	return a.opts.SignedIn == nil || a.opts.SignedIn(r)
}

// may reports whether the authorization rules let the request do acc,
// for a request already known to be signed in.
func (a *api) may(r *http.Request, acc Access) bool {
	if a.opts.Authorize != nil {
		return a.opts.Authorize(r, acc)
	}
	return a.opts.AllowUnauthenticated && (acc.Action == Read || acc.Action == ReadPeople)
}

// allow applies the authorization rules, answering 401 to a request that
// is not signed in and 403 to one they refuse.
func (a *api) allow(w http.ResponseWriter, r *http.Request, acc Access) bool {
	switch {
	case !a.signedIn(r):
		writeJSONStatus(w, http.StatusUnauthorized, errorJSON{Error: "sign in first", LoginURL: a.opts.LoginURL})
	case a.may(r, acc):
		return true
	case a.opts.Authorize != nil:
		msg := "forbidden: not authorized to " + string(acc.Action)
		if acc.FlowID != "" {
			msg += fmt.Sprintf(" flow %q", acc.FlowID)
		}
		writeError(w, http.StatusForbidden, msg)
	case acc.Action != Read && acc.Action != ReadPeople:
		writeError(w, http.StatusForbidden, "forbidden: "+string(acc.Action)+" needs the consent of Options.Authorize, which is not set")
	default:
		writeError(w, http.StatusForbidden, "forbidden: "+errNoAuthorize.Error())
	}
	return false
}

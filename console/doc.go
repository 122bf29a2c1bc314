// Package console is a ready web console for a flowkit Engine: an
// http.Handler that a host mounts in its own server to show its flows as
// graphs with live counts and to answer "why did this person not get the
// message?" from each participant's journal.
//
//	h := console.Handler(eng, console.Options{
//		SignedIn: func(r *http.Request) bool { return currentUser(r) != nil },
//		LoginURL: "/login?next=/console/",
//		Authorize: func(r *http.Request, a console.Access) bool {
//			u := currentUser(r) // the host's own sign-in; SignedIn came first
//			if a.FlowID != "" && !u.MaySee(a.FlowID) {
//				return false
//			}
//			return a.Action == console.Read || u.IsAdmin // people and actions for admins
//		},
//	})
//	mux.Handle("/console/", http.StripPrefix("/console", h))
//
// # Authorization
//
// Every request goes through Options.Authorize, which sees the request and
// what it asks (an Access): an Action and the flow it is about. A request
// is first asked about the console as a whole (FlowID ""): refusing that
// keeps the user out of the console. Then every flow whose data the
// answer carries is asked about on its own: the flow list holds only the
// flows the user may Read; a participant of another flow is not found
// (404, as if it did not exist); a person's page holds only their
// participations in flows the user may Read, and their event history
// leaves out events about other flows (those whose "flowId" property
// names one, as the engine's own entered, exited and message events do).
// Looking a person up and reading their event history is an action of its
// own, ReadPeople, as a person's profile and history belong to no one flow.
//
// Without Authorize the handler refuses everything with 403 Forbidden,
// unless Options.AllowUnauthenticated opens reading (Read and ReadPeople)
// to anyone who can reach it; the lifecycle actions always need
// Authorize's consent.
//
// When Options.SignedIn says a request comes from no signed-in user, the
// API answers 401 Unauthorized with the host's Options.LoginURL, on which
// the page shows a sign-in link, and the page itself redirects there.
//
// The handler answers only the Host names in Options.AllowedHosts, by
// default the loopback names (localhost, 127.0.0.1 and [::1], with any
// port), so that a page of another site cannot reach a console on the
// user's machine or network by pointing its own name at the console's
// address (DNS rebinding); other Hosts get 403. POSTs from other origins
// are refused too (http.CrossOriginProtection, which reads Sec-Fetch-Site
// and Origin).
//
// # The page
//
// GET / serves one page (HTML, CSS and JavaScript embedded in the binary,
// no build step, nothing loaded from elsewhere): the flow drawn as a graph
// with each element's entered, waiting and error counts and the number
// that left by each branch, refreshed every two seconds; a version picker;
// the lifecycle buttons the user may use; a participant list by status
// and element; a search for a person by external id, phone or email (for
// users who may read people); and a participant's journey as a timeline
// of its steps with their reasons.
//
// # The JSON API
//
// All answers are JSON in lowerCamel case; errors are {"error": "..."}
// with 400 for a bad parameter (named in the message, unknown parameters
// included), 401 for a request from no signed-in user (with "loginUrl",
// the host's Options.LoginURL, when it is set), 403 when refused, 404 for
// an unknown flow, version, participant or person, and 409 for a
// lifecycle action the flow's status does not allow.
//
//	GET  /api/flows                                   the flows the user may read; "can" holds readPeople if allowed
//	GET  /api/flows/{flow}                            one flow with status, versions and "can"
//	GET  /api/flows/{flow}/versions/{v}               that version's document
//	GET  /api/flows/{flow}/versions/{v}/stats         per-element counts, a row for every element
//	GET  /api/flows/{flow}/participants               ?status=waiting,active&element=&after=&limit=
//	GET  /api/participants/{id}                       one participant with its journal
//	GET  /api/person?externalId=|phone=|email=|id=    a person and their participations (readPeople)
//	GET  /api/person/events?<person>&before=&limit=   their event history, newest first (readPeople)
//	POST /api/flows/{flow}/{action}                   activate, pause, resume, finish, cancel
//
// A flow's "can" lists the lifecycle actions Authorize lets the user take
// on it, whether or not the flow's status allows them now; the page shows
// a button for each and no others, and the POST asks Authorize again.
//
// Lists are paged: limit is 1 to 500 (50 by default) and each page's
// "next" is the after (participants) or before (events) of the page that
// follows; the last page has none. An event page may hold fewer than
// limit events, or none, when events about flows the user may not read
// are left out; paging goes on by its "next" all the same. Counts come from the store's counters,
// aggregated on the server, so a flow of a hundred elements and a million
// participants draws as fast as a small one.
package console

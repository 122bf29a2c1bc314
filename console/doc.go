// Package console is a ready web console for a flowkit Engine: an
// http.Handler that a host mounts in its own server to show its flows as
// graphs with live counts and to answer "why did this person not get the
// message?" from each participant's journal.
//
//	h := console.Handler(eng, console.Options{
//		Authorize: func(r *http.Request, a console.Access) bool {
//			u := currentUser(r) // the host's own sign-in
//			return u != nil && (a.Action == console.Read || u.IsAdmin)
//		},
//	})
//	mux.Handle("/console/", http.StripPrefix("/console", h))
//
// # Authorization
//
// Every request goes through Options.Authorize, which sees the request and
// what it asks (an Access). Without Authorize the handler refuses
// everything with 403 Forbidden, unless Options.AllowUnauthenticated opens
// reading to anyone who can reach it; the lifecycle actions always need
// Authorize's consent. POSTs from other origins are refused
// (http.CrossOriginProtection).
//
// # The page
//
// GET / serves one page (HTML, CSS and JavaScript embedded in the binary,
// no build step, nothing loaded from elsewhere): the flow drawn as a graph
// with each element's entered, waiting and error counts and the number
// that left by each branch, refreshed every two seconds; a version picker;
// lifecycle buttons; a participant list by status and element; a search
// for a person by external id, phone or email; and a participant's
// journey as a timeline of its steps with their reasons.
//
// # The JSON API
//
// All answers are JSON in lowerCamel case; errors are {"error": "..."}
// with 400 for a bad parameter (named in the message, unknown parameters
// included), 403 when refused, 404 for an unknown flow, version,
// participant or person, and 409 for a lifecycle action the flow's status
// does not allow.
//
//	GET  /api/flows                                   flows with status and versions
//	GET  /api/flows/{flow}                            one flow with status and versions
//	GET  /api/flows/{flow}/versions/{v}               that version's document
//	GET  /api/flows/{flow}/versions/{v}/stats         per-element counts, a row for every element
//	GET  /api/flows/{flow}/participants               ?status=waiting,active&element=&after=&limit=
//	GET  /api/participants/{id}                       one participant with its journal
//	GET  /api/person?externalId=|phone=|email=|id=    a person and their participations
//	GET  /api/person/events?<person>&before=&limit=   their event history, newest first
//	POST /api/flows/{flow}/{action}                   activate, pause, resume, finish, cancel
//
// Lists are paged: limit is 1 to 500 (50 by default) and each page's
// "next" is the after (participants) or before (events) of the page that
// follows; the last page has none. Counts come from the store's counters,
// aggregated on the server, so a flow of a hundred elements and a million
// participants draws as fast as a small one.
package console

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
// no build step, nothing loaded from elsewhere; the graph is laid out by a
// vendored copy of dagre, MIT-licensed, under assets/vendor):
//
//   - Every version at once by default, with a version picker that says
//     how many participants each version holds and filters everything
//     on the page: counts, the list, the element panel.
//   - The flow drawn in layers, edges routed between them around the
//     elements, with zoom (buttons, wheel, + and -), pan (drag), fit to
//     the screen (the button, 0) and, for flows of 20 elements or more, a
//     minimap; its entries lead to the start element, and its exit rules
//     and goals are listed above it with their exits and conversions.
//   - On each element: entered, waiting, in flight, errors, conversions
//     and their rate, exits by rule and the share that stopped there
//     (drop-off); on each edge, how many left by the branch, their share
//     of those who entered and their conversion rate; on a Split
//     Audience, its experiment's winner when the engine provides one.
//   - A side panel for the element picked: its counts, branches with
//     conversions, experiment results (rate, interval, lift, p-value,
//     winner) and configuration; host settings show as the document
//     holds them, {{env.NAME}} placeholders, never their values.
//   - A participant list with who each participant is (external id, name,
//     email, phone: for users who may ReadPeople), a total, filters by
//     status, element, version and failure reason, both sort orders and
//     pages both ways; failed rows say why; a participant's journey opens
//     in view. A person's page lists every attribute, custom ones
//     included, their participations and their events as a table.
//   - Actions by status and right: the lifecycle buttons the flow's
//     status allows and the user may use (each asks first),
//     per-participant cancel and retry, bulk cancel and retry of the
//     participants the list's filters select (after a dry run), and a
//     migration screen: a version's participants moved to another by an
//     element mapping, the dry run's moves and refusals first.
//   - The audit trail of the flow: who did what, on what, with what
//     outcome.
//   - Every time in the flow's time zone, labelled with it.
//   - Deep links: ?flow=&version=&element=&participant=&person= open the
//     page on a flow, version, element, participant or person.
//
// # Actions and the audit trail
//
// Every action through the console is authorized per flow (Activate to
// Cancel for the lifecycle, Operate for canceling and retrying
// participants, Migrate for migrations; a migration's dry run needs Read
// only) and written to Options.Audit with the user Options.User names.
//
// # The JSON API
//
// All answers are JSON in lowerCamel case; errors are {"error": "..."}
// with 400 for a bad parameter or body (named in the message, unknown
// parameters and fields included), 401 for a request from no signed-in
// user (with "loginUrl", the host's Options.LoginURL, when it is set),
// 403 when refused, 404 for an unknown flow, version, participant or
// person, and 409 for an action the flow's or participant's state does
// not allow.
//
//	GET  /api/flows                                   the flows the user may read; "can" holds readPeople if allowed
//	GET  /api/flows/{flow}                            one flow with status, time zone, versions (entered, in flow) and "can"
//	GET  /api/flows/{flow}/versions/{v}               that version's document
//	GET  /api/flows/{flow}/stats                      every version's counts together, a row for every element of any version
//	GET  /api/flows/{flow}/versions/{v}/stats         one version's counts, a row for every element
//	GET  /api/flows/{flow}/participants               ?status=&element=&version=&reason=&sort=oldest|newest&after=|before=&limit=
//	GET  /api/flows/{flow}/audit?limit=               the flow's audit trail, newest first
//	GET  /api/flows/{flow}/operations                 the flow's bulk operations and their progress
//	POST /api/flows/{flow}/operations                 {"action": "cancel"|"retry", "version", "element", "status", "reason", "dryRun"} (operate)
//	POST /api/flows/{flow}/migrations/preview         {"from", "to", "map", "exitUnmapped"}: a dry run (read)
//	POST /api/flows/{flow}/migrations                 the same, applied (migrate)
//	POST /api/flows/{flow}/{action}                   activate, pause, resume, finish, cancel
//	GET  /api/participants/{id}                       one participant with its journal
//	POST /api/participants/{id}/cancel|retry          that participant alone (operate)
//	GET  /api/person?externalId=|phone=|email=|id=    a person and their participations (readPeople)
//	GET  /api/person/events?<person>&before=&limit=   their event history, newest first (readPeople)
//
// A flow's "can" lists the actions Authorize lets the user take on it,
// whether or not the flow's status allows them now; the page shows the
// buttons the status allows among them, and every POST asks Authorize
// again. Counts carry every figure the engine keeps (entered, waiting,
// inFlight, errors, left by branch, exitRules, conversions by goal,
// branchConversions by branch and goal) and, when the engine provides
// them, a Split Audience's "experiments".
//
// Lists are paged: limit is 1 to 500 (50 by default). A participant
// page's "next" is the after of the page that follows and its "prev" the
// before of the page before; "total" counts every participant the
// filters select, when the store can count (store.ParticipantCounter).
// An event page's "next" is the before of the older page; it may hold
// fewer than limit events, or none, when events about flows the user may
// not read are left out; paging goes on by its "next" all the same.
// Counts come from the store's counters, aggregated on the server, so a
// flow of a hundred elements and a million participants draws as fast as
// a small one.
//
// # Screenshots
//
// console/testdata holds screenshots of the overview, a large flow
// fitted to the screen, a participant's journey and an experiment, made
// by the browser tests:
//
//	FLOWKIT_SCREENSHOTS=1 go test -run 'TestBrowserOperator/memory|TestBrowserLargeFlowFits' ./console
package console

package console

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

// Page sizes of the paged lists.
const (
	defaultLimit = 50
	maxLimit     = 500
)

// paramError is a bad request parameter: a 400 naming it.
type paramError struct {
	name string // the parameter
	msg  string
}

func (e *paramError) Error() string { return fmt.Sprintf("parameter %q: %s", e.name, e.msg) }

func badParam(name, format string, args ...any) error {
	return &paramError{name: name, msg: fmt.Sprintf(format, args...)}
}

// query reads a request's query parameters, refusing those the endpoint
// does not know and repeated ones, so that a misspelt filter is an error
// rather than a silently wider answer.
func query(u *url.URL, known ...string) (url.Values, error) {
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, badParam("query", "%v", err)
	}
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !slices.Contains(known, name) {
			if len(known) == 0 {
				return nil, badParam(name, "unknown parameter: this endpoint takes none")
			}
			return nil, badParam(name, "unknown parameter (known: %s)", strings.Join(known, ", "))
		}
		if len(q[name]) > 1 {
			return nil, badParam(name, "given %d times; give it once", len(q[name]))
		}
	}
	return q, nil
}

// limit reads the page size: 1 to maxLimit, defaultLimit when absent.
func limit(q url.Values) (int, error) {
	s := q.Get("limit")
	if s == "" {
		return defaultLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxLimit {
		return 0, badParam("limit", "must be a whole number from 1 to %d, got %q", maxLimit, s)
	}
	return n, nil
}

// version reads a flow version number from a path segment.
func version(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, badParam("version", "must be a version number from 1 up, got %q", s)
	}
	return n, nil
}

// id reads a UUID.
func id(name, s string) (uuid.UUID, error) {
	v, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, badParam(name, "must be a UUID, got %q", s)
	}
	return v, nil
}

var statuses = []store.Status{store.Active, store.Waiting, store.InFlight, store.Completed, store.Failed, store.Canceled}

// statusList reads a comma-separated list of participant statuses.
func statusList(s string) ([]store.Status, error) {
	if s == "" {
		return nil, nil
	}
	var out []store.Status
	for part := range strings.SplitSeq(s, ",") {
		st := store.Status(strings.TrimSpace(part))
		if !slices.Contains(statuses, st) {
			return nil, badParam("status", "unknown status %q (known: active, waiting, inflight, completed, failed, canceled)", part)
		}
		if !slices.Contains(out, st) {
			out = append(out, st)
		}
	}
	return out, nil
}

// personKeys are the query parameters that name a person.
var personKeys = []string{"id", "externalId", "phone", "email"}

// personRef reads the one parameter that names a person.
func personRef(q url.Values) (store.PersonRef, error) {
	var given []string
	for _, k := range personKeys {
		if q.Has(k) {
			given = append(given, k)
		}
	}
	if len(given) != 1 {
		return store.PersonRef{}, badParam(strings.Join(personKeys, "/"), "give exactly one of them to name the person, got %d", len(given))
	}
	k := given[0]
	v := q.Get(k)
	if strings.TrimSpace(v) == "" {
		return store.PersonRef{}, badParam(k, "must not be empty")
	}
	switch k {
	case "id":
		pid, err := id("id", v)
		return store.PersonRef{ID: pid}, err
	case "externalId":
		return store.PersonRef{ExternalID: v}, nil
	case "phone":
		return store.PersonRef{Phone: v}, nil
	}
	return store.PersonRef{Email: v}, nil
}

// before reads the event-history cursor: the time of the oldest event
// of the page before (RFC 3339 with nanoseconds) and, after a space, its
// id, as cursor writes them; the events after it newest first come next.
// A time alone means the events older than it. Zero when absent.
func before(q url.Values) (time.Time, string, error) {
	s := q.Get("before")
	if s == "" {
		return time.Time{}, "", nil
	}
	at, id, _ := strings.Cut(s, " ")
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return time.Time{}, "", badParam("before", "must be a page's \"next\": a time in RFC 3339 form and an event id, got %q", s)
	}
	return t, id, nil
}

// cursor writes the event-history cursor of a page whose oldest event
// is e.
func cursor(e *store.Event) string { return e.Time.Format(time.RFC3339Nano) + " " + e.ID }

package segment_test

import (
	"slices"
	"testing"
	"time"
	_ "time/tzdata" // the zones the tests use, whatever the machine has

	"github.com/stretchr/testify/require"

	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
)

// schema is the custom attributes the tests use, one of each type.
var schema = store.Schema{
	"nickname":  store.Text,
	"age":       store.Number,
	"vip":       store.Bool,
	"renewal":   store.Date,
	"trialEnd":  store.DateTime,
	"interests": store.List,
	"prefs":     store.Object,
}

// now is a Monday noon, UTC.
var now = time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)

func zone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	return loc
}

func compile(t testing.TB, c segment.Condition, opts ...segment.Options) *segment.Segment {
	t.Helper()
	o := segment.Options{Schema: schema}
	if len(opts) > 0 {
		o = opts[0]
	}
	s, err := segment.Compile(c, o)
	require.NoError(t, err)
	return s
}

func parse(t testing.TB, doc string) segment.Condition {
	t.Helper()
	c, err := segment.Parse([]byte(doc))
	require.NoError(t, err)
	return c
}

func match(t testing.TB, s *segment.Segment, sub *segment.Subject) bool {
	t.Helper()
	ok, err := s.Match(sub)
	require.NoError(t, err)
	ok2, why, err := s.MatchReason(sub)
	require.NoError(t, err)
	require.Equal(t, ok, ok2, "MatchReason disagrees with Match: %s", why)
	return ok
}

func person(attrs map[string]any) *store.Person {
	return &store.Person{Attributes: attrs}
}

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// history serves events like store.Tx.Events: oldest first, or newest first
// when q.Limit is set. It records the queries it is asked.
type history struct {
	events  []*store.Event
	queries []store.EventQuery
}

func (h *history) Events(q *store.EventQuery) ([]*store.Event, error) {
	h.queries = append(h.queries, *q)
	var out []*store.Event
	for _, e := range h.events {
		if q.Matches(e) {
			out = append(out, e)
		}
	}
	if q.Limit > 0 {
		slices.Reverse(out)
		if len(out) > q.Limit {
			out = out[:q.Limit]
		}
	}
	return out, nil
}

func event(cat store.Category, name string, at time.Time, props map[string]any) *store.Event {
	return &store.Event{Category: cat, Name: name, Time: at, Properties: props}
}

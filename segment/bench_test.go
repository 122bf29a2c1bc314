package segment_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
)

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "evals/s")
}

func benchSingle(b *testing.B, c segment.Condition, p *store.Person) {
	s := compile(b, c)
	sub := &segment.Subject{Person: p, Now: now, Location: zone(b, "Europe/Zagreb")}
	if _, err := s.Match(sub); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Match(sub); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b)
}

// BenchmarkMatchAttribute is one attribute condition per evaluation.
func BenchmarkMatchAttribute(b *testing.B) {
	p := &store.Person{City: "Zagreb", TimeZone: "America/New_York", Emails: []string{"a@b.c", "Ana@Example.com"},
		Attributes: map[string]any{"age": 27.0, "nickname": "Ana", "renewal": date(2025, 3, 14), "trialEnd": now.Add(-time.Hour)}}
	for _, c := range []segment.Condition{
		segment.Attr("age", segment.LessOrEqual, 30),
		segment.Attr("city", segment.Is, "zagreb"),
		segment.Attr("nickname", segment.Contains, "NA"),
		segment.Attr("renewal", segment.WillBeWithin, segment.PeriodOf(7, segment.Days)).InPersonTimeZone(),
		segment.Attr("trialEnd", segment.WasWithin, segment.PeriodOf(1, segment.Days)),
		segment.Contact(segment.ContactEmail, segment.EndsWith, "@example.com"),
	} {
		b.Run(fmt.Sprintf("%s_%s", c.Attribute+c.Contact, c.Op), func(b *testing.B) { benchSingle(b, c, p) })
	}
}

// BenchmarkMatchAttributeParallel is BenchmarkMatchAttribute's number
// condition on every core (GOMAXPROCS); evals/s is the total.
func BenchmarkMatchAttributeParallel(b *testing.B) {
	s := compile(b, segment.Attr("age", segment.LessOrEqual, 30))
	p := person(map[string]any{"age": 27.0})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		sub := &segment.Subject{Person: p, Now: now}
		for pb.Next() {
			if _, err := s.Match(sub); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportRate(b)
}

// BenchmarkMatchWithEvents is a 5-condition segment, one of them an event
// condition with a property filter, over a history of 1,000 events. "scan"
// serves the history the way store/memory does (a linear scan into a new
// slice per query); "indexed" keeps it by name and time, as a database index
// would, so that the segment's own cost shows.
func BenchmarkMatchWithEvents(b *testing.B) {
	s := compile(b, segment.All(
		segment.Attr("age", segment.LessOrEqual, 30),
		segment.Attr("city", segment.Is, "zagreb"),
		segment.Tag("vip", segment.Has),
		segment.Contact(segment.ContactEmail, segment.IsNotEmpty, nil),
		segment.EventCount(store.External, "PageViewed", segment.AtLeast, 3,
			segment.Prop("url", segment.Contains, "/pricing")).InLast(7, segment.Days),
	))
	names := []string{"PageViewed", "AddedToCart", "OrderCompleted", "AppOpened"}
	var all []*store.Event
	byName := map[string][]*store.Event{}
	start := now.Add(-30 * 24 * time.Hour)
	for i := range 1000 {
		url := "/home"
		if i%20 == 0 {
			url = "/pricing?plan=gold"
		}
		e := event(store.External, names[i%len(names)], start.Add(time.Duration(i)*43*time.Minute), map[string]any{"url": url})
		all = append(all, e)
		byName[e.Name] = append(byName[e.Name], e)
	}
	scan := func(q *store.EventQuery) ([]*store.Event, error) {
		var out []*store.Event
		for _, e := range all {
			if q.Matches(e) {
				out = append(out, e)
			}
		}
		return out, nil
	}
	indexed := func(q *store.EventQuery) ([]*store.Event, error) {
		evs := byName[q.Name]
		i, _ := slices.BinarySearchFunc(evs, q.Since, func(e *store.Event, t time.Time) int { return e.Time.Compare(t) })
		return evs[i:], nil
	}
	p := &store.Person{City: "Zagreb", Tags: []string{"vip"}, Emails: []string{"ana@example.com"},
		Attributes: map[string]any{"age": 27.0}}
	for _, bc := range []struct {
		name   string
		events func(q *store.EventQuery) ([]*store.Event, error)
	}{{"scan", scan}, {"indexed", indexed}} {
		b.Run(bc.name, func(b *testing.B) {
			sub := &segment.Subject{Person: p, Now: now, Events: bc.events}
			if ok, err := s.Match(sub); err != nil || !ok {
				b.Fatal(ok, err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Match(sub); err != nil {
					b.Fatal(err)
				}
			}
			reportRate(b)
		})
	}
}

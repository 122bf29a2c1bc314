package flow

import (
	"slices"
	"time"

	"github.com/flowkit/flowkit/internal/address"
	"github.com/flowkit/flowkit/internal/values"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

// personEvents lists the People events that turn before into after.
func personEvents(before, after *store.Person, now time.Time) []*store.Event {
	var out []*store.Event
	add := func(name string, props map[string]any) {
		id, _ := uuid.NewV7()
		out = append(out, &store.Event{ID: id.String(), PersonID: after.ID, Category: store.People, Name: name, Properties: props, Time: now})
	}
	eachChangedAttribute(before, after, func(n string, old, cur any) {
		add(store.AttributeChanged, map[string]any{"attribute": n, "old": old, "new": cur})
	})
	for _, t := range after.Tags {
		if !before.HasTag(t) {
			add(store.TagAdded, map[string]any{"tag": t})
		}
	}
	for _, t := range before.Tags {
		if !after.HasTag(t) {
			add(store.TagRemoved, map[string]any{"tag": t})
		}
	}
	contacts := []struct {
		before, after []string
		added, gone   string
	}{
		{before.DoNotContact, after.DoNotContact, store.AddedToDoNotContact, store.RemovedFromDoNotContact},
		{before.Phones, after.Phones, store.PhoneAdded, store.PhoneRemoved},
		{before.Emails, after.Emails, store.EmailAdded, store.EmailRemoved},
	}
	for _, c := range contacts {
		for i, a := range c.after { // each address once, in any spelling
			if !address.Contains(c.before, a) && !address.Contains(c.after[:i], a) {
				add(c.added, map[string]any{"address": a})
			}
		}
		for i, a := range c.before {
			if !address.Contains(c.after, a) && !address.Contains(c.before[:i], a) {
				add(c.gone, map[string]any{"address": a})
			}
		}
	}
	return out
}

// eachChangedAttribute calls fn for each standard or custom attribute
// whose value differs between before and after, in name order, with both
// values (nil for empty).
func eachChangedAttribute(before, after *store.Person, fn func(name string, old, cur any)) {
	names := make([]string, 0, len(values.StandardAttributes)+len(after.Attributes))
	for n := range values.StandardAttributes {
		names = append(names, n)
	}
	for n := range before.Attributes {
		names = append(names, n)
	}
	for n := range after.Attributes {
		names = append(names, n)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	for _, n := range names {
		old, had := before.Get(n)
		cur, has := after.Get(n)
		if !had {
			old = nil
		}
		if !has {
			cur = nil
		}
		if !values.Equal(old, cur) {
			fn(n, old, cur)
		}
	}
}

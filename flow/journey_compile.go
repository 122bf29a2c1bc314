package flow

import (
	"errors"
	"fmt"
	"strings"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/internal/wall"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
)

// journey is what a compiled flow version knows of its entry points,
// re-entry rule, exit rules and goals.
type journey struct {
	api, existing bool
	events        []eventEntry // event entries, the Trigger among them
	audiences     []*compiledAudience
	dates         []*compiledDate
	reentry       Reentry
	coolDown      segment.Period
	exits         []compiledExit
	goals         []compiledGoal
	// watch names the events exit rules and goals look at; unlessAny is
	// set when an exit rule looks at every change (a segment).
	watch     map[string]bool
	unlessAny bool
	// lateWatch names the events of goals with an attribution window,
	// which convert participants that left the flow too.
	lateWatch map[string]bool
}

type eventEntry struct {
	category store.Category
	name     string
	where    *segment.Where
	label    string
}

type compiledAudience struct {
	entry   *Entry
	key     string // names the entry across versions (see entryKey)
	segment *segment.Segment
}

type compiledDate struct {
	entry *Entry
	key   string
	typ   store.Type // of the attribute
}

type compiledExit struct {
	name     string
	category store.Category
	event    string
	where    *segment.Where
	unless   *segment.Segment
}

type compiledGoal struct {
	name     string
	category store.Category
	event    string
	where    *segment.Where
	within   segment.Period
	exit     bool
}

// compileJourney checks and compiles the flow's entries, re-entry rule,
// exit rules and goals.
func (c *compiled) compileJourney(f *Flow, d decls, bad *problems) {
	j := &c.journey
	j.watch = map[string]bool{}
	comp := &element.Compiler{FlowID: f.ID, Variables: c.vars, Schema: d.schema, Computed: d.computed, Location: c.loc, Budget: d.budget}
	eventSpec := func(field string, ev *segment.EventSpec) (*segment.Where, bool) {
		ok := true
		if !ev.Category.Valid() {
			bad.addf(field+".category", "unknown event category %q", ev.Category)
			ok = false
		}
		if ev.Name == "" {
			bad.addf(field+".name", "event name is missing")
			ok = false
		}
		w, err := comp.Where(field+".", ev.Where)
		if err != nil {
			bad.under(field+".where", err)
			ok = false
		}
		return w, ok
	}
	if t := f.Trigger; t != nil {
		if !t.Category.Valid() {
			bad.addf("trigger.category", "unknown event category %q", t.Category)
		}
		if t.Name == "" {
			bad.addf("trigger.name", "event name is missing")
		}
		j.events = append(j.events, eventEntry{category: t.Category, name: t.Name, label: "event " + t.Name})
	}
	if len(f.Entries) == 0 {
		j.api, j.existing = true, true
	}
	for i, en := range f.Entries {
		field := fmt.Sprintf("entries[%d]", i)
		if en == nil {
			bad.addf(field, "entry is empty")
			continue
		}
		switch en.Type {
		case EntryAPI:
			j.api = true
		case EntryExistingFlow:
			j.existing = true
		case EntryEvent:
			if en.Event == nil {
				bad.addf(field+".event", "an event entry needs an event")
				continue
			}
			if w, ok := eventSpec(field+".event", en.Event); ok {
				j.events = append(j.events, eventEntry{category: en.Event.Category, name: en.Event.Name, where: w, label: en.describe()})
			}
		case EntryAudience:
			if en.Segment == nil {
				bad.addf(field+".segment", "an audience entry needs a segment")
				continue
			}
			seg, err := segment.Compile(*en.Segment, comp.SegmentOptions())
			if err != nil {
				bad.under(field+".segment", err)
				continue
			}
			if r := en.Schedule; r != nil {
				if err := r.validate(); err != nil {
					bad.under(field+".schedule", err)
				}
			}
			if en.RunAtActivation != nil && !*en.RunAtActivation && en.Schedule == nil {
				bad.addf(field+".runAtActivation", "an audience entry without a schedule runs only at activation; runAtActivation false needs a schedule")
			}
			j.audiences = append(j.audiences, &compiledAudience{entry: en, key: entryKey(en), segment: seg})
		case EntryDate:
			if en.Date == nil || en.Date.Attribute == "" {
				bad.addf(field+".date.attribute", "a date entry needs a date attribute")
				continue
			}
			t, ok := d.schema.TypeOf(en.Date.Attribute)
			switch {
			case !ok:
				bad.addf(field+".date.attribute", "attribute %q is not declared", en.Date.Attribute)
				continue
			case t != store.Date && t != store.DateTime:
				bad.addf(field+".date.attribute", "attribute %q is %s, not a date or datetime", en.Date.Attribute, t)
				continue
			}
			if p := en.Date.Offset; !p.IsZero() && p.Unit != segment.Days && p.Unit != segment.Weeks {
				bad.addf(field+".date.offset.unit", "an offset counts days or weeks, not %q", p.Unit)
				continue
			} else if days := offsetDays(p); days > maxDateOffsetDays || days < -maxDateOffsetDays {
				bad.addf(field+".date.offset.amount", "an offset of %d %s is too long (at most %d days either way)", p.Amount, p.Unit, maxDateOffsetDays)
				continue
			}
			if at := en.Date.At; !at.IsZero() && (at.Hour < 0 || at.Hour > 23 || at.Minute < 0 || at.Minute > 59) {
				bad.addf(field+".date.at", "time of day %s is not a time of day", at)
				continue
			}
			j.dates = append(j.dates, &compiledDate{entry: en, key: entryKey(en), typ: t})
		case "":
			bad.addf(field+".type", "entry type is missing (one of %s)", strings.Join(entryTypes, ", "))
		default:
			bad.addf(field+".type", "unknown entry type %q (one of %s)", en.Type, strings.Join(entryTypes, ", "))
		}
	}
	j.reentry = Reentry{Rule: ReenterAfterExit}
	if r := f.Reentry; r != nil {
		j.reentry = *r
		switch r.Rule {
		case ReenterAfterExit, ReenterOnce:
		case ReenterAfterCoolDown:
			if r.CoolDown.Amount <= 0 {
				bad.addf("reentry.coolDown", "a cool-down must be positive, not %d %s", r.CoolDown.Amount, r.CoolDown.Unit)
			} else if err := element.CheckPeriod(r.CoolDown, "reentry.coolDown"); err != nil {
				bad.under("reentry.coolDown", err)
			}
		case ReenterConcurrent:
			if r.Max < 0 {
				bad.addf("reentry.max", "max must not be negative, not %d", r.Max)
			}
		default:
			bad.addf("reentry.rule", "unknown re-entry rule %q (one of %s, %s, %s, %s)", r.Rule, ReenterAfterExit, ReenterOnce, ReenterAfterCoolDown, ReenterConcurrent)
		}
	}
	names := map[string]bool{}
	for i, x := range f.ExitRules {
		field := fmt.Sprintf("exitRules[%d]", i)
		if x == nil || (x.Event == nil) == (x.Unless == nil) {
			bad.addf(field, "an exit rule needs exactly one of event, unless")
			continue
		}
		ce := compiledExit{name: x.Name}
		if ce.name == "" {
			ce.name = field
		}
		if names[ce.name] {
			bad.addf(field+".name", "two exit rules are named %q", ce.name)
		}
		names[ce.name] = true
		if x.Event != nil {
			w, ok := eventSpec(field+".event", x.Event)
			if !ok {
				continue
			}
			ce.category, ce.event, ce.where = x.Event.Category, x.Event.Name, w
			j.watch[x.Event.Name] = true
		} else {
			seg, err := segment.Compile(*x.Unless, comp.SegmentOptions())
			if err != nil {
				bad.under(field+".unless", err)
				continue
			}
			ce.unless = seg
			j.unlessAny = true
		}
		j.exits = append(j.exits, ce)
	}
	goals := map[string]bool{}
	for i, g := range f.Goals {
		field := fmt.Sprintf("goals[%d]", i)
		if g == nil {
			bad.addf(field, "goal is empty")
			continue
		}
		if g.Name == "" {
			bad.addf(field+".name", "a goal needs a name")
			continue
		}
		if goals[g.Name] {
			bad.addf(field+".name", "two goals are named %q", g.Name)
			continue
		}
		goals[g.Name] = true
		w, ok := eventSpec(field+".event", &g.Event)
		if !ok {
			continue
		}
		if !g.Within.IsZero() {
			if err := element.CheckPeriod(g.Within, field+".within"); err != nil {
				bad.under(field+".within", err)
				continue
			}
		}
		j.goals = append(j.goals, compiledGoal{name: g.Name, category: g.Event.Category, event: g.Event.Name, where: w, within: g.Within, exit: g.Exit})
		j.watch[g.Event.Name] = true
		if !g.Within.IsZero() {
			if j.lateWatch == nil {
				j.lateWatch = map[string]bool{}
			}
			j.lateWatch[g.Event.Name] = true
		}
	}
}

var entryTypes = []string{EntryAPI, EntryEvent, EntryAudience, EntryDate, EntryExistingFlow}

// validate checks a recurrence.
func (r *Recurrence) validate() error {
	if r.At.Hour < 0 || r.At.Hour > 23 || r.At.Minute < 0 || r.At.Minute > 59 {
		return element.Errorf("at", "time of day %s is not a time of day", r.At)
	}
	switch r.Every {
	case "day":
	case "week":
		if _, ok := wall.ParseWeekday(r.Weekday); !ok {
			return element.Errorf("weekday", "weekday %q is not a day of the week", r.Weekday)
		}
	case "month":
		if r.Day < 1 || r.Day > 31 {
			return element.Errorf("day", "day %d of the month is not 1 to 31", r.Day)
		}
	default:
		return element.Errorf("every", "every %q: want day, week or month", r.Every)
	}
	return nil
}

// under adds a problem of the flow's own settings: a field error or a
// segment condition error names its field (or path) under prefix, any
// other error is prefix's.
func (p *problems) under(prefix string, err error) {
	field := prefix
	var fe *element.FieldError
	var ce *segment.ConditionError
	switch {
	case errors.As(err, &fe):
		if fe.Field != "" && strings.HasPrefix(fe.Field, prefix) {
			field = fe.Field
		} else if fe.Field != "" {
			field = prefix + "." + fe.Field
		}
		err = fe.Err
	case errors.As(err, &ce):
		if ce.Path != "" {
			field = strings.TrimSuffix(prefix, ".") + "." + ce.Path
		}
		if ce.Err != nil {
			err = ce.Err
		}
	}
	p.add("", field, err)
}

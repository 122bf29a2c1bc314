package flow

import (
	"encoding/json"
	"fmt"

	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
)

// The entry point types of a flow (Entry.Type).
const (
	// EntryAPI lets the host enter people with Engine.Enter.
	EntryAPI = "api"
	// EntryEvent enters the person of a delivered event that matches.
	EntryEvent = "event"
	// EntryAudience enters everyone matching a segment: when the flow is
	// activated, again on a schedule, and (with WhenMatching) whenever a
	// person starts to match.
	EntryAudience = "audience"
	// EntryDate enters each person on a date their profile holds.
	EntryDate = "date"
	// EntryExistingFlow lets Add to Flow elements of other flows enter
	// people.
	EntryExistingFlow = "existingFlow"
)

// Entry is one way into a flow. A flow with no entries takes people by
// the API and from other flows (as if it declared "api" and
// "existingFlow"), and by its Trigger when it has one.
type Entry struct {
	// Type is one of EntryAPI, EntryEvent, EntryAudience, EntryDate and
	// EntryExistingFlow.
	Type string `json:"type"`
	// Event selects the events that enter their person (event entries):
	// a category, a name and property conditions.
	Event *segment.EventSpec `json:"event,omitempty"`
	// Segment selects the audience (audience entries).
	Segment *segment.Condition `json:"segment,omitempty"`
	// Schedule enters the audience again on a recurring schedule, in the
	// flow's time zone or each person's (audience entries).
	Schedule *Recurrence `json:"schedule,omitempty"`
	// RunAtActivation, when false, leaves out the run at activation of a
	// scheduled audience entry: the first people enter at the first
	// scheduled time after activation. Defaults to true.
	RunAtActivation *bool `json:"runAtActivation,omitempty"`
	// WhenMatching also enters a person when a profile change or an event
	// makes them start to match the segment (audience entries).
	WhenMatching bool `json:"whenMatching,omitempty"`
	// Date names the date attribute and when relative to it (date entries).
	Date *DateEntry `json:"date,omitempty"`
}

// Recurrence is a recurring time: every day, every week on a weekday, or
// every month on a day, at a time of day.
type Recurrence struct {
	// Every is "day", "week" or "month".
	Every string `json:"every"`
	// Weekday is the day of a weekly recurrence ("monday").
	Weekday string `json:"weekday,omitempty"`
	// Day is the day of a monthly recurrence, 1 to 31; a month without it
	// recurs on its last day.
	Day int `json:"day,omitempty"`
	// At is the time of day.
	At kinds.TimeOfDay `json:"at"`
	// PersonTimeZone runs the schedule in each person's time zone (the
	// flow's for a person without a valid one): "every Monday at 09:00"
	// enters a person in Tokyo at 09:00 in Tokyo and one in New York at
	// 09:00 in New York. Each occurrence's run starts when the occurrence
	// comes first anywhere, at its time of day in UTC+14, looks at every
	// person then, and enters each who matches at the occurrence in their
	// own zone (at once when a late run finds it passed).
	PersonTimeZone bool `json:"personTimeZone,omitempty"`
}

// DateEntry enters each person on a date attribute of theirs, with the
// rules of Wait for a Date: "3 days before renewalDate", "on birthDate at
// 09:00, every year" (February 29 falls on February 28 in other years).
type DateEntry struct {
	// Attribute names a date or datetime attribute, standard or custom.
	Attribute string `json:"attribute"`
	// Offset moves the day before (negative Amount) or after the date.
	Offset segment.Period `json:"offset,omitzero"`
	// At is the time of day of entry. Defaults to midnight.
	At kinds.TimeOfDay `json:"at,omitzero"`
	// EveryYear ignores the year: the person enters every year.
	EveryYear bool `json:"everyYear,omitempty"`
	// PersonTimeZone counts days and the time of day in the person's time
	// zone.
	PersonTimeZone bool `json:"personTimeZone,omitempty"`
}

// The re-entry rules (Reentry.Rule).
const (
	// ReenterAfterExit lets a person enter again once their previous
	// participation ended. The default.
	ReenterAfterExit = "afterExit"
	// ReenterOnce lets a person enter the flow once ever.
	ReenterOnce = "once"
	// ReenterAfterCoolDown lets a person enter again once CoolDown has
	// passed since their last entry, and their previous participation
	// ended.
	ReenterAfterCoolDown = "afterCoolDown"
	// ReenterConcurrent lets a person be in the flow up to Max times at
	// once (0 for no limit).
	ReenterConcurrent = "concurrent"
)

// Reentry says when a person may enter a flow again.
type Reentry struct {
	// Rule is one of ReenterAfterExit (the default), ReenterOnce,
	// ReenterAfterCoolDown and ReenterConcurrent.
	Rule string `json:"rule"`
	// CoolDown is the time between entries of ReenterAfterCoolDown.
	CoolDown segment.Period `json:"coolDown,omitzero"`
	// Max bounds the participations at once of ReenterConcurrent; 0 for
	// no bound.
	Max int `json:"max,omitempty"`
}

// UnmarshalJSON reads a rule, or true (concurrent, no bound) and false
// (after exit), the form of earlier documents.
func (r *Reentry) UnmarshalJSON(b []byte) error {
	var on bool
	if json.Unmarshal(b, &on) == nil {
		*r = Reentry{Rule: ReenterAfterExit}
		if on {
			r.Rule = ReenterConcurrent
		}
		return nil
	}
	type plain Reentry
	return json.Unmarshal(b, (*plain)(r))
}

// MarshalJSON writes true for concurrent entries without a bound, the
// short form, and the rule otherwise.
func (r Reentry) MarshalJSON() ([]byte, error) {
	if r.Rule == ReenterConcurrent && r.Max == 0 {
		return []byte("true"), nil
	}
	type plain Reentry
	return json.Marshal(plain(r))
}

// ExitRule takes participants out of the flow wherever they are, waiting
// or not: when an event occurs, or when the person stops matching a
// segment.
type ExitRule struct {
	// Name names the rule in journals and statistics. Defaults to
	// "exit[i]".
	Name string `json:"name,omitempty"`
	// Event, when set, exits on a matching event. Its property conditions
	// may compare with the participant's variables ("{{cartId}}") and the
	// entry event ("{{entry.properties.cartId}}").
	Event *segment.EventSpec `json:"event,omitempty"`
	// Unless, when set, exits when the person no longer matches it,
	// checked on every change of their profile and every event.
	Unless *segment.Condition `json:"unless,omitempty"`
}

// Goal is a conversion: a goal event within an attribution window after
// entry. Conversions are counted per version and per element the
// participant reached (and, by branch, for the elements it left), so a
// Split Audience shows conversions by variant.
type Goal struct {
	// Name names the goal in statistics.
	Name string `json:"name"`
	// Event is the goal event, with property conditions as exit rules
	// have.
	Event segment.EventSpec `json:"event"`
	// Within is the attribution window after entry; zero for as long as
	// the participant is in the flow.
	Within segment.Period `json:"within,omitzero"`
	// Exit takes a converting participant out of the flow.
	Exit bool `json:"exit,omitempty"`
}

// entryName names an entry in journals.
func (en *Entry) describe() string {
	switch en.Type {
	case EntryEvent:
		if en.Event != nil {
			return fmt.Sprintf("event %s", en.Event.Name)
		}
	case EntryDate:
		if en.Date != nil {
			return "date " + en.Date.Attribute
		}
	}
	return en.Type
}

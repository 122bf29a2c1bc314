package postgres

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/flowkit/flowkit/internal/values"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

// Records are kept as JSON documents beside the columns that queries use;
// values held as `any` (custom attributes, variables, wait state, event
// properties) are written in values.EncodeJSON's tagged form, which keeps
// their times.

// utc returns t in UTC, keeping the zero time zero.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// ---------------------------------------------------------------------------
// People

// personDoc is the JSON form of a person; the ID is the row's key.
type personDoc struct {
	ExternalID        string                   `json:"externalId,omitempty"`
	FirstName         string                   `json:"firstName,omitempty"`
	LastName          string                   `json:"lastName,omitempty"`
	Gender            string                   `json:"gender,omitempty"`
	BirthDate         time.Time                `json:"birthDate,omitzero"`
	City              string                   `json:"city,omitempty"`
	Country           string                   `json:"country,omitempty"`
	PreferredLanguage string                   `json:"preferredLanguage,omitempty"`
	TimeZone          string                   `json:"timeZone,omitempty"`
	Attributes        map[string]any           `json:"attributes,omitempty"`
	Phones            []string                 `json:"phones"`
	Emails            []string                 `json:"emails"`
	Push              []store.PushRegistration `json:"push"`
	Tags              []string                 `json:"tags"`
	DoNotContact      []string                 `json:"doNotContact"`
	LastContacted     map[string]time.Time     `json:"lastContacted"`
	CreatedAt         time.Time                `json:"createdAt,omitzero"`
	UpdatedAt         time.Time                `json:"updatedAt,omitzero"`
}

func encodePerson(p *store.Person) ([]byte, error) {
	d := personDoc{
		ExternalID:        p.ExternalID,
		FirstName:         p.FirstName,
		LastName:          p.LastName,
		Gender:            p.Gender,
		BirthDate:         p.BirthDate,
		City:              p.City,
		Country:           p.Country,
		PreferredLanguage: p.PreferredLanguage,
		TimeZone:          p.TimeZone,
		Attributes:        values.EncodeJSONMap(p.Attributes),
		Phones:            p.Phones,
		Emails:            p.Emails,
		Push:              p.Push,
		Tags:              p.Tags,
		DoNotContact:      p.DoNotContact,
		LastContacted:     p.LastContacted,
		CreatedAt:         p.CreatedAt,
		UpdatedAt:         p.UpdatedAt,
	}
	b, err := json.Marshal(&d)
	if err != nil {
		return nil, fmt.Errorf("person %s: %w", p.ID, err)
	}
	return b, nil
}

func decodePerson(id uuid.UUID, b []byte) (*store.Person, error) {
	var d personDoc
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("person %s: %w", id, err)
	}
	attrs, err := values.DecodeJSONMap(d.Attributes)
	if err != nil {
		return nil, fmt.Errorf("person %s: attribute %w", id, err)
	}
	for k, t := range d.LastContacted {
		d.LastContacted[k] = t.UTC()
	}
	return &store.Person{
		ID:                id,
		ExternalID:        d.ExternalID,
		FirstName:         d.FirstName,
		LastName:          d.LastName,
		Gender:            d.Gender,
		BirthDate:         utc(d.BirthDate),
		City:              d.City,
		Country:           d.Country,
		PreferredLanguage: d.PreferredLanguage,
		TimeZone:          d.TimeZone,
		Attributes:        attrs,
		Phones:            d.Phones,
		Emails:            d.Emails,
		Push:              d.Push,
		Tags:              d.Tags,
		DoNotContact:      d.DoNotContact,
		LastContacted:     d.LastContacted,
		CreatedAt:         utc(d.CreatedAt),
		UpdatedAt:         utc(d.UpdatedAt),
	}, nil
}

// ---------------------------------------------------------------------------
// Events

// eventDoc is the JSON form of the parts of an event that have no column
// (in the events table), or of a whole event (a participant's entry).
type eventDoc struct {
	ID         string          `json:"id,omitempty"`
	Person     store.PersonRef `json:"person,omitzero"`
	PersonID   uuid.UUID       `json:"personId,omitzero"`
	Category   store.Category  `json:"category,omitempty"`
	Name       string          `json:"name,omitempty"`
	Properties map[string]any  `json:"properties,omitempty"`
	Time       time.Time       `json:"time,omitzero"`
}

// encodeEventData returns the JSON of an event's properties and person
// reference, or nil when it has neither.
func encodeEventData(e *store.Event) ([]byte, error) {
	if len(e.Properties) == 0 && e.Person.IsZero() {
		return nil, nil
	}
	b, err := json.Marshal(&eventDoc{Person: e.Person, Properties: values.EncodeJSONMap(e.Properties)})
	if err != nil {
		return nil, fmt.Errorf("event %q: %w", e.ID, err)
	}
	return b, nil
}

// decodeEventData fills e's properties and person reference from b.
func decodeEventData(e *store.Event, b []byte) error {
	if len(b) == 0 {
		return nil
	}
	var d eventDoc
	if err := json.Unmarshal(b, &d); err != nil {
		return fmt.Errorf("event %q: %w", e.ID, err)
	}
	props, err := values.DecodeJSONMap(d.Properties)
	if err != nil {
		return fmt.Errorf("event %q: property %w", e.ID, err)
	}
	e.Person = d.Person
	e.Properties = props
	return nil
}

func eventToDoc(e *store.Event) *eventDoc {
	if e == nil {
		return nil
	}
	return &eventDoc{
		ID:         e.ID,
		Person:     e.Person,
		PersonID:   e.PersonID,
		Category:   e.Category,
		Name:       e.Name,
		Properties: values.EncodeJSONMap(e.Properties),
		Time:       e.Time,
	}
}

func docToEvent(d *eventDoc) (*store.Event, error) {
	if d == nil {
		return nil, nil
	}
	props, err := values.DecodeJSONMap(d.Properties)
	if err != nil {
		return nil, fmt.Errorf("event %q: property %w", d.ID, err)
	}
	return &store.Event{
		ID:         d.ID,
		Person:     d.Person,
		PersonID:   d.PersonID,
		Category:   d.Category,
		Name:       d.Name,
		Properties: props,
		Time:       utc(d.Time),
	}, nil
}

// ---------------------------------------------------------------------------
// Participants

// participantDoc is the JSON form of the parts of a participant that have
// no column of their own.
type participantDoc struct {
	Vars           map[string]any `json:"vars,omitempty"`
	Entry          *eventDoc      `json:"entry,omitempty"`
	EnteredAt      time.Time      `json:"enteredAt,omitzero"`
	ArrivedAt      time.Time      `json:"arrivedAt,omitzero"`
	LastActivityAt time.Time      `json:"lastActivityAt,omitzero"`
	ExitedAt       time.Time      `json:"exitedAt,omitzero"`
	Reason         string         `json:"reason,omitempty"`
	Seq            int64          `json:"seq,omitempty"`
	Wait           *waitDoc       `json:"wait,omitempty"`
	Journal        []store.Step   `json:"journal"`
	Effect         *effectDoc     `json:"effect,omitempty"`
	Goals          []string       `json:"goals,omitempty"`
	Holdout        string         `json:"holdout,omitempty"`
	EnteredBy      string         `json:"enteredBy,omitempty"`
	Operations     []string       `json:"operations,omitempty"`
}

type effectDoc struct {
	Seq     int64       `json:"seq"`
	Attempt int         `json:"attempt,omitempty"`
	Started time.Time   `json:"started,omitzero"`
	Resumed *waitDoc    `json:"resumed,omitempty"`
	Event   *eventDoc   `json:"event,omitempty"`
	Held    []*eventDoc `json:"held,omitempty"`
}

func toWaitDoc(w *store.Wait) *waitDoc {
	if w == nil {
		return nil
	}
	return &waitDoc{Until: w.Until, Deadline: w.Deadline, Events: w.Events, State: values.EncodeJSONMap(w.State), Parked: w.Parked}
}

func fromWaitDoc(w *waitDoc) (*store.Wait, error) {
	if w == nil {
		return nil, nil
	}
	state, err := values.DecodeJSONMap(w.State)
	if err != nil {
		return nil, err
	}
	return &store.Wait{Until: utc(w.Until), Deadline: utc(w.Deadline), Events: w.Events, State: state, Parked: w.Parked}, nil
}

type waitDoc struct {
	Until    time.Time      `json:"until,omitzero"`
	Deadline time.Time      `json:"deadline,omitzero"`
	Events   []string       `json:"events"`
	State    map[string]any `json:"state,omitempty"`
	Parked   bool           `json:"parked,omitempty"`
}

func encodeParticipant(p *store.Participant) ([]byte, error) {
	d := participantDoc{
		Vars:           values.EncodeJSONMap(p.Vars),
		Entry:          eventToDoc(p.Entry),
		EnteredAt:      p.EnteredAt,
		ArrivedAt:      p.ArrivedAt,
		LastActivityAt: p.LastActivityAt,
		ExitedAt:       p.ExitedAt,
		Reason:         p.Reason,
		Seq:            p.Seq,
		Journal:        p.Journal,
		Goals:          p.Goals,
		Holdout:        p.Holdout,
		EnteredBy:      p.EnteredBy,
		Operations:     p.Operations,
	}
	d.Wait = toWaitDoc(p.Wait)
	if e := p.Effect; e != nil {
		d.Effect = &effectDoc{Seq: e.Seq, Attempt: e.Attempt, Started: e.Started, Resumed: toWaitDoc(e.Resumed), Event: eventToDoc(e.Event)}
		for _, h := range e.Held {
			d.Effect.Held = append(d.Effect.Held, eventToDoc(h))
		}
	}
	b, err := json.Marshal(&d)
	if err != nil {
		return nil, fmt.Errorf("participant %s: %w", p.ID, err)
	}
	return b, nil
}

// decodeParticipant fills the fields of p that have no column from b.
func decodeParticipant(p *store.Participant, b []byte) error {
	var d participantDoc
	if err := json.Unmarshal(b, &d); err != nil {
		return fmt.Errorf("participant %s: %w", p.ID, err)
	}
	vars, err := values.DecodeJSONMap(d.Vars)
	if err != nil {
		return fmt.Errorf("participant %s: variable %w", p.ID, err)
	}
	entry, err := docToEvent(d.Entry)
	if err != nil {
		return fmt.Errorf("participant %s: entry %w", p.ID, err)
	}
	p.Vars = vars
	p.Entry = entry
	p.EnteredAt = utc(d.EnteredAt)
	p.ArrivedAt = utc(d.ArrivedAt)
	p.LastActivityAt = utc(d.LastActivityAt)
	p.ExitedAt = utc(d.ExitedAt)
	p.Reason = d.Reason
	p.Seq = d.Seq
	p.Journal = d.Journal
	p.Goals = d.Goals
	p.Holdout = d.Holdout
	p.EnteredBy = d.EnteredBy
	p.Operations = d.Operations
	for i := range p.Journal {
		p.Journal[i].At = utc(p.Journal[i].At)
	}
	if p.Wait, err = fromWaitDoc(d.Wait); err != nil {
		return fmt.Errorf("participant %s: wait state %w", p.ID, err)
	}
	p.Effect = nil
	if e := d.Effect; e != nil {
		eff := &store.Effect{Seq: e.Seq, Attempt: e.Attempt, Started: utc(e.Started)}
		if eff.Resumed, err = fromWaitDoc(e.Resumed); err != nil {
			return fmt.Errorf("participant %s: effect wait state %w", p.ID, err)
		}
		if eff.Event, err = docToEvent(e.Event); err != nil {
			return fmt.Errorf("participant %s: effect event %w", p.ID, err)
		}
		for _, h := range e.Held {
			ev, err := docToEvent(h)
			if err != nil {
				return fmt.Errorf("participant %s: held event %w", p.ID, err)
			}
			eff.Held = append(eff.Held, ev)
		}
		p.Effect = eff
	}
	return nil
}

// ---------------------------------------------------------------------------
// Times

// splitTime splits t into the microseconds a timestamptz keeps and the
// nanoseconds it would lose, so that a pair of columns keeps t exactly:
// the engine matches a timer's Due against Wait.Until with Equal, and a
// wait looks back to an event at the very nanosecond it entered.
func splitTime(t time.Time) (time.Time, int16) {
	t = t.UTC()
	us := t.Truncate(time.Microsecond)
	return us, int16(t.Sub(us))
}

// joinTime is the inverse of splitTime.
func joinTime(us time.Time, ns int16) time.Time {
	return us.UTC().Add(time.Duration(ns))
}

// pgIDs returns ids as [16]byte, which pgx encodes as it is (see writes).
func pgIDs(ids []uuid.UUID) [][16]byte {
	out := make([][16]byte, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

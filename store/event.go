package store

import (
	"strings"
	"time"

	"github.com/flowkit/flowkit/internal/clone"
	"github.com/google/uuid"
)

// Category groups events by where they come from.
type Category string

// The event categories.
const (
	// External events come from the host's other systems: websites, apps.
	External Category = "external"
	// People events record changes to a person's profile.
	People Category = "people"
	// Channel events record what happened to a message.
	Channel Category = "channel"
	// Product events record a person entering or leaving a flow.
	Product Category = "product"
)

// Valid reports whether c is one of the defined categories.
func (c Category) Valid() bool {
	switch c {
	case External, People, Channel, Product:
		return true
	}
	return false
}

// Predefined event names.
const (
	// Channel events; properties: "messageId", "channel", "flowId",
	// "participantId", "elementId".
	MessageSent      = "messageSent"
	MessageDelivered = "messageDelivered"
	MessageSeen      = "messageSeen" // opened
	MessageClicked   = "messageClicked"
	MessageFailed    = "messageFailed"

	// People events; properties: "attribute", "old", "new" for
	// AttributeChanged, "tag" for tags, "address" for Do Not Contact and
	// for phone numbers and email addresses added to or removed from
	// Person.Phones and Person.Emails (compared in their normalized forms:
	// another spelling of an address the person has is no change).
	AttributeChanged        = "attributeChanged"
	TagAdded                = "tagAdded"
	TagRemoved              = "tagRemoved"
	AddedToDoNotContact     = "addedToDoNotContact"
	RemovedFromDoNotContact = "removedFromDoNotContact"
	PhoneAdded              = "phoneAdded"
	PhoneRemoved            = "phoneRemoved"
	EmailAdded              = "emailAdded"
	EmailRemoved            = "emailRemoved"

	// Product events; properties: "flowId", and "reason" and "status" for
	// ExitedFlow. The participant is in the event id ("<participant
	// id>:entered", ":exited").
	EnteredFlow = "enteredFlow"
	ExitedFlow  = "exitedFlow"
)

// Event is something that happened to a person. Its ID is a deduplication
// key: a second event with the same ID for the same person is refused with
// ErrDuplicate.
type Event struct {
	ID string `json:"id"`
	// Person names whom the event is about; the engine resolves it and sets
	// PersonID.
	Person     PersonRef      `json:"person"`
	PersonID   uuid.UUID      `json:"personId,omitzero"`
	Category   Category       `json:"category"`
	Name       string         `json:"name"`
	Properties map[string]any `json:"properties,omitempty"`
	Time       time.Time      `json:"time"`
}

// Clone returns a deep copy of e, Properties included, nil for nil.
func (e *Event) Clone() *Event {
	if e == nil {
		return nil
	}
	c := *e
	c.Properties = clone.Map(e.Properties)
	return &c
}

// EventQuery selects events from one person's history. The history
// orders events by time, and events of one time in the order they were
// added.
type EventQuery struct {
	Name     string    // "" for any name
	Category Category  // "" for any category
	Since    time.Time // inclusive; zero for no lower bound
	Until    time.Time // exclusive; zero for no upper bound
	// UntilID, with Until set, selects the events of Until's very time
	// that the history holds before the event with this ID too, which
	// must be of that time: the query then continues a newest-first
	// listing (Limit set) after that event, however many events share
	// its time. When the history holds no such event of that time, no
	// event of that time is selected. "" for none.
	UntilID string
	Limit   int // most recent first when set; 0 for all, oldest first
}

// Matches reports whether e falls within the query's names and times,
// Until included when UntilID is set: a store selects those of Until's
// time by their place in the history.
func (q *EventQuery) Matches(e *Event) bool {
	return (q.Name == "" || e.Name == q.Name) &&
		(q.Category == "" || e.Category == q.Category) &&
		(q.Since.IsZero() || !e.Time.Before(q.Since)) &&
		(q.Until.IsZero() || e.Time.Before(q.Until) || q.UntilID != "" && e.Time.Equal(q.Until))
}

// Property looks up a property of e by its exact name, else by walking a
// dotted name ("cart.total") into nested objects.
func (e *Event) Property(name string) (any, bool) {
	props := e.Properties
	if v, ok := props[name]; ok {
		return v, true
	}
	if !strings.Contains(name, ".") {
		return nil, false
	}
	var cur any = props
	for part := range strings.SplitSeq(name, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

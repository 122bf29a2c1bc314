package store_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

var jsonAt = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

// roundTrip writes v as JSON, checks the names a host's clients see, and
// reads it back into a new value equal to v.
func roundTrip[T any](t *testing.T, v *T, want string) {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	require.JSONEq(t, want, string(b))
	var back T
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, v, &back)
}

func TestPersonJSON(t *testing.T) {
	id := uuid.MustParse("0195a3b0-0000-7000-8000-000000000001")
	roundTrip(t, &store.Person{
		ID: id, ExternalID: "ann-1", FirstName: "Ann", LastName: "Lee", Gender: "f",
		BirthDate: time.Date(1990, 5, 17, 0, 0, 0, 0, time.UTC), City: "Zagreb", Country: "HR",
		PreferredLanguage: "hr", TimeZone: "Europe/Zagreb",
		Attributes: map[string]any{"plan": "pro", "score": 42.0, "vip": true},
		Phones:     []string{"+385911234567"}, Emails: []string{"ann@example.com"},
		Push: []store.PushRegistration{{App: "shop", Token: "tok"}}, Tags: []string{"new"},
		DoNotContact: []string{"ann@example.com"}, LastContacted: map[string]time.Time{"email": jsonAt},
		CreatedAt: jsonAt, UpdatedAt: jsonAt.Add(time.Hour),
	}, `{"id": "0195a3b0-0000-7000-8000-000000000001", "externalId": "ann-1", "firstName": "Ann", "lastName": "Lee",
	  "gender": "f", "birthDate": "1990-05-17T00:00:00Z", "city": "Zagreb", "country": "HR", "preferredLanguage": "hr",
	  "timeZone": "Europe/Zagreb", "attributes": {"plan": "pro", "score": 42, "vip": true},
	  "phones": ["+385911234567"], "emails": ["ann@example.com"], "push": [{"app": "shop", "token": "tok"}],
	  "tags": ["new"], "doNotContact": ["ann@example.com"], "lastContacted": {"email": "2026-03-02T09:30:00Z"},
	  "createdAt": "2026-03-02T09:30:00Z", "updatedAt": "2026-03-02T10:30:00Z"}`)
	// An empty profile says only what it has.
	roundTrip(t, &store.Person{ID: id, CreatedAt: jsonAt, UpdatedAt: jsonAt},
		`{"id": "0195a3b0-0000-7000-8000-000000000001", "createdAt": "2026-03-02T09:30:00Z", "updatedAt": "2026-03-02T09:30:00Z"}`)
}

func TestParticipantJSON(t *testing.T) {
	id := uuid.MustParse("0195a3b0-0000-7000-8000-0000000000aa")
	person := uuid.MustParse("0195a3b0-0000-7000-8000-000000000001")
	entry := &store.Event{ID: "e1", PersonID: person, Category: store.External, Name: "CartAbandoned",
		Properties: map[string]any{"cartId": "c-200"}, Time: jsonAt}
	wait := &store.Wait{Until: jsonAt.Add(4 * time.Hour), Deadline: jsonAt.Add(4 * time.Hour), Events: []string{"OrderCompleted"},
		State: map[string]any{"slot": "x"}}
	roundTrip(t, &store.Participant{
		ID: id, PersonID: person, FlowID: "cart", FlowVersion: 2, Status: store.InFlight, Element: "remind",
		Vars: map[string]any{"cartId": "c-200", "n": 1.0}, Entry: entry, EnteredBy: "event CartAbandoned",
		EnteredAt: jsonAt, ArrivedAt: jsonAt.Add(time.Minute), LastActivityAt: jsonAt.Add(time.Minute),
		Seq: 3, Wait: wait,
		Journal: []store.Step{{Seq: 1, At: jsonAt, Element: "wait", Branch: "timeout", Reason: "no order"}},
		Goals:   []string{"bought"},
		Effect: &store.Effect{Seq: 4, Attempt: 1, Started: jsonAt.Add(2 * time.Minute), Resumed: wait, Event: entry,
			Held: []*store.Event{entry}},
		Version: 7,
	}, `{"id": "0195a3b0-0000-7000-8000-0000000000aa", "personId": "0195a3b0-0000-7000-8000-000000000001",
	  "flowId": "cart", "flowVersion": 2, "status": "inflight", "element": "remind",
	  "vars": {"cartId": "c-200", "n": 1}, "entry": `+eventJSON+`, "enteredBy": "event CartAbandoned",
	  "enteredAt": "2026-03-02T09:30:00Z", "arrivedAt": "2026-03-02T09:31:00Z", "lastActivityAt": "2026-03-02T09:31:00Z",
	  "seq": 3, "wait": `+waitJSON+`,
	  "journal": [{"seq": 1, "at": "2026-03-02T09:30:00Z", "element": "wait", "branch": "timeout", "reason": "no order"}],
	  "goals": ["bought"],
	  "effect": {"seq": 4, "attempt": 1, "started": "2026-03-02T09:32:00Z", "resumed": `+waitJSON+`, "event": `+eventJSON+`, "held": [`+eventJSON+`]},
	  "version": 7}`)
	// A participant that left has an exit time and a reason, and no wait.
	roundTrip(t, &store.Participant{ID: id, PersonID: person, FlowID: "cart", FlowVersion: 1, Status: store.Completed,
		Element: "done", EnteredAt: jsonAt, ArrivedAt: jsonAt, LastActivityAt: jsonAt, ExitedAt: jsonAt, Reason: "exit", Seq: 1},
		`{"id": "0195a3b0-0000-7000-8000-0000000000aa", "personId": "0195a3b0-0000-7000-8000-000000000001",
		  "flowId": "cart", "flowVersion": 1, "status": "completed", "element": "done", "enteredAt": "2026-03-02T09:30:00Z",
		  "arrivedAt": "2026-03-02T09:30:00Z", "lastActivityAt": "2026-03-02T09:30:00Z", "exitedAt": "2026-03-02T09:30:00Z",
		  "reason": "exit", "seq": 1, "version": 0}`)
}

const eventJSON = `{"id": "e1", "person": {}, "personId": "0195a3b0-0000-7000-8000-000000000001", "category": "external",
  "name": "CartAbandoned", "properties": {"cartId": "c-200"}, "time": "2026-03-02T09:30:00Z"}`

const waitJSON = `{"until": "2026-03-02T13:30:00Z", "deadline": "2026-03-02T13:30:00Z", "events": ["OrderCompleted"], "state": {"slot": "x"}}`

func TestWaitEffectStepJSON(t *testing.T) {
	roundTrip(t, &store.Wait{Parked: true}, `{"parked": true}`)
	roundTrip(t, &store.Effect{Seq: 2, Started: jsonAt}, `{"seq": 2, "attempt": 0, "started": "2026-03-02T09:30:00Z"}`)
	roundTrip(t, &store.Step{Seq: 5, At: jsonAt, Element: "tag", Reason: "tagged"},
		`{"seq": 5, "at": "2026-03-02T09:30:00Z", "element": "tag", "reason": "tagged"}`)
}

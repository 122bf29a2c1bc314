package main

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/element/elementtest"
	"github.com/flowkit/flowkit/store"
	"github.com/stretchr/testify/require"
)

const want = `  sms to +385911111111: Happy birthday, Ana!
Ana: greet -> sent (greeted as message sms-+385911111111); completed; greetedIn = 2026
Bo: greet -> notToday (not the person's birthday); completed; greetedIn = <nil>
  sms to +81903333333: Happy birthday, Kenji!
Kenji: greet -> sent (greeted as message sms-+81903333333); completed; greetedIn = 2026
`

func TestRun(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out))
	require.Equal(t, want, out.String())
}

// greetingKit returns a kit for a greeting of a person born on 17 May, at
// 20:00 UTC on that day.
func greetingKit(t *testing.T) *elementtest.Kit {
	k := elementtest.New(&Greeting{Body: "Happy birthday, {{person.firstName}}!"})
	k.Now = time.Date(2026, 5, 17, 20, 0, 0, 0, time.UTC)
	k.Schema = store.Schema{"greetedIn": store.Number}
	k.Person = &store.Person{ID: k.Person.ID, FirstName: "Ana", Phones: []string{"385911111111"},
		TimeZone: "Europe/Zagreb", BirthDate: time.Date(1990, 5, 17, 0, 0, 0, 0, time.UTC)}
	require.NoError(t, k.Validate())
	return k
}

func TestGreetingSendsOnTheBirthday(t *testing.T) {
	k := greetingKit(t)
	out, err := k.Run(t.Context())
	require.NoError(t, err)
	require.Equal(t, branchSent, out.Branch)
	require.Equal(t, []element.Message{{
		Channel: "sms", To: "385911111111", Body: "Happy birthday, Ana!", PersonID: k.Person.ID,
		FlowID: k.FlowID, ElementID: k.ElementID, IdempotencyKey: k.IdempotencyKey(),
	}}, k.Sender.Sent())
	eff := k.Effects()
	require.Equal(t, 2026.0, eff.Person.Attributes["greetedIn"])
	require.Len(t, eff.Events, 1, "the attribute change")
	require.Equal(t, store.AttributeChanged, eff.Events[0].Name)
	require.Len(t, eff.Counters, 1)
	require.Equal(t, "greeted", eff.Counters[0].Key)
}

func TestGreetingGoesByThePersonsTimeZone(t *testing.T) {
	k := greetingKit(t)
	k.Person.TimeZone = "Asia/Tokyo" // already the 18th there
	out, err := k.Run(t.Context())
	require.NoError(t, err)
	require.Equal(t, branchNotToday, out.Branch)
	require.Empty(t, k.Sender.Sent())
	require.Nil(t, k.Effects().Person, "nothing changed")
}

func TestGreetingFails(t *testing.T) {
	k := greetingKit(t)
	k.Sender.Err = errors.New("gateway down")
	_, err := k.Run(t.Context())
	require.EqualError(t, err, "send: gateway down")
	require.Nil(t, k.Effects().Person, "a failed step changes nothing")

	k.Ports.Sender = nil
	_, err = k.Run(t.Context())
	require.EqualError(t, err, "the engine has no Sender")
}

func TestGreetingValidate(t *testing.T) {
	k := elementtest.New(&Greeting{})
	var fe *element.FieldError
	require.ErrorAs(t, k.Validate(), &fe)
	require.Equal(t, "body", fe.Field)

	k = elementtest.New(&Greeting{Body: "Hi {{person.nickname}}"})
	require.ErrorAs(t, k.Validate(), &fe)
	require.Equal(t, "body", fe.Field)
}

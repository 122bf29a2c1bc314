package elementtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/element/elementtest"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// A send is made through the kit's Sender, with the step's idempotency
// key, and recorded as the engine would commit it.
func TestKitSends(t *testing.T) {
	k := elementtest.New(&kinds.SendMessage{Channel: "sms", Body: "Hi {{person.firstName}}, cart {{cartId}}"})
	k.Now = t0
	k.Variables = map[string]store.Type{"cartId": store.Text}
	k.Vars = map[string]any{"cartId": "c-17"}
	k.Person = &store.Person{ID: k.Person.ID, FirstName: "Ana", Phones: []string{"385911234567"}}
	require.NoError(t, k.Validate())
	out, err := k.Run(t.Context())
	require.NoError(t, err)
	require.Equal(t, kinds.BranchSent, out.Branch)

	sent := k.Sender.Sent()
	require.Len(t, sent, 1)
	require.Equal(t, "Hi Ana, cart c-17", sent[0].Body)
	require.Equal(t, "385911234567", sent[0].To)
	require.Equal(t, k.IdempotencyKey(), sent[0].IdempotencyKey)
	eff := k.Effects()
	require.Len(t, eff.Events, 1)
	require.Equal(t, store.MessageSent, eff.Events[0].Name)
	require.Equal(t, t0, k.Person.LastContacted["sms"], "the changed person is the next step's")
	require.Len(t, k.History, 1, "emitted events join the history")

	// A host without a Sender fails the step.
	k.Ports.Sender = nil
	_, err = k.Run(t.Context())
	require.ErrorContains(t, err, "no Sender")
}

// A wait is kept for Resume, which the timer or an event wakes.
func TestKitResume(t *testing.T) {
	k := elementtest.New(&kinds.WaitForEvent{Event: segment.EventSpec{Category: store.External, Name: "paid"}, WaitFor: segment.Period{Amount: 2, Unit: segment.Days}})
	k.Now = t0
	require.NoError(t, k.Validate())
	_, err := k.Resume(t.Context(), element.Wake{Timer: true})
	require.ErrorContains(t, err, "not waiting")

	out, err := k.Run(t.Context())
	require.NoError(t, err)
	require.NotNil(t, out.Wait)
	require.Equal(t, t0.Add(48*time.Hour), out.Wait.Until)
	require.Equal(t, []string{"paid"}, out.Wait.Events)

	out, err = k.Resume(t.Context(), element.Wake{Event: &store.Event{Name: "paid", Category: store.External, Time: t0.Add(time.Hour)}})
	require.NoError(t, err)
	require.Equal(t, kinds.BranchOccurred, out.Branch)

	_, err = k.Run(t.Context())
	require.NoError(t, err)
	k.Now = t0.Add(48 * time.Hour)
	out, err = k.Resume(t.Context(), element.Wake{Timer: true})
	require.NoError(t, err)
	require.Equal(t, kinds.BranchTimeout, out.Branch)
}

// HTTP serves requests with the test's handler, in the process.
func TestKitHTTP(t *testing.T) {
	k := elementtest.New(&kinds.CallAPI{URL: "https://api.example.com/points/{{person.externalId}}", Method: "post",
		Body:         json.RawMessage(`{"n": "{{count}}"}`),
		ResponseBody: []*kinds.JSONPathVariable{{Path: "$.points", Variable: "points"}}})
	k.Variables = map[string]store.Type{"count": store.Number, "points": store.Number}
	k.Vars = map[string]any{"count": 3.0}
	k.Person.ExternalID = "ana"
	k.HTTP.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		require.JSONEq(t, `{"n": 3}`, string(body))
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"points": 42}`)
	})
	require.NoError(t, k.Validate())
	out, err := k.Run(t.Context())
	require.NoError(t, err)
	require.Equal(t, kinds.Branch2xx, out.Branch)
	require.Equal(t, 42.0, k.Vars["points"])
	reqs := k.HTTP.Requests()
	require.Len(t, reqs, 1)
	require.Equal(t, "/points/ana", reqs[0].URL.Path)
	require.Equal(t, k.IdempotencyKey(), reqs[0].Header.Get("Idempotency-Key"))
}

// Add to Flow enters people through the kit's Flows.
func TestKitFlows(t *testing.T) {
	k := elementtest.New(&kinds.AddToFlow{Flow: "welcome"})
	require.NoError(t, k.Validate())
	out, err := k.Run(t.Context())
	require.NoError(t, err)
	require.Equal(t, element.BranchNext, out.Branch)
	entered := k.Flows.Entered()
	require.Len(t, entered, 1)
	require.Equal(t, "welcome", entered[0].FlowID)
	require.True(t, entered[0].Who.IsZero(), "the step's own person")
	require.Equal(t, k.IdempotencyKey(), entered[0].Key)

	k.Flows.Err = errors.New(`flow "welcome" is not active`)
	out, err = k.Run(t.Context())
	require.NoError(t, err)
	require.Equal(t, kinds.BranchFailed, out.Branch)
}

// The host settings a step reads are redacted from its errors, as the
// engine redacts them.
func TestKitSettingsRedacted(t *testing.T) {
	k := elementtest.New(&kinds.CallAPI{URL: "https://api.example.com/{{env.KEY}}/x"})
	k.Settings = map[string]string{"KEY": "s3cr3t"}
	k.HTTP.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "/s3cr3t/x", r.URL.Path, "the call gets the value")
		w.WriteHeader(http.StatusBadGateway)
	})
	require.NoError(t, k.Validate())
	out, err := k.Run(t.Context())
	require.NoError(t, err)
	require.Contains(t, out.Reason, "https://api.example.com/{{env.KEY}}/x")
	require.NotContains(t, out.Reason, "s3cr3t")

	k.Settings = nil
	_, err = k.Run(t.Context())
	require.ErrorContains(t, err, "env.KEY is not set")
}

// panicky is a kind whose step panics.
type panicky struct{}

func (panicky) Kind() string                                               { return "panicky" }
func (panicky) Branches() []string                                         { return []string{element.BranchNext} }
func (panicky) Validate(*element.Compiler) error                           { return nil }
func (panicky) Run(context.Context, *element.Run) (element.Outcome, error) { panic("boom") }

// A panic fails the step, as in the engine.
func TestKitPanic(t *testing.T) {
	k := elementtest.New(panicky{})
	_, err := k.Run(t.Context())
	require.EqualError(t, err, "element panicked: boom")
}

package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/flowtest"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	"github.com/stretchr/testify/require"
)

func TestAbandonedCart(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out))
	text := out.String()
	t.Log("\n" + text)

	// Each shopper's outcome.
	_, outcome, ok := strings.Cut(text, "\nOutcome\n")
	require.True(t, ok, "no outcome section")
	require.Equal(t, `Ana  completed: bought without a reminder (order total 59.90 EUR)
Ben  completed: came back after the reminder (order total 120.00 EUR)
Cid  completed: never came back
`, outcome)

	lines := strings.Split(text, "\n")
	has := func(prefix, contains string) {
		t.Helper()
		for _, l := range lines {
			if strings.HasPrefix(l, prefix) && strings.Contains(l, contains) {
				return
			}
		}
		require.Failf(t, "missing timeline line", "%q ... %q", prefix, contains)
	}
	// Ana orders her cart within the hour: no reminder.
	has("Mon 11:30  Ana  flow: wait-order -> occurred", `saved total = "59.9"`)
	require.NotContains(t, text, "ana@example.com")
	// Ben's order of another cart does not count: he is reminded 4 hours
	// after leaving his cart, and orders it the next morning.
	has("Mon 12:00  Ben  shop: orders another cart", "")
	has("Mon 14:15  Ben  flow: wait-order -> timeout", "within 4 hours")
	has("Mon 14:15  Ben    email to ben@example.com", `"Ben, your cart is waiting"`)
	has("Mon 14:15  Ben    ", `"You left 1 item(s) worth 120 EUR in cart c-200."`)
	has("Tue 09:10  Ben  flow: wait-again -> occurred", `saved total = "120"`)
	// Cid is reminded and gives up a day later.
	has("Mon 14:30  Cid    email to cid@example.com", "")
	has("Tue 14:30  Cid  flow: wait-again -> timeout", "within 1 day")
	has("Tue 14:30  Cid  flow: lost", "never came back")
	require.Equal(t, 2, strings.Count(text, "email to "))
}

// The example's flow with flowtest's kit: a recording Sender on the fake
// clock, and each shopper's path through the flow.
func TestAbandonedCartPaths(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	clk := clock.NewFake(start)
	sender := flowtest.NewSender(clk)
	eng, err := flow.NewEngine(flow.Config{Store: memory.New(), Clock: clk, Ports: flow.Ports{Sender: sender}})
	require.NoError(t, err)
	f, err := flow.Parse([]byte(cartFlow))
	require.NoError(t, err)
	_, _, err = eng.Deploy(ctx, f)
	require.NoError(t, err)

	shop := func(id, who, name, cart string) {
		t.Helper()
		require.NoError(t, eng.Deliver(ctx, &store.Event{ID: id, Person: store.PersonRef{ExternalID: who}, Category: store.External,
			Name: name, Properties: map[string]any{"cartId": cart, "items": 1, "total": 20}}))
	}
	for _, who := range []string{"ana", "ben"} {
		_, err := eng.UpdatePerson(ctx, store.PersonRef{ExternalID: who}, func(p *store.Person) error {
			p.FirstName, p.Emails = who, []string{who + "@example.com"}
			return nil
		})
		require.NoError(t, err)
	}
	shop("a1", "ana", "CartAbandoned", "c-1")
	shop("b1", "ben", "CartAbandoned", "c-2")
	_, err = flowtest.Advance(ctx, eng, clk, time.Hour)
	require.NoError(t, err)
	shop("a2", "ana", "OrderCompleted", "c-1")
	_, err = flowtest.Advance(ctx, eng, clk, 2*24*time.Hour)
	require.NoError(t, err)

	sent := sender.Sent()
	require.Len(t, sent, 1, "only Ben is reminded")
	require.Equal(t, "ben@example.com", sent[0].To)
	require.Equal(t, start.Add(4*time.Hour), sent[0].At, "four hours after he left his cart")

	for who, path := range map[string][]string{
		"ana": {"wait-order:occurred", "bought"},
		"ben": {"wait-order:timeout", "remind:sent", "wait-again:timeout", "lost"},
	} {
		ps, err := eng.Participations(ctx, store.PersonRef{ExternalID: who})
		require.NoError(t, err)
		require.Len(t, ps, 1)
		flowtest.RequirePath(t, eng, ps[0].ID, path...)
	}
}

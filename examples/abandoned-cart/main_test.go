package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

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

package suggest

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestClosest(t *testing.T) {
	kinds := []string{"addTag", "exit", "pause", "sendMessage", "waitForEvent"}
	for _, tc := range []struct {
		word       string
		candidates []string
		want       string
	}{
		{"sendMesage", kinds, "sendMessage"},
		{"SendMessage", kinds, "sendMessage"},
		{"wiatForEvent", kinds, "waitForEvent"}, // a swap is one edit
		{"ocurred", []string{"occurred", "timeout", "error"}, "occurred"},
		{"exti", kinds, "exit"},
		{"teleport", kinds, ""},
		{"exit", kinds, ""}, // the word itself is not a suggestion
		{"", kinds, ""},
		{"x", nil, ""},
		{"contanis", []string{"is", "isNot", "contains", "startsWith"}, "contains"},
	} {
		require.Equal(t, tc.want, Closest(tc.word, tc.candidates), tc.word)
	}
}

func TestDidYouMean(t *testing.T) {
	require.Equal(t, `: did you mean "occurred"?`, DidYouMean("ocurred", []string{"occurred"}))
	require.Equal(t, "", DidYouMean("elsewhere", []string{"occurred"}))
}

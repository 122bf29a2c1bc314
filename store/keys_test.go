package store_test

import (
	"testing"

	"github.com/flowkit/flowkit/store"
	"github.com/stretchr/testify/require"
)

func TestKeysAreNormalized(t *testing.T) {
	p := &store.Person{
		ExternalID: "Ana", // external ids are the host's own: kept exactly
		Phones:     []string{"+385 91 234 5678", "00385912345678", "n/a"},
		Emails:     []string{"Ana@Example.com", "ana@example.com "},
	}
	require.Equal(t, []store.Key{
		{Kind: store.ByExternalID, Value: "Ana"},
		{Kind: store.ByPhone, Value: "385912345678"},
		{Kind: store.ByEmail, Value: "ana@example.com"},
	}, p.Keys(), "each key once, a phone without digits has none")
	require.Equal(t, store.Key{Kind: store.ByPhone, Value: "385912345678"}, store.PersonRef{Phone: "+385 (91) 234-5678"}.Key())
	require.Equal(t, store.Key{Kind: store.ByEmail, Value: "ana@example.com"}, store.PersonRef{Email: "ANA@example.com"}.Key())
	require.Equal(t, store.Key{}, store.PersonRef{Phone: "unknown"}.Key(), "a phone that is no number names nobody")
	require.Equal(t, store.Key{}, store.PersonRef{Email: "  "}.Key())
}

func TestBlockedInAnySpelling(t *testing.T) {
	p := &store.Person{DoNotContact: []string{"+385 91 234 5678", "Ana@Example.com"}}
	for _, a := range []string{"385912345678", "00385912345678", "ana@example.com", "ANA@EXAMPLE.COM"} {
		require.True(t, p.Blocked(a), a)
	}
	for _, a := range []string{"385912345679", "bob@example.com", "", "x"} {
		require.False(t, p.Blocked(a), a)
	}
	require.True(t, (&store.Person{DoNotContact: []string{"x"}}).Blocked("x"), "an entry that is neither matches itself")
}

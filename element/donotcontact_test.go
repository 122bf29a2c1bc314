package element_test

import (
	"context"
	"testing"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/store"
	"github.com/stretchr/testify/require"
)

func dncEvents(t *testing.T, r *element.Run) map[string][]string {
	t.Helper()
	_, events := r.Effects()
	out := map[string][]string{}
	for _, e := range events {
		require.Equal(t, store.People, e.Category)
		out[e.Name] = append(out[e.Name], e.Properties["address"].(string))
	}
	return out
}

func TestDoNotContact(t *testing.T) {
	cases := []struct {
		name   string
		scope  element.DoNotContactScope
		before []string
		added  []string
	}{
		{"phones", element.DoNotContactScope{MSISDN: true}, nil, []string{"385911234567", "385922222222"}},
		{"emails", element.DoNotContactScope{Email: true}, nil, []string{"ann@example.com"}},
		{"both", element.DoNotContactScope{MSISDN: true, Email: true}, []string{"385911234567"}, []string{"385922222222", "ann@example.com"}},
		// An address on the list in another spelling is on the list.
		{"spellings", element.DoNotContactScope{MSISDN: true, Email: true}, []string{"+385 91 123 4567", "Ann@Example.com"}, []string{"385922222222"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			add := &element.AddToDoNotContact{DoNotContactScope: tc.scope}
			apiCompile(t, add)
			r := apiRun(apiT0)
			r.Person.Phones = append(r.Person.Phones, "385922222222")
			r.Person.DoNotContact = tc.before
			out, err := add.Run(context.Background(), r)
			require.NoError(t, err)
			require.Equal(t, element.BranchNext, out.Branch)
			require.Equal(t, map[string][]string{store.AddedToDoNotContact: tc.added}, dncEvents(t, r))
			p, _ := r.Effects()
			for _, a := range tc.added {
				require.True(t, p.Blocked(a))
			}
			// Adding again changes nothing.
			r2 := apiRun(apiT0)
			r2.Person = p
			_, err = add.Run(context.Background(), r2)
			require.NoError(t, err)
			require.Empty(t, dncEvents(t, r2))
		})
	}

	// Removal takes every entry of its kind off, the person's own and
	// stale ones alike.
	rm := &element.RemoveFromDoNotContact{DoNotContactScope: element.DoNotContactScope{MSISDN: true}}
	apiCompile(t, rm)
	r := apiRun(apiT0)
	r.Person.DoNotContact = []string{"old@example.com", "385911234567", "385900000000"}
	_, err := rm.Run(context.Background(), r)
	require.NoError(t, err)
	require.Equal(t, map[string][]string{store.RemovedFromDoNotContact: {"385911234567", "385900000000"}}, dncEvents(t, r))
	p, _ := r.Effects()
	require.Equal(t, []string{"old@example.com"}, p.DoNotContact)

	require.Error(t, (&element.AddToDoNotContact{}).Validate(nil))
	require.Error(t, (&element.RemoveFromDoNotContact{}).Validate(nil))
}

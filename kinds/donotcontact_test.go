package kinds_test

import (
	"context"
	"testing"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/store"
	"github.com/stretchr/testify/require"
)

func dncEvents(t *testing.T, r *element.Run) map[string][]string {
	t.Helper()
	_, events := effects(r)
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
		scope  kinds.DoNotContactScope
		before []string
		added  []string
	}{
		{"phones", kinds.DoNotContactScope{MSISDN: true}, nil, []string{"385911234567", "385922222222"}},
		{"emails", kinds.DoNotContactScope{Email: true}, nil, []string{"ann@example.com"}},
		{"both", kinds.DoNotContactScope{MSISDN: true, Email: true}, []string{"385911234567"}, []string{"385922222222", "ann@example.com"}},
		// An address on the list in another spelling is on the list.
		{"spellings", kinds.DoNotContactScope{MSISDN: true, Email: true}, []string{"+385 91 123 4567", "Ann@Example.com"}, []string{"385922222222"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			add := &kinds.AddToDoNotContact{DoNotContactScope: tc.scope}
			apiCompile(t, add)
			r := apiRun(apiT0)
			r.Person.Phones = append(r.Person.Phones, "385922222222")
			r.Person.DoNotContact = tc.before
			out, err := add.Run(context.Background(), r)
			require.NoError(t, err)
			require.Equal(t, element.BranchNext, out.Branch)
			require.Equal(t, map[string][]string{store.AddedToDoNotContact: tc.added}, dncEvents(t, r))
			p, _ := effects(r)
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
	rm := &kinds.RemoveFromDoNotContact{DoNotContactScope: kinds.DoNotContactScope{MSISDN: true}}
	apiCompile(t, rm)
	r := apiRun(apiT0)
	r.Person.DoNotContact = []string{"old@example.com", "385911234567", "385900000000"}
	_, err := rm.Run(context.Background(), r)
	require.NoError(t, err)
	require.Equal(t, map[string][]string{store.RemovedFromDoNotContact: {"385911234567", "385900000000"}}, dncEvents(t, r))
	p, _ := effects(r)
	require.Equal(t, []string{"old@example.com"}, p.DoNotContact)

	require.Error(t, (&kinds.AddToDoNotContact{}).Validate(nil))
	require.Error(t, (&kinds.RemoveFromDoNotContact{}).Validate(nil))
}

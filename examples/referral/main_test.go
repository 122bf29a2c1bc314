package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
)

// peopleStore counts the people the engine writes, so that the test sees
// every person the example creates, duplicates included.
type peopleStore struct {
	store.Store
	mu     sync.Mutex
	people map[uuid.UUID]bool
}

func (s *peopleStore) Update(ctx context.Context, id uuid.UUID, fn func(store.Tx) error) error {
	return s.Store.Update(ctx, id, func(tx store.Tx) error { return fn(peopleTx{tx, s}) })
}

type peopleTx struct {
	store.Tx
	s *peopleStore
}

func (tx peopleTx) PutPerson(p *store.Person) error {
	tx.s.mu.Lock()
	tx.s.people[p.ID] = true
	tx.s.mu.Unlock()
	return tx.Tx.PutPerson(p)
}

func TestReferral(t *testing.T) {
	ctx := context.Background()
	st := &peopleStore{Store: memory.New(), people: map[uuid.UUID]bool{}}
	var out bytes.Buffer
	require.NoError(t, run(ctx, &out, st))
	text := out.String()
	t.Log("\n" + text)

	_, outcome, ok := strings.Cut(text, "\nOutcome\n")
	require.True(t, ok, "no outcome section")
	require.Equal(t, `Ana  refer-a-friend: completed: friend added
Ben  refer-a-friend: completed: friend added
Cid  referred-friend: completed: never confirmed: nothing more sent
Dan  refer-a-friend: completed: no friend to add
Bob  referred-friend: completed: confirmed and got the offer
`, outcome)

	// Four customers and Bob, whom Ana's referral created; Ben's "Cid@Example.com"
	// found Cid rather than making a second Cid.
	require.Len(t, st.people, 5, "people written")
	bob, err := st.FindPerson(ctx, store.PersonRef{Email: "bob.novak@example.net"})
	require.NoError(t, err)
	cid, err := st.FindPerson(ctx, store.PersonRef{Email: "cid@example.com"})
	require.NoError(t, err)
	friends, err := st.Participants(ctx, &store.ParticipantQuery{FlowID: "referred-friend"})
	require.NoError(t, err)
	require.ElementsMatch(t, []uuid.UUID{bob, cid}, []uuid.UUID{friends[0].PersonID, friends[1].PersonID})

	emails := func(to string) []string {
		var out []string
		for _, l := range strings.Split(text, "\n") {
			if strings.Contains(l, "email to "+to+":") {
				out = append(out, l)
			}
		}
		return out
	}
	// Bob is asked first; "Who is this?" is no confirmation; the offer
	// follows his YES the next morning, and only it.
	bobs := emails("bob.novak@example.net")
	require.Len(t, bobs, 2)
	require.Contains(t, bobs[0], `Mon 10:00  Bob    email to bob.novak@example.net: "Ana thinks you would like Spokes"`)
	require.Contains(t, bobs[1], `Tue 08:20  Bob    email to bob.novak@example.net: "Your 15% off at Spokes"`)
	require.Contains(t, text, `Mon 16:45  Bob  writes: "Who is this?"`+"\nTue 08:20  Bob  writes:")
	// Cid is asked at the address the shop knows him by, never answers and
	// hears nothing more.
	require.Equal(t, []string{`Mon 11:30  Cid    email to cid@example.com: "Ben thinks you would like Spokes"`}, emails("cid@example.com"))
	require.Contains(t, text, "Thu 11:30  Cid  referred-friend: wait-yes -> timeout")
	// Dan's message holds no address: he is told so, and nobody is added.
	require.Contains(t, text, `Mon 12:00  Dan  refer-a-friend: add-friend -> failed: not added to flow "referred-friend": the participant's contact is empty`)
	require.Len(t, emails("dan@example.com"), 1)
	require.Equal(t, 1, strings.Count(text, "Your 15% off"))
}

func TestKeyword(t *testing.T) {
	for text, want := range map[string]string{
		"Yes, please!": "YES", "  yes": "YES", "YES": "YES", "Who is this?": "WHO", "": "", "!!": "",
	} {
		require.Equal(t, want, keyword(text), "%q", text)
	}
}

package postgres_test

import (
	"testing"
	"time"

	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/postgres"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// A schema distributed before decisions existed gets them as a reference
// table when it is brought up to date, and a decision is kept there.
func TestCitusDecisionsUpgrade(t *testing.T) {
	ctx := t.Context()
	p, schema, q := citusSchemaBefore(t, "decisions")
	s, err := postgres.New(ctx, postgres.Config{Pool: p, Schema: schema})
	require.NoError(t, err)
	var method string
	require.NoError(t, p.QueryRow(ctx, `SELECT partmethod::text FROM pg_dist_partition WHERE logicalrelid = $1::regclass`, q+".decisions").Scan(&method))
	require.Equal(t, "n", method, "a reference table")
	_, err = s.PublishFlow(ctx, &store.FlowVersion{FlowID: "f", Document: []byte(`{"id":"f"}`), PublishedAt: time.Unix(0, 0)})
	require.NoError(t, err)
	d, stored, err := s.Decide(ctx, &store.Decision{FlowID: "f", FlowVersion: 1, Element: "split", Winner: "b", DecidedAt: time.Unix(5, 7), Reason: "b won"})
	require.NoError(t, err)
	require.True(t, stored)
	require.Equal(t, "b", d.Winner)
	all, err := s.Decisions(ctx)
	require.NoError(t, err)
	require.Len(t, all, 1)
	require.True(t, all[0].DecidedAt.Equal(time.Unix(5, 7)))
	_, err = postgres.New(ctx, postgres.Config{Pool: p, Schema: schema})
	require.NoError(t, err, "migrating again changes nothing")
}

// A late goal event finds its person's finished participants without a
// scan: the statement every step begins with reads the person's
// participants, done ones included, by the participants_person index,
// however many participants other people have.
func TestLateGoalReadsParticipantsByPerson(t *testing.T) {
	s := newStore(t)
	// 20,000 finished participants of 2,000 people.
	insertParticipants(t, s, `SELECT gen_random_uuid(), ('00000000-0000-4000-8000-' || lpad((i % 2000)::text, 12, '0'))::uuid, 'f', 1, 'completed', 'done', 1, '{"journal":[]}', now()
		FROM generate_series(1, 20000) AS i`)
	text := explain(t, s.Pool(), postgres.ReadOneSQL(s), "00000000-0000-4000-8000-000000000007", nil)
	require.Contains(t, text, "participants_person", "read by the person index:\n%s", text)
	require.NotContains(t, text, "Seq Scan on participants", text)
}

// A page of a flow's participants reads the flow's index from its
// cursor on, whichever way it pages and whatever it filters by, however
// many participants the store holds.
func TestParticipantsPageReadsTheFlowIndex(t *testing.T) {
	s := newStore(t)
	// 100,000 participants of 10,000 people in 20 flows.
	insertParticipants(t, s, `SELECT gen_random_uuid(), ('00000000-0000-4000-8000-' || lpad((i % 10000)::text, 12, '0'))::uuid, 'f' || (i % 20), 1,
			CASE WHEN i % 3 = 0 THEN 'completed' ELSE 'waiting' END, 'wait', 1, '{"journal":[]}', now()
		FROM generate_series(1, 100000) AS i`)
	cursor := uuid.MustParse("80000000-0000-4000-8000-000000000000")
	for _, page := range []store.ParticipantQuery{
		{FlowID: "f7", Limit: 50},
		{FlowID: "f7", Limit: 50, After: cursor},
		{FlowID: "f7", Limit: 50, Before: cursor, Descending: true},
		{FlowID: "f7", Limit: 50, After: cursor, Statuses: []store.Status{store.Waiting}},
	} {
		sql, args := postgres.ParticipantsSQL(s, &page)
		text := explain(t, s.Pool(), sql, args...)
		require.Regexp(t, `Index Scan( Backward)? using participants_flow`, text, "%+v reads the flow index:\n%s", page, text)
		require.NotContains(t, text, "Seq Scan", text)
		require.NotContains(t, text, "Sort", "%+v needs no sort:\n%s", page, text)
	}
}

// insertParticipants writes the participants rows selectSQL selects
// (id, person_id, flow_id, flow_version, status, element, version, data,
// entered_at) straight into the store's table, and analyzes it.
func insertParticipants(t *testing.T, s *postgres.Store, selectSQL string) {
	t.Helper()
	q := pgx.Identifier{postgres.SchemaOf(s)}.Sanitize()
	_, err := s.Pool().Exec(t.Context(), `INSERT INTO `+q+`.participants (id, person_id, flow_id, flow_version, status, element, version, data, entered_at) `+selectSQL)
	require.NoError(t, err)
	_, err = s.Pool().Exec(t.Context(), `ANALYZE `+q+`.participants`)
	require.NoError(t, err)
}

package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

var _ store.Store = (*Store)(nil)

// Config configures a Store. The zero value of each field means its
// default; one of Pool and URL is required.
type Config struct {
	// Pool is the connection pool the store uses. The caller keeps it:
	// Store.Close does not close it. Defaults to a pool opened from URL.
	Pool *pgxpool.Pool
	// URL is a PostgreSQL connection string (see pgxpool.ParseConfig),
	// used when Pool is nil. The store owns the pool it opens and closes
	// it in Close.
	URL string
	// Schema is the PostgreSQL schema that holds flowkit's tables. Several
	// stores may share one database under different schemas. Defaults to
	// "flowkit".
	Schema string
	// SkipMigrate leaves the schema as it is: New does not call Migrate.
	// For hosts that run migrations as a separate step. Defaults to false.
	SkipMigrate bool
	// CounterShards is how many rows each counter is spread over, so that
	// processes counting the same element do not wait on one row lock.
	// Reads add the shards up, so it may be changed at any time. From 1 to
	// 256. Defaults to 16.
	CounterShards int
	// Layout chooses plain or distributed (Citus) tables for a new
	// schema, and converts an existing one (see Layout and the package
	// doc's Schema section). The layout of an existing schema is kept in
	// it: every process follows the schema's, whatever its own Layout.
	// Defaults to LayoutAuto: distributed on a database with the citus
	// extension.
	Layout Layout
	// Shards is how many shards each distributed table gets when Migrate
	// distributes a schema: Citus's hash ranges, which its rebalancer
	// moves between workers; a few per worker core. Ignored for plain
	// tables. Defaults to the database's citus.shard_count (32).
	Shards int
}

// Store is the PostgreSQL store.Store: many host processes share one
// database. It is safe for concurrent use by many goroutines and
// processes. Build it with New.
type Store struct {
	pool     *pgxpool.Pool
	ownsPool bool
	schema   string
	q        string // the quoted schema name
	shards   int
	sql      queries
	layout   Layout
	nShards  int
	// dist places people on shards; nil unless the schema is
	// distributed.
	dist   *shardMap
	placed *placements // where the shards are, when dist is set
	live   *live
	listen inboxListener
	// writeSQLs caches the commit statements by the parts they write
	// (see writeSQL).
	writeSQLs [1 << nWrites]atomic.Pointer[string]
}

// New returns a Store on the database cfg names and, unless
// cfg.SkipMigrate is set, migrates its schema (see Store.Migrate).
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Schema == "" {
		cfg.Schema = "flowkit"
	}
	if cfg.CounterShards == 0 {
		cfg.CounterShards = 16
	}
	if cfg.CounterShards < 1 || cfg.CounterShards > 256 {
		return nil, fmt.Errorf("postgres: counter shards %d: want 1 to 256", cfg.CounterShards)
	}
	if cfg.Layout < LayoutAuto || cfg.Layout > LayoutDistributed {
		return nil, fmt.Errorf("postgres: unknown layout %v", cfg.Layout)
	}
	if cfg.Shards < 0 || cfg.Shards > 64000 {
		return nil, fmt.Errorf("postgres: shards %d: want 1 to 64000, or 0 for Citus's default", cfg.Shards)
	}
	s := &Store{
		pool:    cfg.Pool,
		schema:  cfg.Schema,
		q:       pgx.Identifier{cfg.Schema}.Sanitize(),
		shards:  cfg.CounterShards,
		layout:  cfg.Layout,
		nShards: cfg.Shards,
	}
	s.sql = newQueries(s.q)
	s.live = newLive(s)
	if s.pool == nil {
		if cfg.URL == "" {
			return nil, errors.New("postgres: config needs a Pool or a URL")
		}
		pool, err := pgxpool.New(ctx, cfg.URL)
		if err != nil {
			return nil, fmt.Errorf("postgres: %w", err)
		}
		s.pool, s.ownsPool = pool, true
	}
	if !cfg.SkipMigrate {
		if err := s.Migrate(ctx); err != nil {
			s.Close()
			return nil, err
		}
	}
	if err := s.loadLayout(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// loadLayout reads whether the schema is distributed and, if so, where
// its people's shards lie. A schema that does not exist yet (New with
// SkipMigrate) is taken as plain.
func (s *Store) loadLayout(ctx context.Context) error {
	var distributed bool
	err := s.pool.QueryRow(ctx, `SELECT distributed FROM `+s.q+`.schema_version`).Scan(&distributed)
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe) && (pe.Code == "42P01" || pe.Code == "3F000" || pe.Code == "42703"):
		return nil // no schema, or one of before distribution
	case errors.Is(err, pgx.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("postgres: schema %s: layout: %w", s.schema, err)
	case !distributed:
		return nil
	}
	rows, _ := s.pool.Query(ctx, `SELECT shardminvalue::integer FROM pg_dist_shard WHERE logicalrelid = $1::regclass`, s.q+".people")
	mins, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return fmt.Errorf("postgres: schema %s: shards: %w", s.schema, err)
	}
	if s.dist, err = newShardMap(mins); err != nil {
		return err
	}
	s.sql.dist = newDistQueries(strings.NewReplacer("{{s}}", s.q))
	s.placed = &placements{s: s}
	return nil
}

// Close ends the store's liveness connection, which hands its buckets,
// claims and calls in flight to the other processes sharing the
// database at once, and closes the pool the store opened from
// Config.URL; a pool given as Config.Pool stays open. The store must not
// be used after.
func (s *Store) Close() {
	s.listen.close()
	s.live.close()
	if s.placed != nil {
		s.placed.close()
	}
	if s.ownsPool {
		s.pool.Close()
	}
}

// queries holds the store's SQL, with the schema filled in.
type queries struct {
	publish, flowVersion, flow, flows, flowsRevision, setStatus string
	publishFirst, publishNext                                   string
	findByID, findByKey                                         string
	lockOne, readOne, lockMany, readMany                        string
	participant, addEvent, hasEvent, updatePart                 string
	dueTimers, findTimers, claimTimers, nextDue, counters       string
	eraseParts, eraseEvents, eraseKeys, erasePerson, prune      string
	events, participants, countParticipants                     string // prefixes of built queries
	audience                                                    audienceQueries
	pace                                                        paceQueries
	dist                                                        distQueries
	inbox                                                       inboxQueries
}

// partCols are the participant columns scanParticipant reads.
const partCols = `id, person_id, flow_id, flow_version, status, element, version, data`

// readRows selects the people and participants whose person id matches
// cond, as rows of kind 0 and 1 of the transaction reads (see
// queries.readOne).
func readRows(cond string) string {
	return `SELECT 0 AS kind, id, NULL::uuid AS person_id, NULL::text AS flow_id, NULL::integer AS flow_version,
	NULL::text AS status, NULL::text AS element, NULL::bigint AS version, data, NULL::bigint AS revision
FROM {{s}}.people WHERE data IS NOT NULL AND id ` + cond + `
UNION ALL
SELECT 1, id, person_id, flow_id, flow_version, status, element, version, data, NULL
FROM {{s}}.participants WHERE person_id ` + cond
}

// onePart gives the parameters of queries.updatePart for partSet: $1
// is the participant's ID.
func onePart(col string) string {
	return map[string]string{
		"flow_id": "$2::text", "flow_version": "$3::integer", "status": "$4::text", "element": "$5::text",
		"due_at": "$6::timestamptz", "due_ns": "$7::smallint", "parked": "$8::boolean", "version": "$9::bigint",
		"data": "$10::text", "entered_at": "$11::timestamptz", "entered_ns": "$12::smallint", "calls": "$13::boolean",
	}[col]
}

func newQueries(q string) queries {
	r := strings.NewReplacer("{{s}}", q)
	return queries{
		publish: r.Replace(`
WITH f AS (
	INSERT INTO {{s}}.flows AS f (id, status, latest, updated_at, updated_ns) VALUES ($1, 'draft', 1, $2, $4)
	ON CONFLICT (id) DO UPDATE SET latest = f.latest + 1, updated_at = excluded.updated_at, updated_ns = excluded.updated_ns, revision = f.revision + 1
	RETURNING latest
)
INSERT INTO {{s}}.flow_versions (flow_id, version, document, published_at, published_ns)
SELECT $1, latest, $3, $2, $4 FROM f
RETURNING version`),
		// A publish of an expected version: the first one inserts the
		// flow, a later one moves it on from the version before only.
		publishFirst: r.Replace(`
WITH f AS (
	INSERT INTO {{s}}.flows (id, status, latest, updated_at, updated_ns) VALUES ($1, 'draft', 1, $2, $4)
	ON CONFLICT (id) DO NOTHING
	RETURNING latest
)
INSERT INTO {{s}}.flow_versions (flow_id, version, document, published_at, published_ns)
SELECT $1, latest, $3, $2, $4 FROM f
RETURNING version`),
		publishNext: r.Replace(`
WITH f AS (
	UPDATE {{s}}.flows SET latest = latest + 1, updated_at = $2, updated_ns = $4, revision = revision + 1
	WHERE id = $1 AND latest = $5 - 1
	RETURNING latest
)
INSERT INTO {{s}}.flow_versions (flow_id, version, document, published_at, published_ns)
SELECT $1, latest, $3, $2, $4 FROM f
RETURNING version`),
		flowVersion: r.Replace(`SELECT document, published_at, published_ns FROM {{s}}.flow_versions WHERE flow_id = $1 AND version = $2`),
		flow:        r.Replace(`SELECT id, status, latest, updated_at, updated_ns FROM {{s}}.flows WHERE id = $1`),
		flows:       r.Replace(`SELECT id, status, latest, updated_at, updated_ns FROM {{s}}.flows ORDER BY id`),
		// Each flow's revision only grows and flows are never deleted, so
		// the sum moves on every change.
		flowsRevision: r.Replace(`SELECT coalesce(sum(revision), 0)::bigint FROM {{s}}.flows`),
		// The CTE's update is not visible to the outer select, which so
		// reads the status before it.
		setStatus: r.Replace(`
WITH u AS (UPDATE {{s}}.flows SET status = $3, updated_at = $4, updated_ns = $5, revision = revision + 1 WHERE id = $1 AND status = $2 RETURNING 1)
SELECT (SELECT status FROM {{s}}.flows WHERE id = $1), EXISTS (SELECT 1 FROM u)`),

		findByID:  r.Replace(`SELECT EXISTS (SELECT 1 FROM {{s}}.people WHERE id = $1)`),
		findByKey: r.Replace(`SELECT person_id FROM {{s}}.person_keys WHERE key = $1`),

		// The person's lock, by id or by the person a key names ($2,
		// NULL for none), returning whom it locked.
		lockOne: r.Replace(`
SELECT k.id FROM (SELECT coalesce((SELECT person_id FROM {{s}}.person_keys WHERE key = $2::text), $1::uuid) AS id) AS k,
	pg_advisory_xact_lock(hashtextextended(k.id::text, 0))`),
		// The person, their participants and the flows' revision, read
		// after the lock in one statement: rows of kind 0 (the person), 1
		// (a participant) and 2 (the revision, with the id the key names
		// now, which must be the one locked).
		readOne: r.Replace(`
WITH k AS (SELECT coalesce((SELECT person_id FROM {{s}}.person_keys WHERE key = $2::text), $1::uuid) AS id)
` + readRows(`= (SELECT id FROM k)`) + `
UNION ALL
SELECT 2, (SELECT id FROM k), NULL, NULL, NULL, NULL, NULL, NULL, NULL, (SELECT coalesce(sum(revision), 0)::bigint FROM {{s}}.flows)`),
		// The locks of a batch's people, in the order of their lock keys
		// so that two batches never wait on each other in a cycle.
		lockMany: `
SELECT pg_advisory_xact_lock(h) FROM (
	SELECT hashtextextended(id::text, 0) AS h FROM unnest($1::uuid[]) AS id ORDER BY h OFFSET 0) AS l`,
		readMany: r.Replace(readRows(`= ANY ($1::uuid[])`) + `
UNION ALL
SELECT 2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, (SELECT coalesce(sum(revision), 0)::bigint FROM {{s}}.flows)`),
		participant: r.Replace(`SELECT ` + partCols + ` FROM {{s}}.participants WHERE id = $1`),
		// The write of one changed participant, the commonest: as the
		// update of writeChanged, but of scalars, which PostgreSQL plans
		// once per connection where the statement of arrays is planned
		// again on each execution.
		updatePart: r.Replace(`UPDATE {{s}}.participants AS t SET ` + partSet("t", onePart, "$14::integer") + `
WHERE t.id = $1::uuid`),
		hasEvent: r.Replace(`SELECT EXISTS (SELECT 1 FROM {{s}}.events WHERE person_id = $1 AND id = $2)`),
		// An event added by Tx.AddEvent: a taken ID inserts nothing and
		// leaves the transaction usable.
		addEvent: r.Replace(`
INSERT INTO {{s}}.events (person_id, id, time, time_ns, category, name, data)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (person_id, id) DO NOTHING`),

		dueTimers: r.Replace(`
SELECT due_at, due_ns, person_id, id FROM {{s}}.participants
WHERE due_at IS NOT NULL AND NOT parked AND (due_at, due_ns) <= ($1, $2)
	AND (claimed_until IS NULL OR claimed_until <= $1)
ORDER BY due_at, due_ns, id
LIMIT $3`),
		// The timers ClaimTimers may claim in the buckets $4: in flight
		// with a dead caller ($5), whatever their due time, then due
		// ones; either not claimed, or claimed in a session not live
		// ($6), or with a claim that ended.
		findTimers: r.Replace(`
(SELECT due_at, due_ns, person_id, id, true FROM {{s}}.participants
 WHERE caller = ANY ($5::integer[]) AND bucket = ANY ($4::smallint[]) AND status = 'inflight'
	AND due_at IS NOT NULL AND NOT parked
	AND (claimed_until IS NULL OR claimed_until <= $1 OR claimed_by <> ALL ($6::bigint[]))
 ORDER BY due_at, due_ns, id
 LIMIT $3)
UNION ALL
(SELECT due_at, due_ns, person_id, id, false FROM {{s}}.participants
 WHERE bucket = ANY ($4::smallint[]) AND due_at IS NOT NULL AND NOT parked AND (due_at, due_ns) <= ($1, $2)
	AND (claimed_until IS NULL OR claimed_until <= $1 OR claimed_by <> ALL ($6::bigint[]))
	AND NOT coalesce(caller = ANY ($5::integer[]), false)
 ORDER BY due_at, due_ns, id
 LIMIT $3)`),
		// The claims of timers of people of one shard ($1), by
		// participant and due time: each holds when the timer is
		// unchanged and still free. The rows are locked in the order of
		// their IDs, and one a step holds is skipped (that step moves
		// the timer), so concurrent claims neither wait on steps nor
		// deadlock each other. On Citus it is one router query.
		claimTimers: r.Replace(`
WITH c AS (
	SELECT p.person_id, p.id FROM {{s}}.participants AS p
	JOIN unnest($2::uuid[], $3::timestamptz[], $4::smallint[]) AS c(id, due_at, due_ns)
		ON p.id = c.id AND p.due_at = c.due_at AND p.due_ns = c.due_ns
	WHERE p.person_id = ANY ($1::uuid[]) AND NOT p.parked
		AND (p.claimed_until IS NULL OR p.claimed_until <= $7 OR p.claimed_by <> ALL ($8::bigint[]))
	ORDER BY p.id
	FOR UPDATE OF p SKIP LOCKED
)
UPDATE {{s}}.participants AS p SET claimed_until = $5, claimed_by = $6
FROM c
WHERE p.person_id = ANY ($1::uuid[]) AND p.person_id = c.person_id AND p.id = c.id
RETURNING p.id`),
		// A claimed timer is due again when its claim ends.
		nextDue: r.Replace(`
SELECT at, ns FROM (
	(SELECT due_at AS at, due_ns AS ns FROM {{s}}.participants
	 WHERE due_at IS NOT NULL AND NOT parked AND claimed_until IS NULL
	 ORDER BY due_at, due_ns LIMIT 1)
	UNION ALL
	(SELECT claimed_until, 0::smallint FROM {{s}}.participants
	 WHERE claimed_until IS NOT NULL AND due_at IS NOT NULL AND NOT parked
	 ORDER BY claimed_until LIMIT 1)
) AS next
ORDER BY at, ns
LIMIT 1`),
		counters: r.Replace(`
SELECT flow_version, element, key, sum(n)::bigint FROM {{s}}.counters
WHERE flow_id = $1
GROUP BY flow_version, element, key
ORDER BY flow_version, element, key`),

		eraseParts:  r.Replace(`DELETE FROM {{s}}.participants WHERE person_id = $1`),
		eraseEvents: r.Replace(`DELETE FROM {{s}}.events WHERE person_id = $1`),
		eraseKeys:   r.Replace(`DELETE FROM {{s}}.person_keys WHERE person_id = $1`),
		erasePerson: r.Replace(`DELETE FROM {{s}}.people WHERE id = $1`),
		// The events before the cutoff, except those a participant still
		// in its flow may look back to: at or after its entrance.
		prune: r.Replace(`
DELETE FROM {{s}}.events AS e
WHERE (e.time, e.time_ns) < ($1, $2)
	AND NOT EXISTS (
		SELECT 1 FROM {{s}}.participants AS p
		WHERE p.person_id = e.person_id
			AND p.status NOT IN ('completed', 'failed', 'canceled')
			AND (p.entered_at, p.entered_ns) <= (e.time, e.time_ns))`),

		events:            r.Replace(`SELECT id, time, time_ns, category, name, data FROM {{s}}.events WHERE person_id = $1`),
		participants:      r.Replace(`SELECT ` + partCols + ` FROM {{s}}.participants WHERE flow_id = $1`),
		countParticipants: r.Replace(`SELECT count(*) FROM {{s}}.participants WHERE flow_id = $1`),
		audience:          newAudienceQueries(r),
		pace:              newPaceQueries(r),
		inbox:             newInboxQueries(q),
	}
}

// PublishFlow implements store.Store.
func (s *Store) PublishFlow(ctx context.Context, v *store.FlowVersion) (int, error) {
	if v.FlowID == "" {
		return 0, fmt.Errorf("publish flow: flow id is empty: %w", store.ErrInvalid)
	}
	var version int
	at, ns := splitTime(v.PublishedAt)
	var err error
	switch {
	case v.Version == 0:
		err = s.pool.QueryRow(ctx, s.sql.publish, v.FlowID, at, v.Document, ns).Scan(&version)
	case v.Version == 1:
		err = s.pool.QueryRow(ctx, s.sql.publishFirst, v.FlowID, at, v.Document, ns).Scan(&version)
	default:
		err = s.pool.QueryRow(ctx, s.sql.publishNext, v.FlowID, at, v.Document, ns, v.Version).Scan(&version)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("postgres: publish flow %q as version %d: another version was published: %w", v.FlowID, v.Version, store.ErrConflict)
	}
	if err != nil {
		return 0, fmt.Errorf("postgres: publish flow %q: %w", v.FlowID, err)
	}
	return version, nil
}

// FlowVersion implements store.Store.
func (s *Store) FlowVersion(ctx context.Context, flowID string, version int) (*store.FlowVersion, error) {
	v := &store.FlowVersion{FlowID: flowID, Version: version}
	var ns int16
	err := s.pool.QueryRow(ctx, s.sql.flowVersion, flowID, version).Scan(&v.Document, &v.PublishedAt, &ns)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("flow %q version %d: %w", flowID, version, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: flow %q version %d: %w", flowID, version, err)
	}
	v.PublishedAt = joinTime(v.PublishedAt, ns)
	return v, nil
}

// Flow implements store.Store.
func (s *Store) Flow(ctx context.Context, flowID string) (*store.FlowState, error) {
	rows, _ := s.pool.Query(ctx, s.sql.flow, flowID)
	st, err := pgx.CollectExactlyOneRow(rows, scanFlowState)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("flow %q: %w", flowID, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: flow %q: %w", flowID, err)
	}
	return &st, nil
}

// Flows implements store.Store.
func (s *Store) Flows(ctx context.Context) ([]store.FlowState, error) {
	rows, _ := s.pool.Query(ctx, s.sql.flows)
	out, err := pgx.CollectRows(rows, scanFlowState)
	if err != nil {
		return nil, fmt.Errorf("postgres: flows: %w", err)
	}
	return out, nil
}

// FlowsRevision implements store.Store.
func (s *Store) FlowsRevision(ctx context.Context) (int64, error) {
	var rev int64
	if err := s.pool.QueryRow(ctx, s.sql.flowsRevision).Scan(&rev); err != nil {
		return 0, fmt.Errorf("postgres: flows revision: %w", err)
	}
	return rev, nil
}

// scanFlowState reads a row of the flow state columns (see queries.flow).
func scanFlowState(row pgx.CollectableRow) (store.FlowState, error) {
	var st store.FlowState
	var ns int16
	err := row.Scan(&st.FlowID, &st.Status, &st.Latest, &st.UpdatedAt, &ns)
	st.UpdatedAt = joinTime(st.UpdatedAt, ns)
	return st, err
}

// SetFlowStatus implements store.Store.
func (s *Store) SetFlowStatus(ctx context.Context, flowID string, from, to store.FlowStatus, at time.Time) error {
	var status *string
	var ok bool
	us, ns := splitTime(at)
	if err := s.pool.QueryRow(ctx, s.sql.setStatus, flowID, string(from), string(to), us, ns).Scan(&status, &ok); err != nil {
		return fmt.Errorf("postgres: set flow %q status: %w", flowID, err)
	}
	switch {
	case status == nil:
		return fmt.Errorf("flow %q: %w", flowID, store.ErrNotFound)
	case !ok:
		return fmt.Errorf("flow %q is %s, not %s: %w", flowID, *status, from, store.ErrConflict)
	}
	return nil
}

// FindPerson implements store.Store.
func (s *Store) FindPerson(ctx context.Context, ref store.PersonRef) (uuid.UUID, error) {
	if ref.ID != uuid.Nil {
		var ok bool
		if err := s.pool.QueryRow(ctx, s.sql.findByID, ref.ID).Scan(&ok); err != nil {
			return uuid.Nil, fmt.Errorf("postgres: find person %s: %w", ref.ID, err)
		}
		if !ok {
			return uuid.Nil, fmt.Errorf("person %s: %w", ref.ID, store.ErrNotFound)
		}
		return ref.ID, nil
	}
	key := ref.Key()
	if key == (store.Key{}) {
		return uuid.Nil, fmt.Errorf("person reference names no id, external id, phone number or email address: %w", store.ErrNotFound)
	}
	var id uuid.UUID
	err := s.pool.QueryRow(ctx, s.sql.findByKey, key.String()).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, fmt.Errorf("person %s: %w", key.Value, store.ErrNotFound)
	}
	if err != nil {
		return uuid.Nil, fmt.Errorf("postgres: find person %s: %w", key.Value, err)
	}
	return id, nil
}

// DueTimers implements store.Store. A timer stays due until its
// participant's Wait changes, so a timer whose step failed is returned
// again. It only reads, so callers that use it together see the same
// timers; the engine ticks with ClaimTimers, which hands each due timer
// to one caller at a time.
func (s *Store) DueTimers(ctx context.Context, now time.Time, limit int) ([]store.Timer, error) {
	if limit <= 0 {
		return nil, nil
	}
	at, ns := splitTime(now)
	rows, _ := s.pool.Query(ctx, s.sql.dueTimers, at, ns, limit)
	out, err := pgx.CollectRows(rows, scanTimer)
	if err != nil {
		return nil, fmt.Errorf("postgres: due timers: %w", err)
	}
	return out, nil
}

// scanTimer reads a row of due time, its nanoseconds, person and
// participant, as the timer queries return them.
func scanTimer(row pgx.CollectableRow) (store.Timer, error) {
	var t store.Timer
	var due time.Time
	var dueNS int16
	err := row.Scan(&due, &dueNS, &t.PersonID, &t.ParticipantID)
	t.Due = joinTime(due, dueNS)
	return t, err
}

var _ store.TimerClaimer = (*Store)(nil)

// ClaimTimers implements store.TimerClaimer. It looks only in the buckets
// this store's process owns (see live.go): one query finds the due timers
// there, earliest first, after the calls in flight of dead processes;
// then each is claimed by a single-row update by its person and
// participant id, all in one round trip, and a timer that another
// caller claimed meanwhile is left out. A timer claimed in a liveness
// session that has ended (its process died, or the database restarted
// since) is free whatever its lease.
func (s *Store) ClaimTimers(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]store.Timer, error) {
	if limit <= 0 {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("postgres: claim timers: %w", err)
	}
	if err := s.live.tick(ctx); err != nil {
		return nil, fmt.Errorf("postgres: claim timers: %w", err)
	}
	session, owned, sessions, dead := s.live.state()
	if session == 0 {
		return nil, fmt.Errorf("postgres: claim timers: %w", s.live.check())
	}
	if len(owned) == 0 {
		return nil, nil // other processes hold every bucket for now
	}
	sessions = append(slices.Clip(sessions), session)
	at, ns := splitTime(now)
	until := now.Add(max(lease, time.Microsecond)).UTC()
	var found []store.Timer
	var err error
	if s.dist != nil {
		found, err = s.findShardTimers(ctx, []any{at, ns}, limit, owned, dead, sessions)
	} else {
		rows, _ := s.pool.Query(ctx, s.sql.findTimers, at, ns, limit, owned, dead, sessions)
		found, err = pgx.CollectRows(rows, scanClaimable)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: claim timers: %w", unavailable(err))
	}
	if len(found) == 0 {
		return nil, nil
	}
	// One claim statement per shard (all of them at once on plain
	// tables), in one round trip.
	var groups [][]store.Timer
	if s.dist != nil {
		groups = s.dist.earliestShards(found, limit)
	} else {
		if len(found) > limit {
			// The orphans first, then the earliest.
			slices.SortStableFunc(found, timerOrder)
			found = found[:limit]
		}
		groups = [][]store.Timer{found}
	}
	b := &pgx.Batch{}
	for _, g := range groups {
		people, ids := make([][16]byte, len(g)), make([][16]byte, len(g)) // see writes
		dues, ns := make([]time.Time, len(g)), make([]int16, len(g))
		for i, t := range g {
			people[i], ids[i] = t.PersonID, t.ParticipantID
			dues[i], ns[i] = splitTime(t.Due)
		}
		b.Queue(s.sql.claimTimers, people, ids, dues, ns, until, session, at, sessions)
	}
	br := s.pool.SendBatch(ctx, b)
	claimed := make(map[uuid.UUID]bool, len(found))
	for range groups {
		rows, _ := br.Query()
		ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			_ = br.Close()
			return nil, fmt.Errorf("postgres: claim timers: %w", unavailable(err))
		}
		for _, id := range ids {
			claimed[id] = true
		}
	}
	if err := br.Close(); err != nil {
		return nil, fmt.Errorf("postgres: claim timers: %w", unavailable(err))
	}
	var out []store.Timer
	for _, g := range groups {
		for _, t := range g {
			if claimed[t.ParticipantID] {
				out = append(out, t)
			}
		}
	}
	return out, nil
}

// timerOrder orders the timers ClaimTimers returns: the orphans first,
// then in due order.
func timerOrder(a, b store.Timer) int {
	if a.Orphaned != b.Orphaned {
		if a.Orphaned {
			return -1
		}
		return 1
	}
	if c := a.Due.Compare(b.Due); c != 0 {
		return c
	}
	return bytes.Compare(a.ParticipantID[:], b.ParticipantID[:])
}

// NextDue implements store.Store.
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	var due time.Time
	var ns int16
	err := s.pool.QueryRow(ctx, s.sql.nextDue).Scan(&due, &ns)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("postgres: next due: %w", err)
	}
	return joinTime(due, ns), true, nil
}

// Participant implements store.Store.
func (s *Store) Participant(ctx context.Context, id uuid.UUID) (*store.Participant, error) {
	var rows pgx.Rows
	if s.dist != nil {
		// Two router queries: the person by the ID's shard, then the
		// participant on the person's.
		var person uuid.UUID
		err := s.pool.QueryRow(ctx, s.sql.dist.participantPerson, id).Scan(&person)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("participant %s: %w", id, store.ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("postgres: participant %s: %w", id, err)
		}
		rows, _ = s.pool.Query(ctx, s.sql.dist.participant, person, id)
	} else {
		rows, _ = s.pool.Query(ctx, s.sql.participant, id)
	}
	p, err := pgx.CollectExactlyOneRow(rows, scanParticipant)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("participant %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: participant %s: %w", id, err)
	}
	return p, nil
}

// Participants implements store.Store. Participants come in the byte order
// of their IDs, which is PostgreSQL's uuid order.
func (s *Store) Participants(ctx context.Context, q *store.ParticipantQuery) ([]*store.Participant, error) {
	if q == nil || q.FlowID == "" {
		return nil, fmt.Errorf("participants: the query names no flow: %w", store.ErrInvalid)
	}
	sql, args := s.participantsQuery(q)
	rows, _ := s.pool.Query(ctx, sql, args...)
	out, err := pgx.CollectRows(rows, scanParticipant)
	if err != nil {
		return nil, fmt.Errorf("postgres: participants of flow %q: %w", q.FlowID, err)
	}
	return out, nil
}

// participantsQuery returns the statement of a page of participants
// and its arguments: it reads the flow's participants_flow index from the
// page's cursor on.
func (s *Store) participantsQuery(q *store.ParticipantQuery) (string, []any) {
	var b strings.Builder
	b.WriteString(s.sql.participants)
	args := participantWhere(&b, q, true)
	if q.Descending {
		b.WriteString(" ORDER BY id DESC")
	} else {
		b.WriteString(" ORDER BY id")
	}
	if q.Limit > 0 {
		args = append(args, q.Limit)
		fmt.Fprintf(&b, " LIMIT $%d", len(args))
	}
	return b.String(), args
}

var _ store.ParticipantCounter = (*Store)(nil)

// CountParticipants implements store.ParticipantCounter.
func (s *Store) CountParticipants(ctx context.Context, q *store.ParticipantQuery) (int64, error) {
	if q == nil || q.FlowID == "" {
		return 0, fmt.Errorf("count participants: the query names no flow: %w", store.ErrInvalid)
	}
	var b strings.Builder
	b.WriteString(s.sql.countParticipants)
	args := participantWhere(&b, q, false)
	var n int64
	if err := s.pool.QueryRow(ctx, b.String(), args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count participants of flow %q: %w", q.FlowID, err)
	}
	return n, nil
}

// participantWhere writes the conditions of q after a query's
// "WHERE flow_id = $1" and returns the arguments, the flow id first;
// paging adds After and Before.
func participantWhere(b *strings.Builder, q *store.ParticipantQuery, paging bool) []any {
	args := []any{q.FlowID}
	if len(q.Statuses) > 0 {
		statuses := make([]string, len(q.Statuses))
		for i, st := range q.Statuses {
			statuses[i] = string(st)
		}
		args = append(args, statuses)
		fmt.Fprintf(b, " AND status = ANY ($%d)", len(args))
	}
	if q.Element != "" {
		args = append(args, q.Element)
		fmt.Fprintf(b, " AND element = $%d", len(args))
	}
	if q.Version != 0 {
		args = append(args, q.Version)
		fmt.Fprintf(b, " AND flow_version = $%d", len(args))
	}
	if q.Reason != "" {
		// strpos, not LIKE: the text is matched as written.
		args = append(args, q.Reason)
		fmt.Fprintf(b, " AND strpos(data->>'reason', $%d) > 0", len(args))
	}
	if paging && q.After != uuid.Nil {
		args = append(args, q.After)
		fmt.Fprintf(b, " AND id > $%d", len(args))
	}
	if paging && q.Before != uuid.Nil {
		args = append(args, q.Before)
		fmt.Fprintf(b, " AND id < $%d", len(args))
	}
	return args
}

// Counters implements store.Store.
func (s *Store) Counters(ctx context.Context, flowID string) ([]store.Counter, error) {
	if flowID == "" {
		return nil, fmt.Errorf("counters: flow id is empty: %w", store.ErrInvalid)
	}
	rows, _ := s.pool.Query(ctx, s.sql.counters, flowID)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Counter, error) {
		c := store.Counter{FlowID: flowID}
		err := row.Scan(&c.FlowVersion, &c.Element, &c.Key, &c.N)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: counters of flow %q: %w", flowID, err)
	}
	return out, nil
}

// scanParticipant reads a row of the participant columns (see
// queries.participant).
func scanParticipant(row pgx.CollectableRow) (*store.Participant, error) {
	p := &store.Participant{}
	var data []byte
	if err := row.Scan(&p.ID, &p.PersonID, &p.FlowID, &p.FlowVersion, &p.Status, &p.Element, &p.Version, &data); err != nil {
		return nil, err
	}
	if err := decodeParticipant(p, data); err != nil {
		return nil, err
	}
	return p, nil
}

package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/flowkit/flowkit/internal/address"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// migrations are the schema's versions, in order; migrations[i] takes the
// schema from version i to i+1. A released migration never changes: a new
// one is appended. Every statement is idempotent on its own as well, so a
// half-applied schema from a crashed process is completed, not broken.
//
// {{s}} stands for the quoted schema name. Text columns that are keys or
// orders use the "C" collation: byte order, as Go compares strings, and
// cheaper than a linguistic one.
var migrations = []string{
	`
CREATE TABLE IF NOT EXISTS {{s}}.flows (
	id         text COLLATE "C" PRIMARY KEY,
	status     text NOT NULL,
	latest     integer NOT NULL,
	updated_at timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS {{s}}.flow_versions (
	flow_id      text COLLATE "C" NOT NULL REFERENCES {{s}}.flows (id),
	version      integer NOT NULL,
	document     json NOT NULL,
	published_at timestamptz NOT NULL,
	PRIMARY KEY (flow_id, version)
);

-- One row per person; the profile is a JSON document (see codec.go).
CREATE TABLE IF NOT EXISTS {{s}}.people (
	id         uuid PRIMARY KEY,
	data       json NOT NULL,
	updated_at timestamptz NOT NULL
);

-- The external id, phones and emails of people ("x:", "p:", "e:" +
-- value, see store.Person.Keys): the primary key makes each one name one
-- person.
CREATE TABLE IF NOT EXISTS {{s}}.person_keys (
	key       text COLLATE "C" PRIMARY KEY,
	person_id uuid NOT NULL
);
CREATE INDEX IF NOT EXISTS person_keys_person ON {{s}}.person_keys (person_id);

-- due_at + due_ns is Wait.Until to the nanosecond while the participant
-- has a timer and has not left its flow, else NULL; parked timers keep
-- theirs.
CREATE TABLE IF NOT EXISTS {{s}}.participants (
	id           uuid PRIMARY KEY,
	person_id    uuid NOT NULL,
	flow_id      text COLLATE "C" NOT NULL,
	flow_version integer NOT NULL,
	status       text NOT NULL,
	element      text NOT NULL,
	due_at       timestamptz,
	due_ns       smallint NOT NULL DEFAULT 0,
	parked       boolean NOT NULL DEFAULT false,
	version      bigint NOT NULL,
	data         json NOT NULL
);
CREATE INDEX IF NOT EXISTS participants_person ON {{s}}.participants (person_id);
CREATE INDEX IF NOT EXISTS participants_flow ON {{s}}.participants (flow_id, id);
CREATE INDEX IF NOT EXISTS participants_due ON {{s}}.participants (due_at, due_ns, id)
	WHERE due_at IS NOT NULL AND NOT parked;

-- A person's event history. (person_id, id) deduplicates; seq orders
-- events of the same time as they were added.
CREATE TABLE IF NOT EXISTS {{s}}.events (
	person_id uuid NOT NULL,
	id        text COLLATE "C" NOT NULL,
	seq       bigint GENERATED ALWAYS AS IDENTITY,
	time      timestamptz NOT NULL,
	time_ns   smallint NOT NULL DEFAULT 0,
	category  text COLLATE "C" NOT NULL,
	name      text COLLATE "C" NOT NULL,
	data      json,
	PRIMARY KEY (person_id, id)
);
CREATE INDEX IF NOT EXISTS events_time ON {{s}}.events (person_id, time, time_ns, seq);

-- Counters are spread over shards (by person) so that processes counting
-- the same element do not queue on one row; reads sum the shards.
CREATE TABLE IF NOT EXISTS {{s}}.counters (
	flow_id      text COLLATE "C" NOT NULL,
	flow_version integer NOT NULL,
	element      text COLLATE "C" NOT NULL,
	key          text COLLATE "C" NOT NULL,
	shard        smallint NOT NULL,
	n            bigint NOT NULL,
	PRIMARY KEY (flow_id, flow_version, element, key, shard)
);
`,
	// 2: timer claims (store.TimerClaimer). claimed_until is when a
	// claimed timer may be handed out again; writes that move the timer
	// clear it.
	`
ALTER TABLE {{s}}.participants ADD COLUMN IF NOT EXISTS claimed_until timestamptz;
CREATE INDEX IF NOT EXISTS participants_claimed ON {{s}}.participants (claimed_until)
	WHERE claimed_until IS NOT NULL;
`,
	// 3: phone and email keys in their normalized forms (see
	// normalizeKeys, which does the work).
	`SELECT 1`,
	// 4: flow revisions (store.Store.FlowsRevision), bumped by every
	// publish and status change.
	`
ALTER TABLE {{s}}.flows ADD COLUMN IF NOT EXISTS revision bigint NOT NULL DEFAULT 1;
`,
	// 5: audience runs (store.AudienceRuns): the progress of bulk
	// entries, advanced page by page in the transaction that inserts the
	// page's participants.
	`
CREATE TABLE IF NOT EXISTS {{s}}.audience_runs (
	id           uuid PRIMARY KEY,
	flow_id      text COLLATE "C" NOT NULL,
	flow_version integer NOT NULL,
	entry        text NOT NULL,
	started_at   timestamptz NOT NULL,
	window_from  timestamptz,
	window_to    timestamptz,
	cursor_id    uuid NOT NULL,
	scanned      bigint NOT NULL DEFAULT 0,
	entered      bigint NOT NULL DEFAULT 0,
	total        bigint NOT NULL DEFAULT 0,
	done         boolean NOT NULL DEFAULT false,
	finished_at  timestamptz
);
CREATE INDEX IF NOT EXISTS audience_runs_flow ON {{s}}.audience_runs (flow_id, started_at, id);
CREATE INDEX IF NOT EXISTS audience_runs_unfinished ON {{s}}.audience_runs (started_at, id) WHERE NOT done;
`,
	// 6: the nanoseconds of flow times, and participants' entrance times
	// for history pruning (store.HistoryPruner), which keeps the events
	// at or after the entrance of a participant still in its flow. Rows
	// written before get their entrance a microsecond early (a timestamptz
	// parse rounds the nanoseconds away), so pruning keeps what they may
	// look back to.
	`
ALTER TABLE {{s}}.flows ADD COLUMN IF NOT EXISTS updated_ns smallint NOT NULL DEFAULT 0;
ALTER TABLE {{s}}.flow_versions ADD COLUMN IF NOT EXISTS published_ns smallint NOT NULL DEFAULT 0;
ALTER TABLE {{s}}.participants ADD COLUMN IF NOT EXISTS entered_at timestamptz;
ALTER TABLE {{s}}.participants ADD COLUMN IF NOT EXISTS entered_ns smallint NOT NULL DEFAULT 0;
UPDATE {{s}}.participants
SET entered_at = COALESCE((data->>'enteredAt')::timestamptz - interval '1 microsecond', '-infinity')
WHERE entered_at IS NULL;
`,
	// 7: sending-speed budgets (store.PaceKeeper), one row per key.
	// The key is bytea: a key is any string, NUL bytes included. booked
	// is the last slot booked and claimed the last action claimed,
	// in nanoseconds since 1970; claim_ok tells the claiming statement
	// whether it was accepted.
	`
CREATE TABLE IF NOT EXISTS {{s}}.paces (
	key      bytea PRIMARY KEY,
	booked   bigint,
	claimed  bigint,
	claim_ok boolean NOT NULL DEFAULT false
);
`,
	// 8: process liveness, timer buckets and the owners of claims and
	// calls in flight (see live.go).
	//
	// bucket is derived from the person id alone (its last two bytes,
	// random in every uuid version flowkit makes, modulo the bucket
	// count), so that it is one shard's column wherever the person's
	// rows are. claimed_by is the liveness session of the process that
	// claimed the timer; caller the process that began the attempt in
	// flight, cleared when the participant leaves InFlight.
	//
	// processes has one row per store process: id is the key of the
	// session-level advisory lock the process holds while it lives,
	// session changes each time it (re)takes the lock, server_start is
	// pg_postmaster_start_time() then and locked_at when, by the
	// server's clock. It is small and written only by liveness keepers:
	// on Citus, a reference table or a table of the coordinator.
	`
CREATE TABLE IF NOT EXISTS {{s}}.processes (
	id           integer PRIMARY KEY,
	session      bigint NOT NULL,
	server_start timestamptz NOT NULL,
	locked_at    timestamptz NOT NULL
);
ALTER TABLE {{s}}.participants ADD COLUMN IF NOT EXISTS bucket smallint
	GENERATED ALWAYS AS (((get_byte(uuid_send(person_id), 14) * 256 + get_byte(uuid_send(person_id), 15)) % 64)::smallint) STORED;
ALTER TABLE {{s}}.participants ADD COLUMN IF NOT EXISTS claimed_by bigint;
ALTER TABLE {{s}}.participants ADD COLUMN IF NOT EXISTS caller integer;
CREATE INDEX IF NOT EXISTS participants_bucket_due ON {{s}}.participants (bucket, due_at, due_ns, id)
	WHERE due_at IS NOT NULL AND NOT parked;
CREATE INDEX IF NOT EXISTS participants_caller ON {{s}}.participants (caller, bucket)
	WHERE caller IS NOT NULL;
`,
	// 9: the runs of bulk operations on participants
	// (store.OperationRuns), a reference table on Citus: made one here
	// when the schema is distributed already, else by distribute.
	`
CREATE TABLE IF NOT EXISTS {{s}}.operation_runs (
	id          uuid PRIMARY KEY,
	name        text NOT NULL,
	flow_id     text COLLATE "C" NOT NULL,
	spec        bytea NOT NULL,
	started_at  timestamptz NOT NULL,
	started_ns  smallint NOT NULL DEFAULT 0,
	cursor_id   uuid NOT NULL,
	total       bigint NOT NULL DEFAULT 0,
	scanned     bigint NOT NULL DEFAULT 0,
	changed     bigint NOT NULL DEFAULT 0,
	refused     bigint NOT NULL DEFAULT 0,
	done        boolean NOT NULL DEFAULT false,
	finished_at timestamptz,
	finished_ns smallint NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS operation_runs_flow ON {{s}}.operation_runs (flow_id, started_at, started_ns, id);
DO $$
BEGIN
	IF EXISTS (SELECT 1 FROM {{s}}.schema_version WHERE distributed) THEN
		IF NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = '{{s}}.operation_runs'::regclass) THEN
			PERFORM create_reference_table('{{s}}.operation_runs'::regclass);
		END IF;
	END IF;
END
$$;
`,
	// 10: the decisions of experiments (store.ExperimentKeeper), one
	// row per decided Split Audience, written once; a reference table on
	// Citus, made one here when the schema is distributed already, else
	// by distribute.
	`
CREATE TABLE IF NOT EXISTS {{s}}.decisions (
	flow_id      text COLLATE "C" NOT NULL,
	flow_version integer NOT NULL,
	element      text COLLATE "C" NOT NULL,
	winner       text NOT NULL,
	decided_at   timestamptz NOT NULL,
	decided_ns   smallint NOT NULL DEFAULT 0,
	reason       text NOT NULL,
	variants     json NOT NULL,
	PRIMARY KEY (flow_id, flow_version, element)
);
DO $$
BEGIN
	IF EXISTS (SELECT 1 FROM {{s}}.schema_version WHERE distributed) THEN
		IF NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = '{{s}}.decisions'::regclass) THEN
			PERFORM create_reference_table('{{s}}.decisions'::regclass);
		END IF;
	END IF;
END
$$;
`,
	// 11: the inbox (store.Inbox): calls hosts recorded in their own
	// transactions, until they ran and for a while after, with what
	// they did. Keyed by person: on Citus distributed by person_id,
	// co-located with people, made so here when the schema is
	// distributed already, else by distribute. bucket is the
	// participants' bucket of the person (see migration 8).
	`
CREATE TABLE IF NOT EXISTS {{s}}.inbox (
	person_id     uuid NOT NULL,
	id            uuid NOT NULL,
	seq           bigint GENERATED ALWAYS AS IDENTITY,
	ref           json NOT NULL,
	call          bytea NOT NULL,
	recorded_at   timestamptz NOT NULL,
	recorded_ns   smallint NOT NULL DEFAULT 0,
	claimed_until timestamptz,
	claimed_by    bigint,
	done_at       timestamptz,
	done_ns       smallint NOT NULL DEFAULT 0,
	result        bytea,
	bucket        smallint GENERATED ALWAYS AS (((get_byte(uuid_send(person_id), 14) * 256 + get_byte(uuid_send(person_id), 15)) % 64)::smallint) STORED,
	PRIMARY KEY (person_id, id)
);
CREATE INDEX IF NOT EXISTS inbox_pending ON {{s}}.inbox (seq) WHERE done_at IS NULL;
CREATE INDEX IF NOT EXISTS inbox_person ON {{s}}.inbox (person_id, seq) WHERE done_at IS NULL;
CREATE INDEX IF NOT EXISTS inbox_id ON {{s}}.inbox (id);
CREATE INDEX IF NOT EXISTS inbox_done ON {{s}}.inbox (done_at) WHERE done_at IS NOT NULL;
DO $$
BEGIN
	IF EXISTS (SELECT 1 FROM {{s}}.schema_version WHERE distributed) THEN
		IF NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = '{{s}}.inbox'::regclass) THEN
			PERFORM create_distributed_table('{{s}}.inbox'::regclass, 'person_id', colocate_with => '{{s}}.people');
		END IF;
	END IF;
END
$$;
`,
	// 12: participants counted and listed by the filters of a console's
	// lists (store.ParticipantCounter): by flow, version, element and
	// status, from the index alone. Citus passes the index on to the
	// shards of a distributed table.
	`
CREATE INDEX IF NOT EXISTS participants_filters ON {{s}}.participants (flow_id, flow_version, element, status);
`,
}

// ---- The distributed layout (Citus) ----
//
// A schema is distributed once, after the migrations above, by
// distribute: distributeSQL changes the keys that Citus needs changed,
// then each table of distribution is made distributed or a reference
// table, moving the rows it holds to the shards. schema_version's
// distributed column records it. A migration appended after this point
// runs on distributed tables as well (Citus passes ALTER TABLE on to the
// shards); one that creates a table adds it to distribution, and
// distributes it itself where schema_version says the schema is.

// distributeSQL readies a schema's tables for distribution. Citus needs
// every unique key of a distributed table to include its distribution
// column:
//
//   - people: data may be NULL, in a row that holds a person's lock
//     while their first transaction runs (see distQueries.lockRow); it
//     never commits.
//   - participants: keyed by (person_id, id), distributed by person_id.
//     participant_ids, distributed by id, keeps IDs unique across people
//     and finds a participant's person for Store.Participant.
//   - counters: a bucket column, the distribution column, names the
//     shard a row lives on (see shardMap); rows from before share one
//     bucket.
var distributeSQL = `
ALTER TABLE {{s}}.people ALTER COLUMN data DROP NOT NULL;

ALTER TABLE {{s}}.participants DROP CONSTRAINT IF EXISTS participants_pkey;
ALTER TABLE {{s}}.participants ADD CONSTRAINT participants_pkey PRIMARY KEY (person_id, id);
DROP INDEX IF EXISTS {{s}}.participants_person;

CREATE TABLE IF NOT EXISTS {{s}}.participant_ids (
	id        uuid PRIMARY KEY,
	person_id uuid NOT NULL
);
CREATE INDEX IF NOT EXISTS participant_ids_person ON {{s}}.participant_ids (person_id);
INSERT INTO {{s}}.participant_ids (id, person_id) SELECT id, person_id FROM {{s}}.participants
ON CONFLICT (id) DO NOTHING;

ALTER TABLE {{s}}.counters ADD COLUMN IF NOT EXISTS bucket uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000';
ALTER TABLE {{s}}.counters DROP CONSTRAINT IF EXISTS counters_pkey;
ALTER TABLE {{s}}.counters ADD CONSTRAINT counters_pkey PRIMARY KEY (bucket, flow_id, flow_version, element, key, shard);
`

// distribution is how each table is laid out on Citus, in the order
// distribute makes them so (a table before those that refer to it). An
// empty column makes a reference table, copied whole to every node.
var distribution = []struct{ table, column, colocateWith string }{
	// Flows, their versions and audience runs: small, read by every
	// step (flows' revision) or written only by bulk entry.
	{"flows", "", ""},
	{"flow_versions", "", ""},
	{"audience_runs", "", ""},
	{"operation_runs", "", ""},
	{"decisions", "", ""},
	// A person's rows, co-located: one shard holds all of them.
	{"people", "id", ""},
	{"participants", "person_id", "people"},
	{"events", "person_id", "people"},
	{"counters", "bucket", "people"},
	{"participant_ids", "id", "people"},
	{"inbox", "person_id", "people"},
	// By their own keys: a lookup by key is one shard's.
	{"person_keys", "key", ""},
	{"paces", "key", ""},
}

// distribute lays the schema's tables out on Citus (see distribution),
// in Migrate's transaction.
func (s *Store) distribute(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, strings.ReplaceAll(distributeSQL, "{{s}}", s.q), pgx.QueryExecModeSimpleProtocol); err != nil {
		return err
	}
	for _, d := range distribution {
		table := s.q + "." + d.table
		var err error
		switch {
		case d.column == "":
			_, err = tx.Exec(ctx, `SELECT create_reference_table($1::regclass)`, table)
		case d.colocateWith != "":
			_, err = tx.Exec(ctx, `SELECT create_distributed_table($1::regclass, $2, colocate_with => $3)`, table, d.column, s.q+"."+d.colocateWith)
		default:
			_, err = tx.Exec(ctx, `SELECT create_distributed_table($1::regclass, $2)`, table, d.column)
		}
		if err != nil {
			return fmt.Errorf("distribute %s: %w", d.table, err)
		}
	}
	// The rows copied to the shards stay behind in the coordinator's
	// tables, unseen, until removed.
	for i := len(distribution) - 1; i >= 0; i-- {
		if _, err := tx.Exec(ctx, `SELECT truncate_local_data_after_distributing_table($1::regclass)`, s.q+"."+distribution[i].table); err != nil {
			return fmt.Errorf("distribute %s: %w", distribution[i].table, err)
		}
	}
	return nil
}

// ---- end of the distributed layout ----

// migrationCode runs, for a migration index, Go code after that
// migration's SQL and in its transaction: for rewrites that must use the
// same Go function as the store (SQL's lower() is not strings.ToLower).
var migrationCode = map[int]func(ctx context.Context, tx pgx.Tx, q string) error{
	2: normalizeKeys,
}

// normalizeKeys rewrites the phone and email keys of person_keys, written
// as given before flowkit normalized them, to the forms store.Person.Keys
// gives. Profiles are not
// touched: they keep the spellings they were given. Where two people held
// spellings of one address, one keeps the key: the owner of the spelling
// that already was normal, else the owner of the spelling first in byte
// order; the other person's profile still lists the address, which then
// finds the first. A phone key that normalizes to nothing is dropped.
func normalizeKeys(ctx context.Context, tx pgx.Tx, q string) error {
	rows, err := tx.Query(ctx, `SELECT key, person_id FROM `+q+`.person_keys WHERE key LIKE 'p:%' OR key LIKE 'e:%'`)
	if err != nil {
		return err
	}
	type rekey struct {
		old, new string
		person   uuid.UUID
	}
	var changes []rekey
	var k string
	var id uuid.UUID
	_, err = pgx.ForEachRow(rows, []any{&k, &id}, func() error {
		n := normalKey(k)
		if n != k {
			changes = append(changes, rekey{k, n, id})
		}
		return nil
	})
	if err != nil || len(changes) == 0 {
		return err
	}
	slices.SortFunc(changes, func(a, b rekey) int {
		return cmp.Or(strings.Compare(a.new, b.new), strings.Compare(a.old, b.old))
	})
	olds := make([]string, 0, len(changes))
	news := make([]string, 0, len(changes))
	people := make([]uuid.UUID, 0, len(changes))
	for _, c := range changes {
		olds = append(olds, c.old)
		if c.new != "" {
			news, people = append(news, c.new), append(people, c.person)
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM `+q+`.person_keys WHERE key = ANY ($1)`, olds); err != nil {
		return err
	}
	// In order, first come first kept; a key that was already normal
	// stays with its owner.
	_, err = tx.Exec(ctx, `INSERT INTO `+q+`.person_keys (key, person_id)
		SELECT k, p FROM unnest($1::text[], $2::uuid[]) WITH ORDINALITY AS u(k, p, i) ORDER BY i
		ON CONFLICT (key) DO NOTHING`, news, people)
	return err
}

// normalKey returns a person_keys key in its normalized form, "" for a
// phone key that normalizes to nothing.
func normalKey(k string) string {
	kind, v := k[:min(2, len(k))], k[min(2, len(k)):]
	var n string
	switch kind {
	case "p:":
		n = address.Phone(v)
	case "e:":
		n = address.Email(v)
	default:
		return k
	}
	if n == "" {
		return ""
	}
	return kind + n
}

// Migrate creates the schema and its tables, or brings an older schema up
// to date. It is idempotent and safe to run from several processes at
// once: they take turns on a transaction-scoped advisory lock named after
// the schema. New runs it unless Config.SkipMigrate is set. On a Citus
// database it creates a new schema distributed, or converts a plain one,
// as Config.Layout says (see distribute); run it on the coordinator.
// A migration chosen as a deadlock's victim (Citus's DDL takes locks on
// every node, where other schemas' DDL may take them in another order)
// is rolled back whole and run again.
func (s *Store) Migrate(ctx context.Context) error {
	var err error
	for range 5 {
		if err = s.migrate(ctx); !deadlocked(err) {
			break
		}
	}
	return err
}

// migrate is one try of Migrate, in one transaction.
func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	// CREATE ... IF NOT EXISTS is not safe against a concurrent CREATE of
	// the same name (it may fail on a unique index of the catalog), hence
	// the lock.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, "flowkit migrate "+s.schema); err != nil {
		return fmt.Errorf("postgres: migrate: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+s.q); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+s.q+`.schema_version (version integer NOT NULL)`); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	// Whether the schema's tables are distributed (Citus).
	if _, err := tx.Exec(ctx, `ALTER TABLE `+s.q+`.schema_version ADD COLUMN IF NOT EXISTS distributed boolean NOT NULL DEFAULT false`); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	var version int
	var distributed bool
	err = tx.QueryRow(ctx, `SELECT version, distributed FROM `+s.q+`.schema_version`).Scan(&version, &distributed)
	switch {
	case err == pgx.ErrNoRows:
		if _, err := tx.Exec(ctx, `INSERT INTO `+s.q+`.schema_version (version) VALUES (0)`); err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
	case err != nil:
		return fmt.Errorf("postgres: migrate: schema version: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("postgres: migrate: schema %s is at version %d, newer than this flowkit knows (%d)", s.schema, version, len(migrations))
	}
	var citus bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')`).Scan(&citus); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	distribute := !distributed && (s.layout == LayoutDistributed || s.layout == LayoutAuto && citus && version == 0)
	if distribute && !citus {
		return fmt.Errorf("postgres: migrate: schema %s: the distributed layout needs the citus extension, which the database lacks", s.schema)
	}
	if citus {
		// Citus creates a transaction's distributed tables over one
		// connection per worker only in sequential mode.
		if _, err := tx.Exec(ctx, `SET LOCAL citus.multi_shard_modify_mode TO 'sequential'`); err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
		if s.nShards > 0 {
			if _, err := tx.Exec(ctx, fmt.Sprintf(`SET LOCAL citus.shard_count TO %d`, s.nShards)); err != nil {
				return fmt.Errorf("postgres: migrate: %w", err)
			}
		}
	}
	for i := version; i < len(migrations); i++ {
		// Simple protocol: one Exec runs a multi-statement script.
		sql := strings.ReplaceAll(migrations[i], "{{s}}", s.q)
		if _, err := tx.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol); err != nil {
			return fmt.Errorf("postgres: migrate to version %d: %w", i+1, err)
		}
		if code := migrationCode[i]; code != nil {
			if err := code(ctx, tx, s.q); err != nil {
				return fmt.Errorf("postgres: migrate to version %d: %w", i+1, err)
			}
		}
	}
	if distribute {
		if err := s.distribute(ctx, tx); err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE `+s.q+`.schema_version SET distributed = true`); err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE `+s.q+`.schema_version SET version = $1`, len(migrations)); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}

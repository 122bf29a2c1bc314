package postgres

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"math/bits"
	"slices"
	"strings"

	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
)

// Layout chooses how New lays out a new schema's tables (Config.Layout).
type Layout int

const (
	// LayoutAuto distributes a new schema's tables where the database
	// has the citus extension, and keeps an existing schema as it is.
	LayoutAuto Layout = iota
	// LayoutLocal creates plain tables, even on a Citus database. An
	// existing schema keeps its layout.
	LayoutLocal
	// LayoutDistributed creates distributed tables and converts an
	// existing schema of plain tables on a Citus database to them,
	// moving its rows to the shards (see the package doc). New fails
	// where the database lacks the citus extension.
	LayoutDistributed
)

// String returns the layout's name.
func (l Layout) String() string {
	switch l {
	case LayoutAuto:
		return "auto"
	case LayoutLocal:
		return "local"
	case LayoutDistributed:
		return "distributed"
	}
	return fmt.Sprintf("Layout(%d)", int(l))
}

// shardMap places people on the shards of a distributed schema, as Citus
// does: by the hash of their id. Counters are distributed by a bucket
// column co-located with people, and a step counts into the bucket of its
// person's shard, so that its increments are written where its person
// lives.
type shardMap struct {
	// mins are the lowest hashes of the shards, in order; shard i holds
	// the hashes from mins[i] up to mins[i+1]-1.
	mins []int32
	// buckets[i] is an id whose hash falls in shard i.
	buckets []uuid.UUID
}

// newShardMap returns the map of shards starting at the hashes mins, in
// any order, and picks each shard's bucket: the first id, counting up
// from zero in the last eight bytes, that hashes into it. Every process
// so picks the same buckets.
func newShardMap(mins []int32) (*shardMap, error) {
	if len(mins) == 0 {
		return nil, fmt.Errorf("postgres: the people table has no shards")
	}
	m := &shardMap{mins: slices.Clone(mins), buckets: make([]uuid.UUID, len(mins))}
	slices.Sort(m.mins)
	left := len(mins)
	found := make([]bool, len(mins))
	for i := uint64(0); left > 0; i++ {
		if i > 1<<24 {
			return nil, fmt.Errorf("postgres: no bucket found for %d of %d shards", left, len(mins))
		}
		var id uuid.UUID
		binary.BigEndian.PutUint64(id[8:], i)
		s := m.shard(id)
		if !found[s] {
			found[s], m.buckets[s] = true, id
			left--
		}
	}
	return m, nil
}

// shard returns the index of the shard that holds id.
func (m *shardMap) shard(id uuid.UUID) int {
	return m.shardOfHash(uuidHash(id))
}

// shardOfHash returns the index of the shard that holds the hash h.
func (m *shardMap) shardOfHash(h int32) int {
	i, ok := slices.BinarySearch(m.mins, h)
	if !ok {
		i--
	}
	return max(i, 0)
}

// bucket returns the counters' bucket of the shard that holds person.
func (m *shardMap) bucket(person uuid.UUID) uuid.UUID {
	return m.buckets[m.shard(person)]
}

// uuidHash is PostgreSQL's hash of a uuid (uuid_hash, which is
// hash_bytes over its 16 bytes on a little-endian machine), the hash
// Citus places a uuid distribution column's rows by.
func uuidHash(id uuid.UUID) int32 {
	const length = 16
	a := uint32(0x9e3779b9 + length + 3923095)
	b, c := a, a
	a += binary.LittleEndian.Uint32(id[0:])
	b += binary.LittleEndian.Uint32(id[4:])
	c += binary.LittleEndian.Uint32(id[8:])
	// mix
	a -= c
	a ^= bits.RotateLeft32(c, 4)
	c += b
	b -= a
	b ^= bits.RotateLeft32(a, 6)
	a += c
	c -= b
	c ^= bits.RotateLeft32(b, 8)
	b += a
	a -= c
	a ^= bits.RotateLeft32(c, 16)
	c += b
	b -= a
	b ^= bits.RotateLeft32(a, 19)
	a += c
	c -= b
	c ^= bits.RotateLeft32(b, 4)
	b += a
	// the last four bytes
	a += binary.LittleEndian.Uint32(id[12:])
	// final
	c ^= b
	c -= bits.RotateLeft32(b, 14)
	a ^= c
	a -= bits.RotateLeft32(c, 11)
	b ^= a
	b -= bits.RotateLeft32(a, 25)
	c ^= b
	c -= bits.RotateLeft32(b, 16)
	a ^= c
	a -= bits.RotateLeft32(c, 4)
	b ^= a
	b -= bits.RotateLeft32(a, 14)
	c ^= b
	c -= bits.RotateLeft32(b, 24)
	return int32(c)
}

// isUnique reports whether err is a unique violation of the constraint
// named name, on a plain table or on a Citus shard of it (whose
// constraints carry the shard's number: name_102008).
func isUnique(err *pgconn.PgError, name string) bool {
	if err.Code != "23505" {
		return false
	}
	c := err.ConstraintName
	if c == "" {
		// Citus passes a worker's error on without the constraint's
		// field: its name is in the message.
		if _, rest, ok := strings.Cut(err.Message, `unique constraint "`); ok {
			c, _, _ = strings.Cut(rest, `"`)
		}
	}
	if c == name {
		return true
	}
	if len(c) <= len(name)+1 || c[:len(name)] != name || c[len(name)] != '_' {
		return false
	}
	for _, r := range c[len(name)+1:] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// distQueries are the statements a distributed schema runs instead of
// the plain schema's (see queries).
type distQueries struct {
	lockRow, readOne, keyOwner     string
	readShard                      string
	eraseIDs                       string
	participantPerson, participant string
	pageRun                        string
}

func newDistQueries(r *strings.Replacer) distQueries {
	return distQueries{
		// The person's lock is their people row's, on their shard: an
		// upsert that conflicts locks the row it finds (DO UPDATE locks
		// it even where its WHERE is false) and waits for a transaction
		// that holds it; one that does not conflict inserts a row with
		// no data (a placeholder, which no read returns) and holds that.
		// It returns a row when it inserted one; the commit deletes that
		// row unless the transaction wrote the person.
		lockRow: r.Replace(`
INSERT INTO {{s}}.people AS p (id, data, updated_at) VALUES ($1, NULL, '-infinity')
ON CONFLICT (id) DO UPDATE SET data = p.data WHERE false
RETURNING true`),
		readOne: r.Replace(readRows(`= $1::uuid`) + `
UNION ALL
SELECT 2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, (SELECT coalesce(sum(revision), 0)::bigint FROM {{s}}.flows)`),
		// The people of a batch on one shard, read on it: = ANY of ids
		// that all hash into one shard is a router query.
		readShard: r.Replace(readRows(`= ANY ($1::uuid[])`) + `
UNION ALL
SELECT 2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, (SELECT coalesce(sum(revision), 0)::bigint FROM {{s}}.flows)`),
		keyOwner:          r.Replace(`SELECT person_id FROM {{s}}.person_keys WHERE key = $1`),
		participantPerson: r.Replace(`SELECT person_id FROM {{s}}.participant_ids WHERE id = $1`),
		participant:       r.Replace(`SELECT ` + partCols + ` FROM {{s}}.participants WHERE person_id = $1 AND id = $2`),
		eraseIDs:          r.Replace(`DELETE FROM {{s}}.participant_ids WHERE person_id = $1`),
		// The run of an audience page, a reference table, moved on by
		// what the page inserted.
		pageRun: r.Replace(`
UPDATE {{s}}.audience_runs
SET cursor_id = $2, scanned = scanned + $3, done = $4, finished_at = $5, entered = entered + $6
WHERE id = $1`),
	}
}

// byShard groups ids by the shard that holds them, in the order of the
// shards and, within one, of the ids: the order every batch takes its
// people's locks in, so that batches never wait on each other in a
// cycle.
func (m *shardMap) byShard(ids []uuid.UUID) [][]uuid.UUID {
	groups := map[int][]uuid.UUID{}
	for _, id := range ids {
		s := m.shard(id)
		groups[s] = append(groups[s], id)
	}
	out := make([][]uuid.UUID, 0, len(groups))
	for _, s := range slices.Sorted(maps.Keys(groups)) {
		g := groups[s]
		slices.SortFunc(g, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
		out = append(out, g)
	}
	return out
}

// earliestShards picks up to limit of the timers found in a distributed
// schema's shards, whole shards first: the shard that has the earliest
// timer (an orphan before any other), then the next, each shard's timers
// in due order and with their Timer.Shard set. The engine commits the
// timers of one shard in a batch, so that a claim of few timers spread
// over every shard would make batches of one or two people: a claim of
// a few shards' timers makes batches as large as the claim.
func (m *shardMap) earliestShards(found []store.Timer, limit int) [][]store.Timer {
	groups := m.timersByShard(found)
	for _, g := range groups {
		slices.SortStableFunc(g, timerOrder)
	}
	slices.SortStableFunc(groups, func(a, b []store.Timer) int { return timerOrder(a[0], b[0]) })
	n := 0
	for i, g := range groups {
		if n+len(g) >= limit {
			groups[i] = g[:limit-n]
			return groups[:i+1]
		}
		n += len(g)
	}
	return groups
}

// timerShard returns the store.Timer.Shard of person's timers: their
// shard's index plus one, since 0 means a store without shards.
func (m *shardMap) timerShard(person uuid.UUID) int { return m.shard(person) + 1 }

// timersByShard groups timers by the shard of their person, in shard
// order, each with its Timer.Shard set.
func (m *shardMap) timersByShard(ts []store.Timer) [][]store.Timer {
	groups := map[int][]store.Timer{}
	for _, t := range ts {
		t.Shard = m.timerShard(t.PersonID)
		groups[t.Shard] = append(groups[t.Shard], t)
	}
	out := make([][]store.Timer, 0, len(groups))
	for _, i := range slices.Sorted(maps.Keys(groups)) {
		out = append(out, groups[i])
	}
	return out
}

// lockShard is the statement that takes the locks of people of one
// shard (see distQueries.lockRow), in the order of ids, as one router
// query; it returns the ids it inserted placeholders for.
func lockShard(q string, ids []uuid.UUID) (string, []any) {
	var sql strings.Builder
	sql.WriteString(`INSERT INTO ` + q + `.people AS p (id, data, updated_at) VALUES `)
	args := make([]any, len(ids))
	for i, id := range ids {
		if i > 0 {
			sql.WriteString(", ")
		}
		fmt.Fprintf(&sql, "($%d::uuid, NULL, '-infinity')", i+1)
		args[i] = id
	}
	sql.WriteString(` ON CONFLICT (id) DO UPDATE SET data = p.data WHERE false RETURNING id`)
	return sql.String(), args
}

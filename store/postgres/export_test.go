package postgres

import (
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

// EncodePerson lets tests write people rows in bulk.
var EncodePerson = encodePerson

// ProcessID returns the key of the store's process in the processes
// table and the participants' caller column.
func ProcessID(s *Store) int32 { return s.live.proc }

// Liveness returns what the store's liveness keeper holds: its session
// (0 while disconnected) and how many buckets it owns.
func Liveness(s *Store) (session int64, buckets int) {
	session, owned, _, _ := s.live.state()
	return session, len(owned)
}

// Pool returns the store's pool.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// ShardOf returns the store.Timer.Shard of a person on a
// distributed schema.
func ShardOf(s *Store, id uuid.UUID) int { return s.dist.timerShard(id) }

// ReadOneSQL returns the statement a step reads its person's records
// with: the person, their participants (finished ones included) and the
// flows' revision.
func ReadOneSQL(s *Store) string { return s.sql.readOne }

// ParticipantsSQL returns the statement and arguments of a page of
// Store.Participants.
func ParticipantsSQL(s *Store, q *store.ParticipantQuery) (string, []any) {
	return s.participantsQuery(q)
}

// SchemaOf returns the store's schema name.
func SchemaOf(s *Store) string { return s.schema }

// Deadlocked reports whether err is PostgreSQL's deadlock_detected.
func Deadlocked(err error) bool { return deadlocked(err) }

package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Ticking a distributed schema.
//
// On Citus the buckets that processes own (see live.go) are the shards
// of the people's tables, one bucket per shard, and a process finds the
// due timers of a bucket it owns on that shard alone: it reads the
// participants shard's own table (participants_<shardid>) on the node
// that holds it, a query of one table on one server, without the
// coordinator. A query through the coordinator can be routed to one
// shard only by a value of the distribution column, which a search for
// due timers does not have. The claims are router updates by person id,
// as every step's statements are.
//
// Each ticking process so connects to the nodes that hold shards, as
// pg_dist_node names them, with the coordinator's credentials; a shard
// that moved (the rebalancer) is found again where it went.

// placements knows which node holds each shard of participants and
// keeps a small pool per node.
type placements struct {
	s *Store

	mu     sync.Mutex
	loaded bool
	tables []string // by shard index (shardMap order): the participants shard's table, quoted
	people []string // by shard index: the people shard's table, quoted
	nodes  []string // by shard index: its node, host:port
	pools  map[string]*pgxpool.Pool
}

// load reads where the shards are, unless known.
func (p *placements) load(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.loaded {
		return nil
	}
	rows, _ := p.s.pool.Query(ctx, `
SELECT c.relname::text, s.shardid, s.shardminvalue::integer, n.nodename, n.nodeport
FROM pg_dist_shard s
JOIN pg_class c ON c.oid = s.logicalrelid
JOIN pg_dist_placement pl ON pl.shardid = s.shardid
JOIN pg_dist_node n ON n.groupid = pl.groupid
WHERE s.logicalrelid IN ($1::regclass, $2::regclass) AND n.isactive
ORDER BY s.shardminvalue::integer`, p.s.q+".participants", p.s.q+".people")
	n := len(p.s.dist.mins)
	tables, people, nodes := make([]string, n), make([]string, n), make([]string, n)
	var rel, host string
	var id int64
	var low, port int32
	_, err := pgx.ForEachRow(rows, []any{&rel, &id, &low, &host, &port}, func() error {
		i := p.s.dist.shardOfHash(low)
		name := pgx.Identifier{p.s.schema, rel + "_" + strconv.FormatInt(id, 10)}.Sanitize()
		if rel == "people" {
			people[i] = name
		} else {
			tables[i] = name
		}
		// People and participants are co-located: their shards of one
		// hash range are on one node.
		nodes[i] = net.JoinHostPort(host, strconv.Itoa(int(port)))
		return nil
	})
	if err != nil {
		return fmt.Errorf("shard placements: %w", unavailable(err))
	}
	for i := range tables {
		if tables[i] == "" || people[i] == "" {
			return fmt.Errorf("shard placements: shard %d of %d has no active placement", i, n)
		}
	}
	p.tables, p.people, p.nodes, p.loaded = tables, people, nodes, true
	return nil
}

// failed returns the error of a query on the node at addr, after
// forgetting the placements when the query found a shard's table gone
// (the shard moved: they are looked up again next time).
func (p *placements) failed(addr string, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42P01" {
		p.forget()
	}
	return fmt.Errorf("node %s: %w", addr, unavailable(err))
}

// forget drops what load read, after a query found a shard gone.
func (p *placements) forget() {
	p.mu.Lock()
	p.loaded = false
	p.mu.Unlock()
}

// pool returns the pool of the node at addr, opening it once.
func (p *placements) pool(addr string) (*pgxpool.Pool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pl := p.pools[addr]; pl != nil {
		return pl, nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, err
	}
	cfg := p.s.pool.Config().Copy()
	cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Fallbacks = host, uint16(n), nil
	cfg.MaxConns, cfg.MinConns = 2, 0
	pl, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	if p.pools == nil {
		p.pools = map[string]*pgxpool.Pool{}
	}
	p.pools[addr] = pl
	return pl, nil
}

// close closes the nodes' pools.
func (p *placements) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pl := range p.pools {
		pl.Close()
	}
	p.pools = nil
}

// shardTimers are the statements that find the timers of one shard of a
// distributed schema, on its node (see findTimers): the table's name is
// filled in.
const shardTimers = `
(SELECT due_at, due_ns, person_id, id, true FROM %[1]s
 WHERE caller = ANY ($4::integer[]) AND status = 'inflight' AND due_at IS NOT NULL AND NOT parked
	AND (claimed_until IS NULL OR claimed_until <= $1 OR claimed_by <> ALL ($5::bigint[]))
 ORDER BY due_at, due_ns, id
 LIMIT $3)
UNION ALL
(SELECT due_at, due_ns, person_id, id, false FROM %[1]s
 WHERE due_at IS NOT NULL AND NOT parked AND (due_at, due_ns) <= ($1, $2)
	AND (claimed_until IS NULL OR claimed_until <= $1 OR claimed_by <> ALL ($5::bigint[]))
	AND NOT coalesce(caller = ANY ($4::integer[]), false)
 ORDER BY due_at, due_ns, id
 LIMIT $3)`

// findShardTimers finds the timers ClaimTimers may claim in the shards
// owned, one query per shard on the shard's node (the shards of one
// node in one round trip), in no particular order.
func (s *Store) findShardTimers(ctx context.Context, now []any, limit int, owned []int32, dead []int32, sessions []int64) ([]store.Timer, error) {
	p := s.placed
	if err := p.load(ctx); err != nil {
		return nil, err
	}
	p.mu.Lock()
	byNode := map[string][]string{}
	for _, b := range owned {
		if int(b) < len(p.tables) {
			byNode[p.nodes[b]] = append(byNode[p.nodes[b]], p.tables[b])
		}
	}
	p.mu.Unlock()
	var out []store.Timer
	for addr, tables := range byNode {
		pl, err := p.pool(addr)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", addr, err)
		}
		b := &pgx.Batch{}
		for _, t := range tables {
			b.Queue(fmt.Sprintf(shardTimers, t), now[0], now[1], limit, dead, sessions)
		}
		br := pl.SendBatch(ctx, b)
		for range tables {
			rows, _ := br.Query()
			var found []store.Timer
			if found, err = pgx.CollectRows(rows, scanClaimable); err != nil {
				break
			}
			out = append(out, found...)
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, p.failed(addr, err)
		}
	}
	return out, nil
}

// scanClaimable reads a row of the timer searches: a timer and whether
// it is a dead process's call in flight (store.Timer.Orphaned).
func scanClaimable(row pgx.CollectableRow) (store.Timer, error) {
	var t store.Timer
	var due time.Time
	var dueNS int16
	err := row.Scan(&due, &dueNS, &t.PersonID, &t.ParticipantID, &t.Orphaned)
	t.Due = joinTime(due, dueNS)
	return t, err
}

// peopleByShard lists the people of a distributed schema shard by shard,
// in the order of the shards' hash ranges and by ID within a shard: a
// page is a query of one shard's own table on its node (or of the next
// shards, where one runs out). A listing in ID order across shards would
// have the coordinator read a whole page from every shard for each page.
func (s *Store) peopleByShard(ctx context.Context, q *store.PeopleQuery) ([]*store.Person, error) {
	p := s.placed
	if err := p.load(ctx); err != nil {
		return nil, err
	}
	first, after := 0, q.After
	if after != uuid.Nil {
		first = s.dist.shard(after)
	}
	var out []*store.Person
	for i := first; i < len(s.dist.mins) && (q.Limit == 0 || len(out) < q.Limit); i++ {
		p.mu.Lock()
		table, addr := p.people[i], p.nodes[i]
		p.mu.Unlock()
		pl, err := p.pool(addr)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", addr, err)
		}
		sql := `SELECT id, data FROM ` + table + ` WHERE id > $1 AND data IS NOT NULL ORDER BY id`
		args := []any{after}
		if q.Limit > 0 {
			sql += ` LIMIT $2`
			args = append(args, q.Limit-len(out))
		}
		rows, _ := pl.Query(ctx, sql, args...)
		page, err := pgx.CollectRows(rows, scanPerson)
		if err != nil {
			return nil, p.failed(addr, err)
		}
		out = append(out, page...)
		after = uuid.Nil // the next shard from its first
	}
	return out, nil
}

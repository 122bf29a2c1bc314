package postgres

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// writes gathers what one or more transactions commit, column by column,
// so that one statement writes it all: each table's rows go in as arrays
// (unnest), as one data-modifying CTE of the statement. IDs are kept as
// [16]byte, which pgx encodes as it is: a uuid.UUID is a driver.Valuer,
// which pgx encodes through its text form.
type writes struct {
	people                  [][16]byte
	peopleData              []string
	peopleUpdated           []time.Time
	keysGoneOf, keysAddedOf [][16]byte
	keysGone, keysAdded     []string
	added, changed          partColumns
	removed, removedOf      [][16]byte
	// placeholders are the people whose lock rows (see queries.lockRow)
	// are to go: no person was written under them.
	placeholders             [][16]byte
	evPerson                 [][16]byte
	evID, evCategory, evName []string
	evTime                   []time.Time
	evNS                     []int16
	evData                   []*string
	counts                   []store.Counter
	shardOf                  uuid.UUID // whose counter shard the counts go to
}

// partColumns are participant rows as column arrays.
type partColumns struct {
	id, person            [][16]byte
	flow, status, element []string
	flowVersion           []int32
	due, entered          []*time.Time
	dueNS, enteredNS      []int16
	parked                []bool
	version               []int64
	data                  []string
	// calls is set for a participant that begins an attempt in flight:
	// this process makes its call (see callsNow).
	calls []bool
}

// callsNow reports whether the write of cur over stored (nil for a new
// participant) begins an attempt in flight, whose call the writing
// process is to make.
func callsNow(stored, cur *store.Participant) bool {
	if cur.Status != store.InFlight || cur.Effect == nil {
		return false
	}
	return stored == nil || stored.Status != store.InFlight || stored.Effect == nil ||
		stored.Effect.Seq != cur.Effect.Seq || stored.Effect.Attempt != cur.Effect.Attempt
}

// add appends p's row, which begins a call in flight when calls is set.
// A participant has a timer (due_at, due_ns, parked) while its Wait has
// an Until and it has not left its flow.
func (c *partColumns) add(p *store.Participant, calls bool) error {
	data, err := encodeParticipant(p)
	if err != nil {
		return err
	}
	var due *time.Time
	var dueNS int16
	parked := false
	if w := p.Wait; w != nil && !w.Until.IsZero() && !p.Status.Done() {
		at, ns := splitTime(w.Until)
		due, dueNS, parked = &at, ns, w.Parked
	}
	entered, enteredNS := splitTime(p.EnteredAt)
	c.id = append(c.id, p.ID)
	c.person = append(c.person, p.PersonID)
	c.flow = append(c.flow, p.FlowID)
	c.flowVersion = append(c.flowVersion, int32(p.FlowVersion))
	c.status = append(c.status, string(p.Status))
	c.element = append(c.element, p.Element)
	c.due = append(c.due, due)
	c.dueNS = append(c.dueNS, dueNS)
	c.parked = append(c.parked, parked)
	c.version = append(c.version, p.Version)
	c.data = append(c.data, string(data))
	c.entered = append(c.entered, &entered)
	c.enteredNS = append(c.enteredNS, enteredNS)
	c.calls = append(c.calls, calls)
	return nil
}

// add gathers a transaction's buffered writes.
func (w *writes) add(t *tx) error {
	if p := t.person; p != nil {
		data, err := encodePerson(p)
		if err != nil {
			return err
		}
		w.people = append(w.people, p.ID)
		w.peopleData = append(w.peopleData, string(data))
		w.peopleUpdated = append(w.peopleUpdated, p.UpdatedAt)
		var old []string
		if t.stored != nil {
			old = keyStrings(t.stored)
		}
		cur := keyStrings(p)
		for _, k := range minus(old, cur) {
			w.keysGoneOf, w.keysGone = append(w.keysGoneOf, p.ID), append(w.keysGone, k)
		}
		for _, k := range minus(cur, old) {
			w.keysAddedOf, w.keysAdded = append(w.keysAddedOf, p.ID), append(w.keysAdded, k)
		}
	} else if t.placeholder {
		w.placeholders = append(w.placeholders, t.personID)
	}
	for _, ps := range t.parts {
		switch {
		case ps.removed:
			if ps.stored != nil {
				w.removed = append(w.removed, ps.stored.ID)
				w.removedOf = append(w.removedOf, t.personID)
			}
		case !ps.dirty:
		case ps.stored == nil:
			if err := w.added.add(ps.cur, callsNow(nil, ps.cur)); err != nil {
				return err
			}
		default:
			if err := w.changed.add(ps.cur, callsNow(ps.stored, ps.cur)); err != nil {
				return err
			}
		}
	}
	if err := w.addEvents(t); err != nil {
		return err
	}
	if len(t.counts) > 0 && w.shardOf == uuid.Nil {
		w.shardOf = t.personID
	}
	w.counts = append(w.counts, t.counts...)
	return nil
}

// addEvents gathers a transaction's events to insert.
func (w *writes) addEvents(t *tx) error {
	for _, e := range t.events {
		data, err := encodeEventData(e)
		if err != nil {
			return err
		}
		var d *string
		if data != nil {
			s := string(data)
			d = &s
		}
		at, ns := splitTime(e.Time)
		w.evPerson = append(w.evPerson, t.personID)
		w.evID = append(w.evID, e.ID)
		w.evTime = append(w.evTime, at)
		w.evNS = append(w.evNS, ns)
		w.evCategory = append(w.evCategory, string(e.Category))
		w.evName = append(w.evName, e.Name)
		w.evData = append(w.evData, d)
	}
	return nil
}

// calls reports whether the writes begin a call in flight, which the
// process's liveness must cover.
func (w *writes) calls() bool {
	return slices.Contains(w.added.calls, true) || slices.Contains(w.changed.calls, true)
}

// The statements that queue combines, in their order in the statement;
// bit i of a writeSet is set when statement i has rows to write.
const (
	writePeople = iota
	writeKeysGone
	writeKeysAdded
	writeAdded
	writeChanged
	writeRemoved
	writeEvents
	writeCounts
	nWrites
)

// writeSet says which of the statements queue combines a write has.
type writeSet uint16

// writeSQL returns the statement that writes the parts in set, built once
// per store: the data-modifying CTEs of those parts, their parameters
// numbered on in order.
func (s *Store) writeSQL(set writeSet) string {
	if p := s.writeSQLs[set].Load(); p != nil {
		return *p
	}
	var sql strings.Builder
	params, ctes := 0, 0
	for i := range nWrites {
		if set&(1<<i) == 0 {
			continue
		}
		if ctes == 0 {
			sql.WriteString("WITH ")
		} else {
			sql.WriteString(",\n")
		}
		body, n := renumber(writeCTE(i, s.q), params)
		fmt.Fprintf(&sql, "w%d AS (%s)", ctes, body)
		params = n
		ctes++
	}
	sql.WriteString("\nSELECT 1")
	str := sql.String()
	s.writeSQLs[set].Store(&str)
	return str
}

// writeCTE returns the body of statement i of queue for schema q, its
// parameters numbered from $1.
func writeCTE(i int, q string) string {
	switch i {
	case writePeople:
		return `INSERT INTO ` + q + `.people AS p (id, data, updated_at)
SELECT id, data::json, updated_at FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) AS u(id, data, updated_at)
ON CONFLICT (id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at`
	case writeKeysGone:
		return `DELETE FROM ` + q + `.person_keys WHERE (person_id, key) IN (SELECT * FROM unnest($1::uuid[], $2::text[]))`
	case writeKeysAdded:
		// A plain insert: a key of another person fails with a unique
		// violation, which rolls the whole commit back as ErrConflict.
		return `INSERT INTO ` + q + `.person_keys (key, person_id) SELECT * FROM unnest($1::text[], $2::uuid[])`
	case writeAdded:
		// A plain insert too: an ID another person's participant holds is
		// ErrDuplicate.
		return `INSERT INTO ` + q + `.participants (id, person_id, flow_id, flow_version, status, element, due_at, due_ns, parked, version, data, entered_at, entered_ns, caller)
SELECT id, person_id, flow_id, flow_version, status, element, due_at, due_ns, parked, version, data::json, entered_at, entered_ns,
	CASE WHEN calls THEN $15::integer END
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::integer[], $5::text[], $6::text[], $7::timestamptz[], $8::smallint[],
	$9::boolean[], $10::bigint[], $11::text[], $12::timestamptz[], $13::smallint[], $14::boolean[])
	AS u(id, person_id, flow_id, flow_version, status, element, due_at, due_ns, parked, version, data, entered_at, entered_ns, calls)`
	case writeChanged:
		return `UPDATE ` + q + `.participants AS t
SET ` + partSet("t", func(col string) string { return "u." + col }, "$14::integer") + `
FROM unnest($1::uuid[], $2::text[], $3::integer[], $4::text[], $5::text[], $6::timestamptz[], $7::smallint[],
	$8::boolean[], $9::bigint[], $10::text[], $11::timestamptz[], $12::smallint[], $13::boolean[])
	AS u(id, flow_id, flow_version, status, element, due_at, due_ns, parked, version, data, entered_at, entered_ns, calls)
WHERE t.id = u.id`
	case writeRemoved:
		return `DELETE FROM ` + q + `.participants WHERE id = ANY ($1::uuid[])`
	case writeEvents:
		// In the order added, which the seq column keeps among events of
		// the same time.
		return `INSERT INTO ` + q + `.events (person_id, id, time, time_ns, category, name, data)
SELECT person_id, id, time, time_ns, category, name, data::json
FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::smallint[], $5::text[], $6::text[], $7::text[])
	WITH ORDINALITY AS u(person_id, id, time, time_ns, category, name, data, i)
ORDER BY i`
	default: // writeCounts
		// In the order of the arrays (sumCounters'), so that transactions
		// lock counter rows in one order.
		return `INSERT INTO ` + q + `.counters AS c (flow_id, flow_version, element, key, shard, n)
SELECT f, v, e, k, $5, n FROM unnest($1::text[], $2::integer[], $3::text[], $4::text[], $6::bigint[]) WITH ORDINALITY AS u(f, v, e, k, n, i)
ORDER BY i
ON CONFLICT (flow_id, flow_version, element, key, shard) DO UPDATE SET n = c.n + excluded.n`
	}
}

// queue adds the statement that writes everything gathered to b, if
// there is anything to write.
func (w *writes) queue(b *pgx.Batch, s *Store) {
	if w.calls() {
		// Other processes learn that this one died from its liveness
		// lock, which the keeper takes.
		s.live.startAsync()
	}
	if s.dist != nil {
		w.queueDistributed(b, s)
		return
	}
	var set writeSet
	var args []any
	part := func(i int, params ...any) {
		set |= 1 << i
		args = append(args, params...)
	}
	if len(w.people) > 0 {
		part(writePeople, w.people, w.peopleData, w.peopleUpdated)
	}
	if len(w.keysGone) > 0 {
		part(writeKeysGone, w.keysGoneOf, w.keysGone)
	}
	if len(w.keysAdded) > 0 {
		part(writeKeysAdded, w.keysAdded, w.keysAddedOf)
	}
	if c := &w.added; len(c.id) > 0 {
		part(writeAdded, c.id, c.person, c.flow, c.flowVersion, c.status, c.element, c.due, c.dueNS, c.parked, c.version, c.data, c.entered, c.enteredNS,
			c.calls, s.live.proc)
	}
	var one []any // a single changed participant: see queries.updatePart
	if c := &w.changed; len(c.id) == 1 {
		one = []any{c.id[0], c.flow[0], c.flowVersion[0], c.status[0], c.element[0], c.due[0], c.dueNS[0], c.parked[0], c.version[0],
			c.data[0], c.entered[0], c.enteredNS[0], c.calls[0], s.live.proc}
	} else if len(c.id) > 0 {
		part(writeChanged, c.id, c.flow, c.flowVersion, c.status, c.element, c.due, c.dueNS, c.parked, c.version, c.data, c.entered, c.enteredNS,
			c.calls, s.live.proc)
	}
	if len(w.removed) > 0 {
		part(writeRemoved, w.removed)
	}
	if len(w.evID) > 0 {
		part(writeEvents, w.evPerson, w.evID, w.evTime, w.evNS, w.evCategory, w.evName, w.evData)
	}
	if cs := sumCounters(w.counts); len(cs) > 0 {
		flows, versions, elements, keys, ns := make([]string, len(cs)), make([]int32, len(cs)), make([]string, len(cs)), make([]string, len(cs)), make([]int64, len(cs))
		for i, c := range cs {
			flows[i], versions[i], elements[i], keys[i], ns[i] = c.FlowID, int32(c.FlowVersion), c.Element, c.Key, c.N
		}
		part(writeCounts, flows, versions, elements, keys, int(w.shardOf[15])%s.shards, ns)
	}
	if set != 0 {
		b.Queue(s.writeSQL(set), args...)
	}
	if one != nil {
		b.Queue(s.sql.updatePart, one...)
	}
}

// renumber shifts the $N parameters of a CTE's body by n, and returns
// the highest parameter number of the result (n when it has none).
func renumber(body string, n int) (string, int) {
	var out strings.Builder
	top := n
	for i := 0; i < len(body); i++ {
		if body[i] != '$' {
			out.WriteByte(body[i])
			continue
		}
		j := i + 1
		k := 0
		for j < len(body) && body[j] >= '0' && body[j] <= '9' {
			k = k*10 + int(body[j]-'0')
			j++
		}
		if j == i+1 {
			out.WriteByte('$')
			continue
		}
		fmt.Fprintf(&out, "$%d", k+n)
		top = max(top, k+n)
		i = j - 1
	}
	return out.String(), top
}

// partSet returns the SET list of an update of the participant row t to
// the values val gives for its columns (the rows written, or
// parameters), proc being this process's number. A write that moves the
// timer drops its claim. The caller is this process when the write
// begins an attempt in flight (val("calls")), kept while the
// participant stays in flight, else cleared.
func partSet(t string, val func(col string) string, proc string) string {
	var b strings.Builder
	for _, col := range []string{"flow_id", "flow_version", "status", "element", "due_at", "due_ns", "parked", "version", "data", "entered_at", "entered_ns"} {
		v := val(col)
		if col == "data" {
			v += "::json"
		}
		fmt.Fprintf(&b, "%s = %s, ", col, v)
	}
	same := fmt.Sprintf("%[1]s.due_at IS NOT DISTINCT FROM %[2]s AND %[1]s.due_ns = %[3]s AND %[1]s.parked = %[4]s",
		t, val("due_at"), val("due_ns"), val("parked"))
	fmt.Fprintf(&b, `
	claimed_until = CASE WHEN %[2]s THEN %[1]s.claimed_until END,
	claimed_by = CASE WHEN %[2]s THEN %[1]s.claimed_by END,
	caller = CASE WHEN %[3]s THEN %[4]s WHEN %[5]s = 'inflight' THEN %[1]s.caller END`, t, same, val("calls"), proc, val("status"))
	return b.String()
}

// queueDistributed is queue for a distributed schema (Citus): Citus
// routes an INSERT of VALUES, and an UPDATE or DELETE that names its
// distribution value, to the one shard that holds the rows, but sends an
// INSERT ... SELECT FROM unnest(...) through the coordinator and runs a
// statement of CTEs over several tables as several distributed plans.
// So each table gets statements of its own, all in the one batch: those
// of one person's writes go to that person's shard, except the rows of
// person_keys and participant_ids, which live on the shard of the key or
// participant id they are keyed by.
func (w *writes) queueDistributed(b *pgx.Batch, s *Store) {
	q := s.q
	if n := len(w.people); n > 0 {
		rows := make([][]any, n)
		for i := range rows {
			rows[i] = []any{w.people[i], w.peopleData[i], w.peopleUpdated[i]}
		}
		queueValues(b, `INSERT INTO `+q+`.people AS p (id, data, updated_at) VALUES `, `($%d::uuid, $%d::text::json, $%d::timestamptz)`, rows,
			` ON CONFLICT (id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at`)
	}
	for _, id := range w.placeholders {
		b.Queue(`DELETE FROM `+q+`.people WHERE id = $1 AND data IS NULL`, id)
	}
	for i, k := range w.keysGone {
		b.Queue(`DELETE FROM `+q+`.person_keys WHERE key = $1 AND person_id = $2`, k, w.keysGoneOf[i])
	}
	if n := len(w.keysAdded); n > 0 {
		rows := make([][]any, n)
		for i := range rows {
			rows[i] = []any{w.keysAdded[i], w.keysAddedOf[i]}
		}
		queueValues(b, `INSERT INTO `+q+`.person_keys (key, person_id) VALUES `, `($%d::text, $%d::uuid)`, rows, "")
	}
	if c := &w.added; len(c.id) > 0 {
		rows := make([][]any, len(c.id))
		var ids [][]any
		for i := range rows {
			rows[i] = []any{c.id[i], c.person[i], c.flow[i], c.flowVersion[i], c.status[i], c.element[i], c.due[i], c.dueNS[i],
				c.parked[i], c.version[i], c.data[i], c.entered[i], c.enteredNS[i], callerOf(c.calls[i], s.live.proc)}
			ids = append(ids, []any{c.id[i], c.person[i]})
		}
		// A plain insert: an ID another person's participant holds is
		// refused by participant_ids, on the ID's shard, as ErrDuplicate.
		queueValues(b, `INSERT INTO `+q+`.participant_ids (id, person_id) VALUES `, `($%d::uuid, $%d::uuid)`, ids, "")
		queueValues(b, `INSERT INTO `+q+`.participants (id, person_id, flow_id, flow_version, status, element, due_at, due_ns, parked, version, data, entered_at, entered_ns, caller) VALUES `,
			`($%d::uuid, $%d::uuid, $%d::text, $%d::integer, $%d::text, $%d::text, $%d::timestamptz, $%d::smallint, $%d::boolean, $%d::bigint, $%d::text::json, $%d::timestamptz, $%d::smallint, $%d::integer)`,
			rows, "")
	}
	if c := &w.changed; len(c.id) > 0 {
		// The rows of one shard go in one statement: = ANY of people of
		// one shard makes it a router query.
		shards := map[int]*partColumns{}
		for i, p := range c.person {
			sh := s.dist.shard(p)
			g := shards[sh]
			if g == nil {
				g = &partColumns{}
				shards[sh] = g
			}
			g.id, g.person, g.flow = append(g.id, c.id[i]), append(g.person, p), append(g.flow, c.flow[i])
			g.flowVersion, g.status = append(g.flowVersion, c.flowVersion[i]), append(g.status, c.status[i])
			g.element, g.due, g.dueNS = append(g.element, c.element[i]), append(g.due, c.due[i]), append(g.dueNS, c.dueNS[i])
			g.parked, g.version, g.data = append(g.parked, c.parked[i]), append(g.version, c.version[i]), append(g.data, c.data[i])
			g.entered, g.enteredNS = append(g.entered, c.entered[i]), append(g.enteredNS, c.enteredNS[i])
			g.calls = append(g.calls, c.calls[i])
		}
		for _, sh := range slices.Sorted(maps.Keys(shards)) {
			g := shards[sh]
			b.Queue(`UPDATE `+q+`.participants AS p
SET `+partSet("p", func(col string) string { return "v." + col }, "$15::integer")+`
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::integer[], $5::text[], $6::text[], $7::timestamptz[], $8::smallint[],
	$9::boolean[], $10::bigint[], $11::text[], $12::timestamptz[], $13::smallint[], $14::boolean[])
	AS v (person_id, id, flow_id, flow_version, status, element, due_at, due_ns, parked, version, data, entered_at, entered_ns, calls)
WHERE p.person_id = ANY ($1::uuid[]) AND p.person_id = v.person_id AND p.id = v.id`,
				g.person, g.id, g.flow, g.flowVersion, g.status, g.element, g.due, g.dueNS,
				g.parked, g.version, g.data, g.entered, g.enteredNS, g.calls, s.live.proc)
		}
	}
	for i, id := range w.removed {
		b.Queue(`DELETE FROM `+q+`.participants WHERE person_id = $1 AND id = $2`, w.removedOf[i], id)
		b.Queue(`DELETE FROM `+q+`.participant_ids WHERE id = $1 AND person_id = $2`, id, w.removedOf[i])
	}
	if n := len(w.evID); n > 0 {
		rows := make([][]any, n)
		for i := range rows {
			rows[i] = []any{w.evPerson[i], w.evID[i], w.evTime[i], w.evNS[i], w.evCategory[i], w.evName[i], w.evData[i]}
		}
		// In the order added, which the seq column keeps among events of
		// the same time.
		queueValues(b, `INSERT INTO `+q+`.events (person_id, id, time, time_ns, category, name, data) VALUES `,
			`($%d::uuid, $%d::text, $%d::timestamptz, $%d::smallint, $%d::text, $%d::text, $%d::text::json)`, rows, "")
	}
	if cs := sumCounters(w.counts); len(cs) > 0 {
		bucket := s.dist.bucket(w.shardOf)
		rows := make([][]any, len(cs))
		for i, c := range cs {
			rows[i] = []any{bucket, c.FlowID, int32(c.FlowVersion), c.Element, c.Key, c.N}
		}
		// The rows of the person's shard's bucket, in sumCounters'
		// order, so that transactions lock them in one order.
		queueValues(b, `INSERT INTO `+q+`.counters AS c (bucket, flow_id, flow_version, element, key, shard, n) VALUES `,
			`($%d::uuid, $%d::text, $%d::integer, $%d::text, $%d::text, 0, $%d::bigint)`, rows,
			` ON CONFLICT (bucket, flow_id, flow_version, element, key, shard) DO UPDATE SET n = c.n + excluded.n`)
	}
}

// valuesPerStatement bounds the rows of one INSERT of VALUES, so that its
// parameters stay under PostgreSQL's limit of 65,535.
const valuesPerStatement = 2000

// queueValues queues head + the rows as a VALUES list + tail, in
// statements of at most valuesPerStatement rows. row is the format of a
// row, with a %d for each of its parameters.
func queueValues(b *pgx.Batch, head, row string, rows [][]any, tail string) {
	for len(rows) > 0 {
		n := min(len(rows), valuesPerStatement)
		var sql strings.Builder
		sql.WriteString(head)
		args := make([]any, 0, n*len(rows[0]))
		nums := make([]any, len(rows[0]))
		for i, r := range rows[:n] {
			if i > 0 {
				sql.WriteString(", ")
			}
			for j := range nums {
				nums[j] = len(args) + j + 1
			}
			fmt.Fprintf(&sql, row, nums...)
			args = append(args, r...)
		}
		sql.WriteString(tail)
		b.Queue(sql.String(), args...)
		rows = rows[n:]
	}
}

// callerOf returns the process that makes a new participant's call in
// flight: proc when the write begins one, else nil.
func callerOf(calls bool, proc int32) any {
	if calls {
		return proc
	}
	return nil
}

// Package postgres is the scale-out flowkit Store: every record in one
// PostgreSQL database (through pgx), shared by any number of host
// processes. Any process may deliver events, enter people or tick; killing
// one loses nothing that committed.
//
//	s, err := postgres.New(ctx, postgres.Config{URL: "postgres://..."})
//	eng, err := flow.NewEngine(flow.Config{Store: s, Clock: clock.Real{}})
//
// # Schema
//
// New creates (see Store.Migrate) these tables in Config.Schema:
//
//   - flows, flow_versions: flow states and published documents.
//   - people: one row per person, the profile as a JSON document.
//   - person_keys: the external id, phones and emails of people, the
//     latter two normalized (see store.Person.Keys);
//     its primary key makes each name one person.
//   - participants: one row per participation, with the columns queries
//     need (person, flow, status, timer, entrance) and the rest as JSON; indexed by
//     person, by (flow_id, id) for listing, and by due time for timers
//     (only rows with an unparked timer).
//   - events: each person's history, keyed by (person_id, id) so that an
//     event ID is refused a second time; indexed by (person_id, time).
//   - counters: per-element statistics, spread over a few shard rows each
//     (see Config.CounterShards) and summed on read.
//
// # Transactions
//
// Store.Update is one database transaction that first takes an advisory
// lock on the person, so updates of one person serialize across processes
// and updates of different people run in parallel. It costs two round
// trips: one begins, takes the lock and reads the person, their
// participants and the flows' revision (Tx.FlowsRevision); the other
// writes everything buffered, every table in one statement of
// data-modifying CTEs over arrays, and commits. Reads inside see the
// transaction's own writes. Counters are incremented in that transaction
// too. Store.UpdateRef (store.RefUpdater) looks the person's key up in
// the first round trip, and Store.UpdateBatch (store.BatchUpdater) runs
// the transactions of many people in one database transaction of three
// round trips, which is how the engine fires due timers.
//
// # Connections and processes
//
// An Update holds one connection of the pool while its function runs,
// and nothing else: the engine keeps flow states cached (checked against
// the revision the transaction reads), and calls outside (HTTP, senders)
// between two short Updates rather than inside one. Size the pool (pool_max_conns in a URL) for the parallelism wanted.
//
// Every process may deliver events and enter people, and any number may
// tick. The engine takes due timers with Store.ClaimTimers
// (store.TimerClaimer), which marks each claimed row (claimed_until) with
// FOR UPDATE SKIP LOCKED, so tickers running at once take different
// timers; a timer whose step failed is claimed again when its lease ends.
// The engine re-checks each timer inside the person's Update as well, so
// a timer fires once even where leases overlap.
//
// # Values and times
//
// Records are stored as JSON (the json type, not jsonb: it keeps any Go
// string, "\u0000" included). Values of the flowkit types round-trip with
// their Go types: a time.Time inside custom attributes, variables, wait
// state or event properties is written with a type tag, since JSON has no
// time type. Times are stored as timestamptz in UTC plus, where the engine
// compares them exactly (timers, entrances, event and flow times), a
// column with the nanoseconds a timestamptz drops; they come back in UTC,
// to the nanosecond. Every time comes from the caller: the database's
// now() is never used.
//
// # Erasure and retention
//
// Store.Erase (store.Eraser) deletes a person's rows from people,
// person_keys, participants and events in one transaction. PruneEvents
// (store.HistoryPruner) is one DELETE of old events that spares those at
// or after the entrance of a participant still in its flow; it scans the
// events table, so run it off-peak.
package postgres

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
//   - audience_runs: the progress of bulk entries; operation_runs: the
//     progress of bulk operations on participants (cancel, retry); paces:
//     sending-speed budgets, one row per key; decisions: the decisions of
//     experiments, one row per decided split, written once (the first
//     process's insert wins, and moves the flow's revision).
//   - inbox: calls hosts recorded in their own transactions
//     (store.Inbox: RecordInbox takes a pgx.Tx or a *sql.Tx), keyed by
//     (person_id, id), pending until the person's transaction that runs
//     one marks it done, kept after with what it did; recording
//     notifies a channel of the schema's, which InboxWake listens to.
//
// # The distributed layout (Citus)
//
// On a database with the citus extension, New distributes a new schema's
// tables over the cluster's workers (Config.Layout; LayoutLocal keeps
// plain tables there). Every step of a person then runs on the one shard
// that holds that person:
//
//   - people (by id), participants, events and counters are distributed
//     and co-located by the person's id: a person's rows are on one
//     shard. participants are keyed by (person_id, id); participant_ids,
//     distributed by participant id, keeps participant IDs unique across
//     people and routes Store.Participant, given an ID alone: it reads
//     the person there, then the participant on the person's shard.
//     counters have a bucket column, the shard's, and a step counts into
//     its person's shard's bucket; Counters sums the shards. inbox is
//     distributed by person_id too: a call recorded for a person the
//     host's transaction does not find by key is routed by an id derived
//     from the key, under which the engine then creates them, so the
//     call and the person's rows share a shard.
//   - person_keys is distributed by the key, and paces by theirs: a
//     lookup by key is one shard's.
//   - flows, flow_versions, audience_runs, operation_runs and decisions
//     are reference tables, copied to every node: each step reads the flows'
//     revision where it runs.
//
// A step's transaction (Update, UpdateRef, and UpdateBatch over people
// of one shard) is router queries only, each of one shard; its writes go
// in one batch of statements, one or a few per table, in one round trip
// (Citus would send a statement of CTEs over several tables through the
// coordinator). Its person's lock is the person's people row, locked on
// their shard: an upsert inserts a row without data for a person who has
// none yet, which a commit that writes no person deletes, so it is never
// seen. Three kinds of step touch another shard as well: one that gives
// a person a key they did not have (creating a person under a new
// external id, phone or email, or changing one) writes the key's row on
// the key's shard; one that creates a participant writes its ID's row in
// participant_ids; UpdateRef reads the key's row before and after the
// lock. Citus commits those with two-phase commit where the shards are on
// different workers. UpdateBatch over people of several shards takes
// their locks, reads them and updates their participants with a
// statement per shard. Listings (People, Participants of a flow),
// counter sums, NextDue, pruning and erasure ask every shard. A ticking
// process owns shards rather than buckets (see "Connections and
// processes") and finds the due timers of each shard it owns in that
// shard's own table on the node that holds it (participants_<shardid>,
// located through pg_dist_shard and pg_dist_node), one query per shard
// without the coordinator, so ticking processes must reach the workers
// under the names pg_dist_node gives them, with the coordinator's
// credentials. A page
// of an audience run registers its participants' IDs with one multi-row
// INSERT, which Citus splits by shard, and copies the participants in
// (COPY), so that no row goes through the coordinator's INSERT ...
// SELECT.
//
// A schema of plain tables keeps its layout on a database that gets the
// citus extension later. To move one to Citus: install Citus on the
// server and on the workers, CREATE EXTENSION citus, add the workers
// (citus_add_node), stop the hosts' processes, then run New (or Migrate)
// once with Config.Layout set to LayoutDistributed: in one transaction it
// rekeys participants and counters, fills participant_ids and makes each
// table distributed or a reference table, copying its rows to the
// shards. Then start the hosts again; every process follows the schema's
// layout. Rebalance the shards over new workers with Citus's
// citus_rebalance_start.
//
// # Transactions
//
// Store.Update is one database transaction that first takes an advisory
// lock on the person (on Citus, their people row's lock), so updates of
// one person serialize across processes and updates of different people
// run in parallel. It costs two round
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
// tick. People fall in 64 buckets by their id (participants.bucket), or
// on Citus in the shards, and each bucket (or shard) is owned by one ticking process at a time, through a
// session-level advisory lock that a connection of the store's own holds
// (see live.go): Store.ClaimTimers (store.TimerClaimer) looks only in the
// buckets its process owns and claims each timer with a single-row update
// by person and participant id (claimed_until, claimed_by), so tickers
// take different timers without row locks across the table. A timer
// whose step failed is claimed again when its lease ends. The engine
// re-checks each timer inside the person's Update as well, so a timer
// fires once even where claims overlap.
//
// The same connection holds a lock per process while it lives, which the
// server drops with the connection: when a process dies, its buckets pass
// to the others within a keeper round (100ms), the timers it claimed are
// free at once, and its calls in flight (participants.caller) are handed
// out at once as orphaned (store.Timer.Orphaned), whatever their leases;
// a slow call of a live process keeps its lease. After a database
// restart, claims made before it are free as soon as the database
// answers, and a process keeps its calls in flight if it takes its lock
// again within two seconds of the first process that does. Store.Close
// ends the connection, handing the process's work over the same way.
// Errors of a connection that broke or could not be made wrap
// store.ErrUnavailable.
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

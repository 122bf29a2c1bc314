package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"

	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/postgres"
)

// storeFlags are the flags that name a PostgreSQL store.
type storeFlags struct{ url, schema *string }

func addStoreFlags(fs *flag.FlagSet, what string) storeFlags {
	return storeFlags{
		url:    fs.String("postgres", "", "the PostgreSQL `URL` of the store "+what+" (required)"),
		schema: fs.String("postgres-schema", "flowkit", "the database `schema` of the store"),
	}
}

// engine opens the store, leaving its schema as it is, and an engine of
// the built-in kinds over it.
func (sf storeFlags) engine(ctx context.Context) (*flow.Engine, func(), error) {
	st, err := postgres.New(ctx, postgres.Config{URL: *sf.url, Schema: *sf.schema, SkipMigrate: true})
	if err != nil {
		return nil, nil, err
	}
	eng, err := flow.NewEngine(flow.Config{Store: st})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return eng, st.Close, nil
}

// runDeploy deploys a flow document to a PostgreSQL store, as
// Engine.DeployWith does at a service's start-up.
func runDeploy(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("deploy", stderr)
	sf := addStoreFlags(fs, "to deploy to")
	migrate := fs.Bool("migrate", false, "migrate the participants of earlier versions to the deployed one by element id")
	republish := fs.Bool("republish", false, "publish the document again when an earlier version, not the latest, has it (a rollback)")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 || *sf.url == "" {
		return usageError(stderr, fs, err, "name one flow document and the store's -postgres URL")
	}
	data, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, "flowkit deploy:", err)
		return exitProblem
	}
	f, err := flow.Parse(data)
	if err != nil {
		fmt.Fprintf(stderr, "flowkit deploy: %s: %v (flowkit validate shows every problem)\n", fs.Arg(0), err)
		return exitProblem
	}
	eng, closeStore, err := sf.engine(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "flowkit deploy:", err)
		return exitProblem
	}
	defer closeStore()
	o := flow.DeployOptions{Republish: *republish}
	if *migrate {
		o.Waiting = flow.MigrateWaiting
	}
	res, err := eng.DeployWith(ctx, f, o)
	if res != nil {
		switch {
		case res.Published:
			fmt.Fprintf(stdout, "flow %s: published version %d\n", f.ID, res.Version)
		case res.Matched == res.Version:
			fmt.Fprintf(stdout, "flow %s: version %d has this document already\n", f.ID, res.Version)
		default:
			fmt.Fprintf(stdout, "flow %s: version %d had this document; the latest stays version %d (-republish publishes it again)\n", f.ID, res.Matched, res.Version)
		}
		for _, m := range res.Migrations {
			fmt.Fprintf(stdout, "  migrated to version %d: %d moved, %d refused, %d exited\n", res.Version, m.Moved, m.Refused, m.Exited)
			printCounts(stdout, "    refused: ", m.Refusals)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "flowkit deploy:", err)
		return exitProblem
	}
	return exitOK
}

// runCancel cancels participants of a flow in a PostgreSQL store, as
// Engine.Operate does.
func runCancel(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("cancel", stderr)
	sf := addStoreFlags(fs, "whose participants to cancel")
	op := flow.Operation{Action: flow.Cancel}
	fs.StringVar(&op.FlowID, "flow", "", "the flow's `id` (required)")
	fs.StringVar(&op.Name, "name", "", "the operation's `name`: the same name resumes it (required, but for -dry-run)")
	fs.IntVar(&op.Select.Version, "version", 0, "only participants of this `version`")
	fs.StringVar(&op.Select.Element, "element", "", "only participants at this element `id`")
	fs.StringVar(&op.Select.Reason, "reason", "", "only participants whose reason contains this `text`")
	status := fs.String("status", "", "only participants of this `status` (active, waiting or inflight)")
	person := fs.String("person", "", "only the participants of the person of this external `id`")
	fs.BoolVar(&op.DryRun, "dry-run", false, "report who would be canceled, and change nothing")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 || *sf.url == "" || op.FlowID == "" {
		return usageError(stderr, fs, err, "name the store's -postgres URL and the -flow")
	}
	if *status != "" {
		op.Select.Statuses = []store.Status{store.Status(*status)}
	}
	if *person != "" {
		op.Select.Person = store.PersonRef{ExternalID: *person}
	}
	eng, closeStore, err := sf.engine(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "flowkit cancel:", err)
		return exitProblem
	}
	defer closeStore()
	op.MaxRows = -1
	rep, err := eng.Operate(ctx, op)
	if rep != nil {
		switch {
		case rep.DryRun:
			fmt.Fprintf(stdout, "dry run: %d would be canceled, %d refused\n", rep.Changed, rep.Refused)
		default:
			resumed := ""
			if rep.Resumed {
				resumed = " (resumed)"
			}
			fmt.Fprintf(stdout, "operation %s%s: %d of %d canceled, %d refused, done: %v\n", rep.Name, resumed, rep.Changed, rep.Total, rep.Refused, rep.Done)
		}
		printCounts(stdout, "  refused: ", rep.Refusals)
	}
	if err != nil {
		fmt.Fprintln(stderr, "flowkit cancel:", err)
		return exitProblem
	}
	return exitOK
}

// printCounts prints counts by reason, one a line, in order.
func printCounts(w io.Writer, prefix string, counts map[string]int) {
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		fmt.Fprintf(w, "%s%d %s\n", prefix, counts[k], k)
	}
}

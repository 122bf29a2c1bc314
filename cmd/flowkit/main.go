// Command flowkit checks, draws and tries out flowkit flow documents.
//
//	flowkit validate [-attributes FILE] FILE...
//	flowkit graph [-postgres URL] FILE
//	flowkit simulate -script SCRIPT [-json] FILE
//	flowkit schema
//	flowkit deploy -postgres URL [-migrate] [-republish] FILE
//	flowkit cancel -postgres URL -flow ID -name NAME [-version N] [-element ID] [-status S] [-reason TEXT] [-person ID] [-dry-run]
//	flowkit experiments -postgres URL -flow ID [-json]
//
// validate prints every problem of each flow document as
// FILE:LINE:COL: element "id" field: message, with a suggestion for a
// misspelt name, and exits with status 1 when there is any. graph prints
// a Mermaid flowchart of the flow, with a PostgreSQL store's per-element
// counts when given one. simulate runs the flow on the memory store and a
// fake clock against a scripted timeline and prints each person's
// journey. schema prints the JSON Schema of flow documents. deploy
// publishes a flow document to a PostgreSQL store unless a version has it
// already, optionally migrating waiting participants (Engine.DeployWith);
// cancel cancels participants of a flow in bulk, resumable by its name
// (Engine.Operate); experiments prints each experiment of a flow (its
// variants' participants, conversions, rates with their confidence
// intervals, lift and significance against the control, and the winner
// once decided, Engine.Experiments). A bulk retry runs the failed elements, which call the
// host's services (its Sender, HTTP client and settings): run it in the
// host, through its engine.
//
// Install it with
//
//	go install github.com/flowkit/flowkit/cmd/flowkit@latest
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
)

// Exit statuses.
const (
	exitOK      = 0
	exitProblem = 1 // a document or script has problems, or a run failed
	exitUsage   = 2
)

const usage = `usage:
  flowkit validate [-attributes FILE] FILE...   report every problem of flow documents
  flowkit graph [-postgres URL] FILE            print a Mermaid flowchart of a flow
  flowkit simulate -script SCRIPT [-json] FILE  run a flow against a scripted timeline
  flowkit schema                                print the JSON Schema of flow documents
  flowkit deploy -postgres URL [-migrate] FILE  publish a flow to a store unless a version has it
  flowkit cancel -postgres URL -flow ID -name N cancel participants in bulk (-dry-run, -element, ...)
  flowkit experiments -postgres URL -flow ID    print a flow's experiments: figures, significance, winner (-json)
`

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run runs one command line and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "validate":
		return runValidate(rest, stdout, stderr)
	case "graph":
		return runGraph(ctx, rest, stdout, stderr)
	case "simulate":
		return runSimulate(ctx, rest, stdout, stderr)
	case "deploy":
		return runDeploy(ctx, rest, stdout, stderr)
	case "cancel":
		return runCancel(ctx, rest, stdout, stderr)
	case "experiments":
		return runExperiments(ctx, rest, stdout, stderr)
	case "schema":
		fs := newFlags("schema", stderr)
		if err := fs.Parse(rest); err != nil || fs.NArg() != 0 {
			return usageError(stderr, fs, err, "schema takes no arguments")
		}
		stdout.Write(schemaJSON())
		return exitOK
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "flowkit: unknown command %q\n%s", cmd, usage)
	return exitUsage
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("flowkit "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// usageError reports a bad command line. err is the flag package's, which
// it has printed already; otherwise msg is printed with the flags.
func usageError(stderr io.Writer, fs *flag.FlagSet, err error, msg string) int {
	if err == flag.ErrHelp {
		return exitOK
	}
	if err == nil {
		fmt.Fprintf(stderr, "%s: %s\n", fs.Name(), msg)
		fs.PrintDefaults()
	}
	return exitUsage
}

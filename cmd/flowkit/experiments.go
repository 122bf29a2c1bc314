package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/flowkit/flowkit/flow"
)

// runExperiments prints the experiments of a flow in a PostgreSQL store,
// as Engine.Experiments reports them.
func runExperiments(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("experiments", stderr)
	sf := addStoreFlags(fs, "to read")
	flowID := fs.String("flow", "", "the flow's `id` (required)")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 || *sf.url == "" || *flowID == "" {
		return usageError(stderr, fs, err, "name the store's -postgres URL and the -flow")
	}
	eng, closeStore, err := sf.engine(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "flowkit experiments:", err)
		return exitProblem
	}
	defer closeStore()
	ex, err := eng.Experiments(ctx, *flowID)
	if err != nil {
		fmt.Fprintln(stderr, "flowkit experiments:", err)
		return exitProblem
	}
	if *asJSON {
		if ex == nil {
			ex = []flow.ExperimentResult{}
		}
		b, err := json.MarshalIndent(ex, "", "  ")
		if err != nil {
			fmt.Fprintln(stderr, "flowkit experiments:", err)
			return exitProblem
		}
		fmt.Fprintf(stdout, "%s\n", b)
		return exitOK
	}
	printExperiments(stdout, *flowID, ex)
	return exitOK
}

// printExperiments writes experiments as a table per experiment.
func printExperiments(w io.Writer, flowID string, ex []flow.ExperimentResult) {
	if len(ex) == 0 {
		fmt.Fprintf(w, "flow %s: no experiments\n", flowID)
		return
	}
	for i, x := range ex {
		if i > 0 {
			fmt.Fprintln(w)
		}
		what := fmt.Sprintf("split %s", x.Element)
		if x.Holdout {
			what = "the flow's holdout"
		}
		fmt.Fprintf(w, "flow %s version %d, %s, goal %s, %g%% confidence\n", flowID, x.Version, what, x.Goal, x.Confidence*100)
		if x.Winner != "" {
			fmt.Fprintf(w, "winner %s, decided at %s: %s\n", x.Winner, x.DecidedAt.UTC().Format(time.RFC3339), x.Reason)
		} else {
			fmt.Fprintln(w, "running")
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "variant\tparticipants\tconversions\trate\tinterval\tlift\tp-value\tsignificant\t")
		for _, v := range x.Variants {
			name := v.Name
			if v.Control {
				name += " (control)"
			}
			lift, p, sig := fmt.Sprintf("%+.1f%%", v.Lift*100), fmt.Sprintf("%.4f", v.PValue), "no"
			if v.Control {
				lift, p, sig = "-", "-", "-"
			} else if v.Significant {
				sig = "yes"
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f%%\t%.2f%%-%.2f%%\t%s\t%s\t%s\t\n", name, v.Participants, v.Conversions, v.Rate*100, v.Low*100, v.High*100, lift, p, sig)
		}
		tw.Flush()
	}
}

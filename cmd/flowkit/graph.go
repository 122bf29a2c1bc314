package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/store/postgres"
)

func runGraph(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("graph", stderr)
	pgURL := fs.String("postgres", "", "a PostgreSQL `URL` whose store's per-element counts of the flow are put on the chart")
	pgSchema := fs.String("postgres-schema", "flowkit", "the database `schema` of the store")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		return usageError(stderr, fs, err, "name one flow document")
	}
	data, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, "flowkit graph:", err)
		return exitProblem
	}
	f, err := flow.Parse(data)
	if err != nil {
		fmt.Fprintf(stderr, "flowkit graph: %s: %v (flowkit validate shows every problem)\n", fs.Arg(0), err)
		return exitProblem
	}
	var stats map[string]*flow.ElementStats
	if *pgURL != "" {
		if stats, err = postgresStats(ctx, *pgURL, *pgSchema, f.ID); err != nil {
			fmt.Fprintln(stderr, "flowkit graph:", err)
			return exitProblem
		}
	}
	io.WriteString(stdout, mermaid(f, stats))
	return exitOK
}

// postgresStats reads a flow's per-element counts from a PostgreSQL store,
// leaving its schema as it is.
func postgresStats(ctx context.Context, url, schema, flowID string) (map[string]*flow.ElementStats, error) {
	st, err := postgres.New(ctx, postgres.Config{URL: url, Schema: schema, SkipMigrate: true})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	eng, err := flow.NewEngine(flow.Config{Store: st})
	if err != nil {
		return nil, err
	}
	return eng.Stats(ctx, flowID)
}

// mermaid draws f as a Mermaid flowchart: one node per element (its name
// or id and its kind), one arrow per branch labelled with the branch name,
// an entry node for the ways in, and an end node for branches that leave
// the flow. With stats, nodes show how many entered and wait, and arrows
// how many went that way. Node ids are generated (e0, e1, ...), so any
// element id renders; labels are quoted and escaped.
func mermaid(f *flow.Flow, stats map[string]*flow.ElementStats) string {
	var b strings.Builder
	b.WriteString("flowchart TD\n")
	ids := map[string]string{}
	for i, n := range f.Elements {
		if n != nil {
			if _, dup := ids[n.ID]; !dup {
				ids[n.ID] = fmt.Sprintf("e%d", i)
			}
		}
	}
	entry := []string{"API"}
	if t := f.Trigger; t != nil {
		entry = append(entry, fmt.Sprintf("event %s %s", t.Category, t.Name))
	}
	fmt.Fprintf(&b, "  entry([%s])\n", label("enter: "+strings.Join(entry, ", ")))
	start := f.Start
	if start == "" && len(f.Elements) > 0 && f.Elements[0] != nil {
		start = f.Elements[0].ID
	}
	if id, ok := ids[start]; ok {
		fmt.Fprintf(&b, "  entry --> %s\n", id)
	}
	leaves := false
	for i, n := range f.Elements {
		if n == nil || n.Element == nil {
			continue
		}
		id := fmt.Sprintf("e%d", i)
		text := n.ID
		if n.Name != "" {
			text = n.Name + " (" + n.ID + ")"
		}
		text += "\n" + n.Element.Kind()
		st := stats[n.ID]
		if st == nil && stats != nil {
			st = &flow.ElementStats{} // nobody reached it yet
		}
		if st != nil {
			text += fmt.Sprintf("\nentered %d, waiting %d", st.Entered, st.Waiting)
			if st.Errors > 0 {
				text += fmt.Sprintf(", errors %d", st.Errors)
			}
		}
		open, close := "[", "]"
		if n.Element.Kind() == "exit" {
			open, close = "([", "])"
		}
		fmt.Fprintf(&b, "  %s%s%s%s\n", id, open, label(text), close)
		for _, branch := range slices.Sorted(maps.Keys(n.Next)) {
			target, ok := ids[n.Next[branch]]
			if n.Next[branch] == "" {
				target, ok, leaves = "leave", true, true
			}
			if !ok {
				continue // a target that does not exist: validate reports it
			}
			edge := branch
			if st != nil {
				edge += fmt.Sprintf(" (%d)", st.Left[branch])
			}
			fmt.Fprintf(&b, "  %s -->|%s| %s\n", id, label(edge), target)
		}
	}
	if leaves {
		fmt.Fprintf(&b, "  leave([%s])\n", label("leave the flow"))
	}
	return b.String()
}

// label quotes text for a Mermaid label. Quotes and the characters
// Mermaid reads as markup become entity codes; line breaks become <br/>.
func label(text string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range text {
		switch r {
		case '\n':
			b.WriteString("<br/>")
		case '"', '#', '<', '>', '&', '|', '`', '\\':
			fmt.Fprintf(&b, "#%d;", r)
		case '\r', '\t':
			b.WriteByte(' ')
		default:
			if r < ' ' {
				fmt.Fprintf(&b, "#%d;", r)
				continue
			}
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

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
	"github.com/flowkit/flowkit/segment"
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
	start := f.Start
	if start == "" && len(f.Elements) > 0 && f.Elements[0] != nil {
		start = f.Elements[0].ID
	}
	startID, hasStart := ids[start]
	for i, en := range entriesOf(f) {
		fmt.Fprintf(&b, "  in%d([%s])\n", i, label("enter: "+en))
		if hasStart {
			fmt.Fprintf(&b, "  in%d --> %s\n", i, startID)
		}
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
	// Exit rules take participants out wherever they are; goals count
	// those who convert.
	for i, r := range f.ExitRules {
		if r == nil {
			continue
		}
		name := r.Name
		if name == "" {
			name = fmt.Sprintf("exit[%d]", i)
		}
		text := "exit rule " + name
		switch {
		case r.Event != nil:
			text += ": on event " + eventName(r.Event)
		case r.Unless != nil:
			text += ": unless matching its segment"
		}
		edge := "anywhere"
		if stats != nil {
			var n int64
			for _, st := range stats {
				n += st.ExitRules[name]
			}
			edge += fmt.Sprintf(" (%d)", n)
		}
		leaves = true
		fmt.Fprintf(&b, "  rule%d([%s])\n  rule%d -->|%s| leave\n", i, label(text), i, label(edge))
	}
	for i, g := range f.Goals {
		if g == nil {
			continue
		}
		text := "goal " + g.Name + ": event " + eventName(&g.Event)
		if g.Within.Amount > 0 {
			text += fmt.Sprintf(" within %d %s", g.Within.Amount, g.Within.Unit)
		}
		if g.Exit {
			text += ", then leave"
		}
		if st := stats[start]; stats != nil {
			var n int64
			if st != nil {
				n = st.Conversions[g.Name]
			}
			text += fmt.Sprintf("\nconversions %d", n)
		}
		fmt.Fprintf(&b, "  goal%d([%s])\n", i, label(text))
	}
	if leaves {
		fmt.Fprintf(&b, "  leave([%s])\n", label("leave the flow"))
	}
	return b.String()
}

// entriesOf names a flow's ways in, as the engine reads them: its
// entries, or by default the API, Existing Flow and the Trigger.
func entriesOf(f *flow.Flow) []string {
	var out []string
	for _, en := range f.Entries {
		if en == nil {
			continue
		}
		text := en.Type
		switch {
		case en.Event != nil:
			text += " " + eventName(en.Event)
		case en.Date != nil:
			text += " " + en.Date.Attribute
		case en.Segment != nil:
			text += " matching its segment"
		}
		if en.Schedule != nil {
			text += ", every " + en.Schedule.Every
			if en.Schedule.Weekday != "" {
				text += " " + en.Schedule.Weekday
			}
			text += " at " + en.Schedule.At.String()
		}
		if en.WhenMatching {
			text += ", when starting to match"
		}
		out = append(out, text)
	}
	if len(f.Entries) == 0 {
		out = append(out, flow.EntryAPI, flow.EntryExistingFlow)
		if t := f.Trigger; t != nil {
			out = append(out, fmt.Sprintf("event %s %s", t.Category, t.Name))
		}
	}
	return out
}

func eventName(e *segment.EventSpec) string {
	name := e.Name
	if name == "" {
		name = "any"
	}
	if e.Category != "" {
		name = string(e.Category) + " " + name
	}
	if len(e.Where) > 0 {
		name += fmt.Sprintf(" (%d conditions)", len(e.Where))
	}
	return name
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

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/postgres"
)

// The subset of Mermaid's flowchart grammar that graph writes: a header,
// node statements (an id and a quoted label in a rectangle or a stadium)
// and edges (an id, an arrow with an optional quoted label, an id).
var (
	mmLabel = `"(?:[^"<>#\n]|#\d+;|<br/>)*"`
	mmNode  = regexp.MustCompile(`^  ([A-Za-z][A-Za-z0-9_]*)(?:\[(` + mmLabel + `)\]|\(\[(` + mmLabel + `)\]\))$`)
	mmEdge  = regexp.MustCompile(`^  ([A-Za-z][A-Za-z0-9_]*) -->(?:\|(` + mmLabel + `)\|)? ([A-Za-z][A-Za-z0-9_]*)$`)
)

type mmChart struct {
	nodes map[string]string // id -> label text, unescaped
	edges []string          // "from -label-> to"
}

// parseMermaid checks a chart against the grammar above and that every
// edge joins declared nodes.
func parseMermaid(t *testing.T, chart string) mmChart {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(chart, "\n"), "\n")
	require.Equal(t, "flowchart TD", lines[0])
	c := mmChart{nodes: map[string]string{}}
	type edge struct{ from, label, to string }
	var edges []edge
	for _, l := range lines[1:] {
		if m := mmNode.FindStringSubmatch(l); m != nil {
			_, dup := c.nodes[m[1]]
			require.False(t, dup, "node %s declared twice", m[1])
			c.nodes[m[1]] = unescape(m[2] + m[3])
			continue
		}
		m := mmEdge.FindStringSubmatch(l)
		require.NotNil(t, m, "not a Mermaid node or edge: %q", l)
		edges = append(edges, edge{m[1], unescape(m[2]), m[3]})
	}
	for _, e := range edges {
		require.Contains(t, c.nodes, e.from, "edge from an undeclared node")
		require.Contains(t, c.nodes, e.to, "edge to an undeclared node")
		c.edges = append(c.edges, fmt.Sprintf("%s -%s-> %s", c.nodes[e.from], e.label, c.nodes[e.to]))
	}
	return c
}

var entity = regexp.MustCompile(`#(\d+);`)

func unescape(label string) string {
	label = strings.Trim(label, `"`)
	label = strings.ReplaceAll(label, "<br/>", "\n")
	return entity.ReplaceAllStringFunc(label, func(s string) string {
		var r rune
		fmt.Sscanf(s, "#%d;", &r)
		return string(r)
	})
}

// Every example's chart is well-formed and has every element and branch.
func TestGraphExamples(t *testing.T) {
	files, err := filepath.Glob("../../examples/*/flow.json")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 3)
	for _, name := range append(files, "testdata/odd-names.json", "testdata/action-paths.json") {
		t.Run(name, func(t *testing.T) {
			status, out, errOut := flowkit(t, "graph", name)
			require.Equal(t, exitOK, status, errOut)
			chart := parseMermaid(t, out)
			data, err := os.ReadFile(name)
			require.NoError(t, err)
			f, err := flow.Parse(data)
			require.NoError(t, err)
			var labels []string
			for _, l := range chart.nodes {
				labels = append(labels, l)
			}
			for _, n := range f.Elements {
				text := n.ID
				if n.Name != "" {
					text = n.Name + " (" + n.ID + ")"
				}
				require.Contains(t, labels, text+"\n"+n.Element.Kind())
				for branch, target := range n.Next {
					to := "leave the flow"
					if target != "" {
						tn := f.Node(target)
						to = tn.ID + "\n" + tn.Element.Kind()
						if tn.Name != "" {
							to = tn.Name + " (" + tn.ID + ")\n" + tn.Element.Kind()
						}
					}
					require.Contains(t, chart.edges, fmt.Sprintf("%s -%s-> %s", text+"\n"+n.Element.Kind(), branch, to))
				}
			}
			// Each entry point leads to the start element.
			start := f.Elements[0]
			entries := []string{"enter: api", "enter: existingFlow"}
			if f.Trigger != nil {
				entries = append(entries, fmt.Sprintf("enter: event %s %s", f.Trigger.Category, f.Trigger.Name))
			}
			startLabel := start.ID + "\n" + start.Element.Kind()
			if start.Name != "" {
				startLabel = start.Name + " (" + start.ID + ")\n" + start.Element.Kind()
			}
			for _, entry := range entries {
				require.Contains(t, chart.edges, fmt.Sprintf("%s --> %s", entry, startLabel))
			}
		})
	}
}

// A flow's declared entries, exit rules and goals are drawn, with their
// counts when a store gives them.
func TestGraphEntriesExitRulesGoals(t *testing.T) {
	f, err := flow.Parse([]byte(`{"id": "promo", "timezone": "Europe/Zagreb",
	  "entries": [{"type": "api"}, {"type": "event", "event": {"category": "external", "name": "SignedUp"}},
	    {"type": "audience", "segment": {"attribute": "city", "op": "is", "value": "Split"}, "schedule": {"every": "week", "weekday": "monday", "at": "09:00"}}],
	  "exitRules": [{"name": "unsubscribed", "event": {"category": "external", "name": "Unsubscribed"}}, {"unless": {"attribute": "city", "op": "is", "value": "Split"}}],
	  "goals": [{"name": "purchase", "event": {"category": "external", "name": "Purchased"}, "within": {"amount": 7, "unit": "days"}}],
	  "elements": [{"id": "hold", "type": "pause", "mode": "for", "period": {"amount": 1, "unit": "days"}, "next": {"next": "done"}},
	    {"id": "done", "type": "exit"}]}`))
	require.NoError(t, err)
	chart := parseMermaid(t, mermaid(f, nil))
	for _, e := range []string{"enter: api --> hold\npause", "enter: event external SignedUp --> hold\npause",
		"enter: audience matching its segment, every week monday at 09:00 --> hold\npause",
		"exit rule unsubscribed: on event external Unsubscribed -anywhere-> leave the flow",
		"exit rule exit[1]: unless matching its segment -anywhere-> leave the flow"} {
		require.Contains(t, chart.edges, e)
	}
	require.NotContains(t, strings.Join(chart.edges, "\n"), "existingFlow", "declared entries replace the defaults")
	require.Contains(t, chart.nodes, "goal0")
	require.Equal(t, "goal purchase: event external Purchased within 7 days", chart.nodes["goal0"])

	chart = parseMermaid(t, mermaid(f, map[string]*flow.ElementStats{
		"hold": {Entered: 10, Waiting: 4, Left: map[string]int64{"next": 3}, ExitRules: map[string]int64{"unsubscribed": 2}, Conversions: map[string]int64{"purchase": 5}},
		"done": {Entered: 3, ExitRules: map[string]int64{"unsubscribed": 1}},
	}))
	require.Contains(t, chart.edges, "exit rule unsubscribed: on event external Unsubscribed -anywhere (3)-> leave the flow")
	require.Equal(t, "goal purchase: event external Purchased within 7 days\nconversions 5", chart.nodes["goal0"])
}

// Counts from a store go on the nodes and arrows.
func TestGraphWithStats(t *testing.T) {
	data, err := os.ReadFile("../../examples/abandoned-cart/flow.json")
	require.NoError(t, err)
	f, err := flow.Parse(data)
	require.NoError(t, err)
	chart := parseMermaid(t, mermaid(f, map[string]*flow.ElementStats{
		"wait-order": {Entered: 3, Waiting: 1, Left: map[string]int64{"occurred": 1, "timeout": 1}},
	}))
	require.Contains(t, chart.edges, "wait-order\nwaitForEvent\nentered 3, waiting 1 -timeout (1)-> remind\nsendMessage\nentered 0, waiting 0")
	require.Contains(t, chart.edges, "wait-order\nwaitForEvent\nentered 3, waiting 1 -occurred (1)-> bought\nexit\nentered 0, waiting 0")
}

func TestGraphPostgres(t *testing.T) {
	url := os.Getenv("FLOWKIT_TEST_POSTGRES")
	if url == "" {
		t.Skip("FLOWKIT_TEST_POSTGRES is not set: no PostgreSQL store to read counts from")
	}
	ctx := context.Background()
	schema := fmt.Sprintf("flowkit_graph_%d_%d", os.Getpid(), time.Now().UnixNano())
	st, err := postgres.New(ctx, postgres.Config{URL: url, Schema: schema})
	require.NoError(t, err)
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, url)
		if err == nil {
			_, _ = conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
			conn.Close(ctx)
		}
	})
	defer st.Close()
	data, err := os.ReadFile("../../examples/abandoned-cart/flow.json")
	require.NoError(t, err)
	f, err := flow.Parse(data)
	require.NoError(t, err)
	eng, err := flow.NewEngine(flow.Config{Store: st})
	require.NoError(t, err)
	_, err = eng.Publish(ctx, f)
	require.NoError(t, err)
	require.NoError(t, eng.Activate(ctx, f.ID))
	require.NoError(t, eng.Deliver(ctx, &store.Event{ID: "cart-1", Person: store.PersonRef{ExternalID: "ana"},
		Category: store.External, Name: "CartAbandoned", Properties: map[string]any{"cartId": "c-1"}}))

	status, out, errOut := flowkit(t, "graph", "-postgres", url, "-postgres-schema", schema, "../../examples/abandoned-cart/flow.json")
	require.Equal(t, exitOK, status, errOut)
	chart := parseMermaid(t, out)
	require.Contains(t, chart.nodes, "e0")
	require.Equal(t, "wait-order\nwaitForEvent\nentered 1, waiting 1", chart.nodes["e0"])
	require.Contains(t, chart.edges, "wait-order\nwaitForEvent\nentered 1, waiting 1 -timeout (0)-> remind\nsendMessage\nentered 0, waiting 0")
}

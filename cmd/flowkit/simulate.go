package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/flowtest"
	"github.com/flowkit/flowkit/internal/values"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
)

// Script is a timeline to run a flow against, in its JSON form:
//
//	{
//	  "title": "Abandoned cart",             // defaults to the flow's name
//	  "timezone": "Europe/Zagreb",           // times are printed in it; defaults to the flow's
//	  "start": "2026-03-02T09:00:00+01:00",  // the fake clock's first reading
//	  "end": "2026-03-04T00:00:00+01:00",    // the clock runs to here after the last action
//	  "host": "shop",                        // who the actions are by, in the output; defaults to "host"
//	  "attributes": {"plan": "text"},        // the host's custom person attributes
//	  "people": [
//	    {"name": "Ana", "ref": {"email": "ana@example.com"}, "attributes": {"firstName": "Ana"}}
//	  ],
//	  "actions": [
//	    {"at": "2026-03-02T10:00:00+01:00", "person": "Ana", "note": "leaves cart c-100",
//	     "event": {"category": "external", "name": "CartAbandoned", "properties": {"cartId": "c-100"}}},
//	    {"after": "26h", "person": "Ana", "update": {"plan": "pro"}},
//	    {"after": "27h", "person": "Ana", "enter": {"variables": {"total": 3}}}
//	  ]
//	}
//
// Each action happens at "at" or "after" (a Go duration from start) and
// does one thing for one person: delivers an event, changes the profile
// ("update", attribute names to values) or enters the person by the API
// ("enter"). Actions run in the order given, which must be time order;
// timers between them fire at their own due times.
type Script struct {
	Title      string          `json:"title"`
	TimeZone   string          `json:"timezone"`
	Start      time.Time       `json:"start"`
	End        time.Time       `json:"end"`
	Host       string          `json:"host"`
	Attributes store.Schema    `json:"attributes"`
	People     []*ScriptPerson `json:"people"`
	Actions    []*ScriptAction `json:"actions"`
	byName     map[string]*ScriptPerson
	loc        *time.Location
}

// ScriptPerson is one person of a script: a name for the output, the
// reference the engine knows them by and their attributes at the start.
type ScriptPerson struct {
	Name       string          `json:"name"`
	Ref        store.PersonRef `json:"ref"`
	Attributes map[string]any  `json:"attributes"`
}

// ScriptAction is one thing the host does at a time.
type ScriptAction struct {
	At     time.Time      `json:"at"`
	After  string         `json:"after"`
	Person string         `json:"person"`
	Note   string         `json:"note"`
	Event  *ScriptEvent   `json:"event"`
	Update map[string]any `json:"update"`
	Enter  *ScriptEnter   `json:"enter"`
}

// ScriptEvent is an event an action delivers.
type ScriptEvent struct {
	ID         string         `json:"id"`
	Category   store.Category `json:"category"`
	Name       string         `json:"name"`
	Properties map[string]any `json:"properties"`
}

// ScriptEnter enters a person by the API, with variables.
type ScriptEnter struct {
	Variables map[string]any `json:"variables"`
}

// readScript reads and checks a script, naming the action and field at
// fault.
func readScript(data []byte, f *flow.Flow) (*Script, error) {
	var s Script
	if err := strictDecode(data, &s); err != nil {
		return nil, fmt.Errorf("script: %w", err)
	}
	if s.Title == "" {
		s.Title = cmp.Or(f.Name, f.ID)
	}
	s.TimeZone = cmp.Or(s.TimeZone, f.TimeZone, "UTC")
	loc, err := time.LoadLocation(s.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("script: timezone: %q is not an IANA time zone", s.TimeZone)
	}
	s.loc = loc
	s.Host = cmp.Or(s.Host, "host")
	if s.Start.IsZero() {
		return nil, errors.New("script: start: a start time is needed, such as \"2026-03-02T09:00:00Z\"")
	}
	for name, t := range s.Attributes {
		if !t.Valid() {
			return nil, fmt.Errorf("script: attributes.%s: unknown type %q", name, t)
		}
	}
	s.byName = map[string]*ScriptPerson{}
	for i, p := range s.People {
		if p == nil || p.Name == "" {
			return nil, fmt.Errorf("script: people[%d].name: a name is needed", i)
		}
		if s.byName[p.Name] != nil {
			return nil, fmt.Errorf("script: people[%d].name: %q is named twice", i, p.Name)
		}
		if p.Ref.IsZero() {
			p.Ref = store.PersonRef{ExternalID: p.Name}
		}
		for attr, v := range p.Attributes {
			if _, err := s.attribute(attr, v); err != nil {
				return nil, fmt.Errorf("script: people[%d].attributes.%s: %w", i, attr, err)
			}
		}
		s.byName[p.Name] = p
	}
	last := s.Start
	for i, a := range s.Actions {
		bad := func(field, format string, args ...any) error {
			return fmt.Errorf("script: actions[%d]%s: %s", i, field, fmt.Sprintf(format, args...))
		}
		if a == nil {
			return nil, bad("", "an action is an object")
		}
		switch {
		case a.After != "" && !a.At.IsZero():
			return nil, bad("", "give at or after, not both")
		case a.After != "":
			d, err := time.ParseDuration(a.After)
			if err != nil {
				return nil, bad(".after", "%q is not a duration such as \"90m\" or \"26h\"", a.After)
			}
			a.At = s.Start.Add(d)
		case a.At.IsZero():
			return nil, bad("", "give its time with at or after")
		}
		if a.At.Before(last) {
			return nil, bad(".at", "%s is before the action or start before it", a.At.Format(time.RFC3339))
		}
		last = a.At
		if s.byName[a.Person] == nil {
			return nil, bad(".person", "%q is not one of the script's people", a.Person)
		}
		given := 0
		for _, set := range []bool{a.Event != nil, a.Update != nil, a.Enter != nil} {
			if set {
				given++
			}
		}
		if given != 1 {
			return nil, bad("", "give exactly one of event, update, enter")
		}
		if a.Event != nil && (!a.Event.Category.Valid() || a.Event.Name == "") {
			return nil, bad(".event", "an event needs a category (external, people, channel, product) and a name")
		}
		for attr, v := range a.Update {
			if _, err := s.attribute(attr, v); err != nil {
				return nil, bad(".update."+attr, "%v", err)
			}
		}
	}
	if s.End.IsZero() {
		s.End = last
	}
	if s.End.Before(last) {
		return nil, fmt.Errorf("script: end: %s is before the last action", s.End.Format(time.RFC3339))
	}
	return &s, nil
}

// attribute converts a script's attribute value to the attribute's type.
func (s *Script) attribute(name string, v any) (any, error) {
	t, ok := s.Attributes.TypeOf(name)
	if !ok {
		return nil, fmt.Errorf("unknown person attribute %q (declare custom ones in \"attributes\")", name)
	}
	return values.Convert(t, v)
}

// Timeline is what a simulation did, in time order.
type Timeline struct {
	Title    string         `json:"title"`
	TimeZone string         `json:"timezone"`
	Entries  []TimelineLine `json:"timeline"`
	Outcome  []Outcome      `json:"outcome"`
	loc      *time.Location
	span     time.Duration
}

// TimelineLine is one thing that happened: an action of the host, or a
// step of the flow with its journal reason and the message it sent.
type TimelineLine struct {
	At      time.Time `json:"at"`
	Person  string    `json:"person"`
	Source  string    `json:"source"` // the script's host or "flow"
	Text    string    `json:"text,omitempty"`
	Element string    `json:"element,omitempty"`
	Branch  string    `json:"branch,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Message *Sent     `json:"message,omitempty"`
	rank    int
	seq     int
}

// Sent is a message the flow sent.
type Sent struct {
	Channel string `json:"channel"`
	To      string `json:"to"`
	Subject string `json:"subject,omitempty"`
	Body    string `json:"body"`
}

// Outcome is where one participant ended up.
type Outcome struct {
	Person    string         `json:"person"`
	Status    store.Status   `json:"status"`
	Element   string         `json:"element"`
	Reason    string         `json:"reason,omitempty"`
	Variables map[string]any `json:"variables,omitempty"`
}

// outbox records what the flow sends, by the step's idempotency key.
type outbox struct{ sent map[string]*element.Message }

func (o *outbox) Send(_ context.Context, m *element.Message) (string, error) {
	o.sent[m.IdempotencyKey] = m
	return fmt.Sprintf("%s-%d", m.Channel, len(o.sent)), nil
}

// simulate runs f on the memory store and a fake clock against s.
func simulate(ctx context.Context, f *flow.Flow, s *Script) (*Timeline, error) {
	clk := clock.NewFake(s.Start)
	out := &outbox{sent: map[string]*element.Message{}}
	eng, err := flow.NewEngine(flow.Config{Store: memory.New(), Clock: clk, Schema: s.Attributes, Ports: flow.Ports{Sender: out}})
	if err != nil {
		return nil, err
	}
	if _, err := eng.Publish(ctx, f); err != nil {
		return nil, err
	}
	if err := eng.Activate(ctx, f.ID); err != nil {
		return nil, err
	}
	tl := &Timeline{Title: s.Title, TimeZone: s.TimeZone, loc: s.loc, span: s.End.Sub(s.Start)}
	add := func(l TimelineLine) {
		l.seq = len(tl.Entries)
		tl.Entries = append(tl.Entries, l)
	}
	names := map[string]string{} // person id -> script name
	for _, p := range s.People {
		person, err := eng.UpdatePerson(ctx, p.Ref, func(person *store.Person) error {
			for _, attr := range slices.Sorted(maps.Keys(p.Attributes)) {
				v, _ := s.attribute(attr, p.Attributes[attr])
				person.Set(attr, v)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("person %q: %w", p.Name, err)
		}
		names[person.ID.String()] = p.Name
	}
	for i, a := range s.Actions {
		if _, err := flowtest.AdvanceTo(ctx, eng, clk, a.At); err != nil {
			return nil, err
		}
		p := s.byName[a.Person]
		line := TimelineLine{At: a.At, Person: p.Name, Source: s.Host, Text: a.Note}
		switch {
		case a.Event != nil:
			line.Text = cmp.Or(line.Text, describeEvent(a.Event))
			add(line)
			err = eng.Deliver(ctx, &store.Event{ID: cmp.Or(a.Event.ID, fmt.Sprintf("script-%d", i)), Person: p.Ref,
				Category: a.Event.Category, Name: a.Event.Name, Properties: a.Event.Properties})
		case a.Update != nil:
			line.Text = cmp.Or(line.Text, "profile "+describeValues(a.Update))
			add(line)
			_, err = eng.UpdatePerson(ctx, p.Ref, func(person *store.Person) error {
				for _, attr := range slices.Sorted(maps.Keys(a.Update)) {
					v, _ := s.attribute(attr, a.Update[attr])
					person.Set(attr, v)
				}
				return nil
			})
		case a.Enter != nil:
			line.Text = cmp.Or(line.Text, "enters the flow")
			add(line)
			_, err = eng.Enter(ctx, f.ID, p.Ref, a.Enter.Variables)
		}
		if err != nil {
			return nil, fmt.Errorf("actions[%d]: %w", i, err)
		}
	}
	if _, err := flowtest.AdvanceTo(ctx, eng, clk, s.End); err != nil {
		return nil, err
	}

	parts, err := eng.Participants(ctx, store.ParticipantQuery{FlowID: f.ID})
	if err != nil {
		return nil, err
	}
	for _, part := range parts {
		name := names[part.PersonID.String()]
		if name == "" {
			person, err := eng.Person(ctx, store.PersonRef{ID: part.PersonID})
			if err != nil {
				return nil, err
			}
			name = cmp.Or(person.FirstName, person.ID.String())
		}
		for _, st := range part.Journal {
			line := TimelineLine{At: st.At, Person: name, Source: "flow", Element: st.Element, Branch: st.Branch, Reason: st.Reason, rank: 1}
			if m := out.sent[fmt.Sprintf("%s:%d", part.ID, st.Seq)]; m != nil {
				line.Message = &Sent{Channel: m.Channel, To: m.To, Subject: m.Subject, Body: m.Body}
			}
			add(line)
		}
		tl.Outcome = append(tl.Outcome, Outcome{Person: name, Status: part.Status, Element: part.Element, Reason: part.Reason, Variables: part.Vars})
	}
	slices.SortStableFunc(tl.Entries, func(a, b TimelineLine) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.rank, b.rank), cmp.Compare(a.seq, b.seq))
	})
	order := map[string]int{}
	for i, p := range s.People {
		order[p.Name] = i
	}
	slices.SortStableFunc(tl.Outcome, func(a, b Outcome) int { return cmp.Compare(order[a.Person], order[b.Person]) })
	return tl, nil
}

func describeEvent(e *ScriptEvent) string {
	if len(e.Properties) == 0 {
		return "event " + e.Name
	}
	return "event " + e.Name + " " + describeValues(e.Properties)
}

func describeValues(m map[string]any) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v, _ := json.Marshal(m[k])
		parts = append(parts, k+" = "+string(v))
	}
	return strings.Join(parts, ", ")
}

// WriteText prints the timeline for people: one line per action, step and
// message, then each participant's outcome.
func (tl *Timeline) WriteText(w io.Writer) {
	width := 0
	for _, e := range tl.Entries {
		width = max(width, len([]rune(e.Person)))
	}
	layout := "Mon 15:04"
	if tl.span >= 6*24*time.Hour {
		layout = "2006-01-02 15:04"
	}
	fmt.Fprintf(w, "%s, times in %s\n", tl.Title, tl.TimeZone)
	for _, e := range tl.Entries {
		at := e.At.In(tl.loc).Format(layout)
		if e.Source != "flow" {
			fmt.Fprintf(w, "%s  %-*s  %s: %s\n", at, width, e.Person, e.Source, e.Text)
			continue
		}
		text := "flow: " + e.Element
		if e.Branch != "" {
			text += " -> " + e.Branch
		}
		fmt.Fprintf(w, "%s  %-*s  %s: %s\n", at, width, e.Person, text, e.Reason)
		if m := e.Message; m != nil {
			if m.Subject != "" {
				fmt.Fprintf(w, "%s  %-*s    %s to %s: %q\n", at, width, e.Person, m.Channel, m.To, m.Subject)
				fmt.Fprintf(w, "%s  %-*s    %q\n", at, width, e.Person, m.Body)
			} else {
				fmt.Fprintf(w, "%s  %-*s    %s to %s: %q\n", at, width, e.Person, m.Channel, m.To, m.Body)
			}
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Outcome")
	for _, o := range tl.Outcome {
		line := fmt.Sprintf("%-*s  %s: %s", width, o.Person, o.Status, cmp.Or(o.Reason, "at "+o.Element))
		if len(o.Variables) > 0 {
			line += "; " + describeValues(o.Variables)
		}
		fmt.Fprintln(w, strings.TrimSpace(line))
	}
}

func runSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("simulate", stderr)
	scriptName := fs.String("script", "", "the timeline `file` to run the flow against (see the command's documentation)")
	asJSON := fs.Bool("json", false, "print the timeline as JSON")
	// Flags may follow the flow file: flowkit simulate FILE -script S.
	var files []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			return usageError(stderr, fs, err, "")
		}
		if fs.NArg() == 0 {
			break
		}
		files, rest = append(files, fs.Arg(0)), fs.Args()[1:]
	}
	if len(files) != 1 || *scriptName == "" {
		return usageError(stderr, fs, nil, "name one flow document and a -script")
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		fmt.Fprintln(stderr, "flowkit simulate:", err)
		return exitProblem
	}
	f, err := flow.Parse(data)
	if err != nil {
		fmt.Fprintf(stderr, "flowkit simulate: %s: %v (flowkit validate shows every problem)\n", files[0], err)
		return exitProblem
	}
	sdata, err := os.ReadFile(*scriptName)
	if err != nil {
		fmt.Fprintln(stderr, "flowkit simulate:", err)
		return exitProblem
	}
	s, err := readScript(sdata, f)
	if err != nil {
		fmt.Fprintf(stderr, "flowkit simulate: %s: %v\n", *scriptName, err)
		return exitProblem
	}
	tl, err := simulate(ctx, f, s)
	if err != nil {
		fmt.Fprintf(stderr, "flowkit simulate: %v\n", err)
		return exitProblem
	}
	if *asJSON {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetIndent("", "  ")
		if err := enc.Encode(tl); err != nil {
			fmt.Fprintln(stderr, "flowkit simulate:", err)
			return exitProblem
		}
		stdout.Write(b.Bytes())
		return exitOK
	}
	tl.WriteText(stdout)
	return exitOK
}

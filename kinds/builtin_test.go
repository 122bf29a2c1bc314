package kinds_test

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

var builtinParticipant = uuid.MustParse("0190f5e4-0000-7000-8000-0000000000aa")

// builtinRun is exprRun as the engine would hand it to a step: with a
// participant and a step number, which the emitted events carry.
func builtinRun() *element.Run {
	r := exprRun()
	r.Participant = builtinParticipant
	r.Seq = 7
	r.ElementID = "step"
	r.FlowID = "onboarding"
	return r
}

// runBuiltin validates el against the expression fixtures and runs it.
func runBuiltin(t *testing.T, el element.Element, r *element.Run) (element.Outcome, error) {
	t.Helper()
	require.NoError(t, el.Validate(exprCompiler()))
	return el.Run(context.Background(), r)
}

// requireFieldError asserts that Validate refuses el for field.
func requireFieldError(t *testing.T, el element.Element, field, msg string) {
	t.Helper()
	err := el.Validate(exprCompiler())
	var fe *element.FieldError
	require.True(t, errors.As(err, &fe), "want a *FieldError, got %v", err)
	require.Equal(t, field, fe.Field, err.Error())
	require.ErrorContains(t, err, msg)
}

func TestBuiltinKinds(t *testing.T) {
	for kind, el := range map[string]element.Element{
		"pause": &kinds.Pause{}, "updateVariable": &kinds.UpdateVariable{}, "updateProfile": &kinds.UpdateProfile{},
		"addTag": &kinds.AddTag{}, "removeTag": &kinds.RemoveTag{}, "exit": &kinds.Exit{},
	} {
		require.Equal(t, kind, el.Kind())
		made, err := kinds.Registry().New(kind)
		require.NoError(t, err)
		require.IsType(t, el, made)
		require.Contains(t, kinds.Registry().Kinds(), kind)
		if kind == "exit" {
			require.Empty(t, el.Branches())
		} else {
			require.Equal(t, []string{element.BranchNext}, el.Branches(), kind)
		}
	}
	_, err := kinds.Registry().New("teleport")
	require.ErrorIs(t, err, element.ErrUnknownKind)
	require.ErrorContains(t, err, `"teleport"`)
}

func TestUpdateVariable(t *testing.T) {
	set := func(a ...*kinds.Assignment) *kinds.UpdateVariable { return &kinds.UpdateVariable{Set: a} }
	for _, tc := range []struct {
		name   string
		el     *kinds.UpdateVariable
		want   map[string]any // the variables that change
		reason string
	}{
		{"one value", set(&kinds.Assignment{Variable: "cartId", Value: "c-99"}), map[string]any{"cartId": "c-99"}, `set cartId = "c-99"`},
		{"many values converted to their types",
			set(&kinds.Assignment{Variable: "count", Value: 5}, &kinds.Assignment{Variable: "flag", Value: false},
				&kinds.Assignment{Variable: "due", Value: "2028-02-29"}, &kinds.Assignment{Variable: "paidAt", Value: "2026-03-01T18:05:00+01:00"},
				&kinds.Assignment{Variable: "items", Value: []any{"a"}}, &kinds.Assignment{Variable: "meta", Value: map[string]any{"k": 1.0}}),
			map[string]any{
				"count": 5.0, "flag": false, "due": time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC),
				"paidAt": time.Date(2026, 3, 1, 18, 5, 0, 0, time.FixedZone("", 3600)),
				"items":  []any{"a"}, "meta": map[string]any{"k": 1.0},
			},
			`set count = "5", flag = "false", due = "2028-02-29", paidAt = "2026-03-01T18:05:00+01:00", items = "[\"a\"]", meta = "{\"k\":1}"`},
		{"a single placeholder keeps its type", set(&kinds.Assignment{Variable: "total", Value: "{{count}}"}), map[string]any{"total": 3.0}, `set total = "3"`},
		{"a placeholder of a list", set(&kinds.Assignment{Variable: "items", Value: "{{person.tags}}"}), map[string]any{"items": []any{"beta", "new"}}, ""},
		{"a placeholder into text", set(&kinds.Assignment{Variable: "cartId", Value: "{{count}}"}), map[string]any{"cartId": "3"}, ""},
		{"placeholders in text", set(&kinds.Assignment{Variable: "cartId", Value: "{{person.firstName}}-{{entry.properties.plan}}-{{count}}"}), map[string]any{"cartId": "Ana-pro-3"}, `set cartId = "Ana-pro-3"`},
		{"a placeholder of a date-time into a date", set(&kinds.Assignment{Variable: "due", Value: "{{paidAt}}"}), map[string]any{"due": time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}, ""},
		{"text placeholders into a date", set(&kinds.Assignment{Variable: "due", Value: "2026-{{'12'}}-24"}), map[string]any{"due": time.Date(2026, 12, 24, 0, 0, 0, 0, time.UTC)}, ""},
		{"formula", set(&kinds.Assignment{Variable: "total", Formula: "count * total + person.score"}), map[string]any{"total": 3*19.99 + 42}, ""},
		{"formula of a bool", set(&kinds.Assignment{Variable: "flag", Formula: "count > 10"}), map[string]any{"flag": false}, `set flag = "false"`},
		{"formula of a date", set(&kinds.Assignment{Variable: "due", Formula: "now"}), map[string]any{"due": time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)}, ""},
		{"formula into text", set(&kinds.Assignment{Variable: "cartId", Formula: "count + 0.5"}), map[string]any{"cartId": "3.5"}, ""},
		{"formula over the old values", set(&kinds.Assignment{Variable: "count", Formula: "count + 1"}, &kinds.Assignment{Variable: "total", Formula: "count"}), map[string]any{"count": 4.0, "total": 3.0}, `set count = "4", total = "3"`},
		{"empty", set(&kinds.Assignment{Variable: "cartId", Empty: true}), map[string]any{"cartId": nil}, "set cartId = empty"},
		{"empty text is text", set(&kinds.Assignment{Variable: "cartId", Value: ""}), map[string]any{"cartId": ""}, `set cartId = ""`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := builtinRun()
			want := maps.Clone(r.Vars)
			maps.Copy(want, tc.want)
			out, err := runBuiltin(t, tc.el, r)
			require.NoError(t, err)
			require.Equal(t, element.BranchNext, out.Branch)
			require.Nil(t, out.Wait)
			require.Equal(t, want, r.Vars)
			if tc.reason != "" {
				require.Equal(t, tc.reason, out.Reason)
			}
			person, events := effects(r)
			require.Nil(t, person, "updateVariable leaves the person alone")
			require.Empty(t, events)
		})
	}
}

func TestUpdateVariableValidate(t *testing.T) {
	set := func(a ...*kinds.Assignment) *kinds.UpdateVariable { return &kinds.UpdateVariable{Set: a} }
	for _, tc := range []struct {
		name  string
		el    *kinds.UpdateVariable
		field string
		msg   string
	}{
		{"nothing", set(), "set", "no variables to update"},
		{"nil assignment", set(nil), "set[0].variable", "variable name is missing"},
		{"no variable", set(&kinds.Assignment{Value: "x"}), "set[0].variable", "variable name is missing"},
		{"undeclared", set(&kinds.Assignment{Variable: "cartId", Value: "x"}, &kinds.Assignment{Variable: "coupon", Value: "x"}), "set[1].variable", `variable "coupon" is not declared`},
		{"an attribute", set(&kinds.Assignment{Variable: "cartId", Attribute: "city", Value: "x"}), "set[0].attribute", "sets variables, not attributes"},
		{"no value", set(&kinds.Assignment{Variable: "cartId"}), "set[0]", "give exactly one of value, formula, empty"},
		{"value and formula", set(&kinds.Assignment{Variable: "count", Value: 1, Formula: "2"}), "set[0]", "exactly one"},
		{"value and empty", set(&kinds.Assignment{Variable: "count", Value: 1, Empty: true}), "set[0]", "exactly one"},
		{"text into a number", set(&kinds.Assignment{Variable: "count", Value: "three"}), "set[0].value", "is not a number"},
		{"number into a bool", set(&kinds.Assignment{Variable: "flag", Value: 1}), "set[0].value", "is not a bool"},
		{"bad date", set(&kinds.Assignment{Variable: "due", Value: "2027-02-29"}), "set[0].value", "is not a date"},
		{"text into a list", set(&kinds.Assignment{Variable: "items", Value: "a,b"}), "set[0].value", "is not a list"},
		{"placeholder of a bool into a number", set(&kinds.Assignment{Variable: "count", Value: "{{flag}}"}), "set[0].value", "variable count is number but {{flag}} gives bool"},
		{"placeholder of a list into text", set(&kinds.Assignment{Variable: "cartId", Value: "{{items}}"}), "set[0].value", "gives list"},
		{"text placeholders into a number", set(&kinds.Assignment{Variable: "count", Value: "{{count}} items"}), "set[0].value", "gives text"},
		{"text placeholders into a bool", set(&kinds.Assignment{Variable: "flag", Value: "{{flag}}!"}), "set[0].value", "gives text"},
		{"bad placeholder", set(&kinds.Assignment{Variable: "cartId", Value: "{{cartId"}), "set[0].value", "is not closed"},
		{"unknown attribute in a placeholder", set(&kinds.Assignment{Variable: "cartId", Value: "{{person.age}}"}), "set[0].value", `unknown person attribute "age" (1:8)`},
		{"formula of text into a number", set(&kinds.Assignment{Variable: "count", Formula: "cartId + 'x'"}), "set[0].formula", "variable count is number but the formula gives text"},
		{"formula of a number into a date", set(&kinds.Assignment{Variable: "due", Formula: "count"}), "set[0].formula", "gives number"},
		{"formula syntax", set(&kinds.Assignment{Variable: "count", Formula: "count +"}), "set[0].formula", "(1:7)"},
	} {
		t.Run(tc.name, func(t *testing.T) { requireFieldError(t, tc.el, tc.field, tc.msg) })
	}
}

// TestUpdateVariableRuntimeFailure checks that a value that fails at run
// time fails the step and leaves every variable as it was.
func TestUpdateVariableRuntimeFailure(t *testing.T) {
	for _, el := range []*kinds.UpdateVariable{
		{Set: []*kinds.Assignment{{Variable: "cartId", Value: "new"}, {Variable: "count", Formula: "person.plan"}}},
		{Set: []*kinds.Assignment{{Variable: "cartId", Value: "new"}, {Variable: "count", Value: "{{person.city}}"}}},
		{Set: []*kinds.Assignment{{Variable: "cartId", Value: "new"}, {Variable: "due", Value: "{{person.city}}-{{count}}"}}},
		{Set: []*kinds.Assignment{{Variable: "cartId", Value: "new"}, {Variable: "total", Formula: "int(cartId)"}}},
	} {
		r := builtinRun()
		before := maps.Clone(r.Vars)
		_, err := runBuiltin(t, el, r)
		require.ErrorContains(t, err, "variable \""+el.Set[1].Variable+"\": ")
		require.Equal(t, before, r.Vars)
		person, events := effects(r)
		require.Nil(t, person)
		require.Empty(t, events)
	}
}

func TestUpdateProfile(t *testing.T) {
	set := func(a ...*kinds.Assignment) *kinds.UpdateProfile { return &kinds.UpdateProfile{Set: a} }
	type change struct {
		attr     string
		old, new any
	}
	for _, tc := range []struct {
		name    string
		el      *kinds.UpdateProfile
		changes []change
		check   func(t *testing.T, p *store.Person)
		reason  string
	}{
		{"standard attribute from empty", set(&kinds.Assignment{Attribute: "lastName", Value: "Horvat"}),
			[]change{{"lastName", nil, "Horvat"}}, func(t *testing.T, p *store.Person) { require.Equal(t, "Horvat", p.LastName) }, `profile lastName = "Horvat"`},
		{"standard attribute changed", set(&kinds.Assignment{Attribute: "city", Value: "Split"}),
			[]change{{"city", "Zagreb", "Split"}}, func(t *testing.T, p *store.Person) { require.Equal(t, "Split", p.City) }, ""},
		{"birth date", set(&kinds.Assignment{Attribute: "birthDate", Value: "1991-01-02"}),
			[]change{{"birthDate", time.Date(1990, 5, 17, 0, 0, 0, 0, time.UTC), time.Date(1991, 1, 2, 0, 0, 0, 0, time.UTC)}}, nil, ""},
		{"custom attribute", set(&kinds.Assignment{Attribute: "score", Value: 50}),
			[]change{{"score", 42.0, 50.0}}, func(t *testing.T, p *store.Person) { require.Equal(t, 50.0, p.Attributes["score"]) }, `profile score = "50"`},
		{"custom attribute from empty", set(&kinds.Assignment{Attribute: "nickname", Value: "Anči"}),
			[]change{{"nickname", nil, "Anči"}}, nil, ""},
		{"from a variable", set(&kinds.Assignment{Attribute: "plan", Value: "{{cartId}}"}),
			[]change{{"plan", "pro", "c-17"}}, nil, ""},
		{"from another attribute", set(&kinds.Assignment{Attribute: "nickname", Value: "{{person.firstName}} from {{person.city}}"}),
			[]change{{"nickname", nil, "Ana from Zagreb"}}, nil, ""},
		{"a number placeholder keeps its type", set(&kinds.Assignment{Attribute: "score", Value: "{{count}}"}),
			[]change{{"score", 42.0, 3.0}}, nil, ""},
		{"formula", set(&kinds.Assignment{Attribute: "score", Formula: "person.score + count * 2"}),
			[]change{{"score", 42.0, 48.0}}, nil, `profile score = "48"`},
		{"formula of a bool", set(&kinds.Assignment{Attribute: "vip", Formula: "person.score < 10"}),
			[]change{{"vip", true, false}}, nil, ""},
		{"empty a standard attribute", set(&kinds.Assignment{Attribute: "city", Empty: true}),
			[]change{{"city", "Zagreb", nil}}, func(t *testing.T, p *store.Person) { require.Empty(t, p.City) }, "profile city = empty"},
		{"empty a custom attribute", set(&kinds.Assignment{Attribute: "score", Empty: true}),
			[]change{{"score", 42.0, nil}}, func(t *testing.T, p *store.Person) { require.NotContains(t, p.Attributes, "score") }, ""},
		{"empty text empties", set(&kinds.Assignment{Attribute: "plan", Value: ""}),
			[]change{{"plan", "pro", nil}}, nil, ""},
		{"time zone", set(&kinds.Assignment{Attribute: "timeZone", Value: "Asia/Tokyo"}),
			[]change{{"timeZone", "Europe/Zagreb", "Asia/Tokyo"}}, nil, ""},
		{"many, in order", set(&kinds.Assignment{Attribute: "city", Value: "Split"}, &kinds.Assignment{Attribute: "firstName", Value: "Ana"}, &kinds.Assignment{Attribute: "score", Formula: "person.score + 1"}),
			[]change{{"city", "Zagreb", "Split"}, {"score", 42.0, 43.0}}, nil, `profile city = "Split", firstName = "Ana", score = "43"`},
		{"unchanged: no event", set(&kinds.Assignment{Attribute: "firstName", Value: "Ana"}, &kinds.Assignment{Attribute: "score", Formula: "42"}),
			nil, nil, ""},
		{"empty stays empty: no event", set(&kinds.Assignment{Attribute: "lastName", Empty: true}, &kinds.Assignment{Attribute: "nickname", Value: ""}),
			nil, nil, ""},
		{"same day: no event", set(&kinds.Assignment{Attribute: "birthDate", Value: "1990-05-17T15:00:00+02:00"}),
			nil, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := builtinRun()
			original := r.Person
			snapshot := original.Clone()
			out, err := runBuiltin(t, tc.el, r)
			require.NoError(t, err)
			require.Equal(t, element.BranchNext, out.Branch)
			if tc.reason != "" {
				require.Equal(t, tc.reason, out.Reason)
			}
			require.Equal(t, snapshot, original, "the person handed in is not changed in place")
			person, events := effects(r)
			require.Len(t, events, len(tc.changes))
			if len(tc.changes) == 0 {
				require.Nil(t, person)
				return
			}
			require.NotNil(t, person)
			for i, ch := range tc.changes {
				ev := events[i]
				require.Equal(t, store.People, ev.Category)
				require.Equal(t, store.AttributeChanged, ev.Name)
				require.Equal(t, exprPerson, ev.PersonID)
				require.Equal(t, exprNow, ev.Time)
				require.Equal(t, builtinParticipant.String()+":7:"+string(rune('0'+i)), ev.ID)
				require.Equal(t, map[string]any{
					"attribute": ch.attr, "old": ch.old, "new": ch.new,
					"flowId": "onboarding", "participantId": builtinParticipant.String(), "elementId": "step",
				}, ev.Properties)
				got, _ := person.Get(ch.attr)
				if ch.new == nil {
					got = nil
				}
				require.Equal(t, ch.new, got)
			}
			if tc.check != nil {
				tc.check(t, person)
			}
		})
	}
}

func TestUpdateProfileValidate(t *testing.T) {
	set := func(a ...*kinds.Assignment) *kinds.UpdateProfile { return &kinds.UpdateProfile{Set: a} }
	for _, tc := range []struct {
		name  string
		el    *kinds.UpdateProfile
		field string
		msg   string
	}{
		{"nothing", set(), "set", "no attributes to update"},
		{"nil assignment", set(nil), "set[0].attribute", "attribute name is missing"},
		{"no attribute", set(&kinds.Assignment{Value: "x"}), "set[0].attribute", "attribute name is missing"},
		{"a variable", set(&kinds.Assignment{Attribute: "city", Variable: "cartId", Value: "x"}), "set[0].variable", "sets attributes, not variables"},
		{"unknown attribute", set(&kinds.Assignment{Attribute: "city", Value: "x"}, &kinds.Assignment{Attribute: "age", Value: 3}), "set[1].attribute", `unknown person attribute "age"`},
		{"no value", set(&kinds.Assignment{Attribute: "city"}), "set[0]", "attribute city: give exactly one of value, formula, empty"},
		{"text into a number", set(&kinds.Assignment{Attribute: "score", Value: "high"}), "set[0].value", "is not a number"},
		{"bad birth date", set(&kinds.Assignment{Attribute: "birthDate", Value: "17.05.1990"}), "set[0].value", "is not a date"},
		{"formula of text into a bool", set(&kinds.Assignment{Attribute: "vip", Formula: "cartId + '!'"}), "set[0].formula", "attribute vip is bool but the formula gives text"},
		{"formula of a number into a bool", set(&kinds.Assignment{Attribute: "vip", Formula: "count"}), "set[0].formula", "attribute vip is bool but the formula gives number"},
		{"formula with an unknown attribute", set(&kinds.Assignment{Attribute: "score", Formula: "person.age * 2"}), "set[0].formula", `unknown person attribute "age" (1:8)`},
		{"placeholder of a list into text", set(&kinds.Assignment{Attribute: "city", Value: "{{items}}"}), "set[0].value", "gives list"},
		{"text placeholders into a number", set(&kinds.Assignment{Attribute: "score", Value: "{{count}}0"}), "set[0].value", "gives text"},
		{"bad time zone", set(&kinds.Assignment{Attribute: "timeZone", Value: "Mars/Olympus_Mons"}), "set[0].value", `"Mars/Olympus_Mons" is not a time zone`},
	} {
		t.Run(tc.name, func(t *testing.T) { requireFieldError(t, tc.el, tc.field, tc.msg) })
	}
}

func TestUpdateProfileRuntimeFailure(t *testing.T) {
	for _, tc := range []struct {
		el  *kinds.UpdateProfile
		msg string
	}{
		{&kinds.UpdateProfile{Set: []*kinds.Assignment{{Attribute: "city", Value: "Split"}, {Attribute: "score", Formula: "person.plan"}}},
			`attribute "score": `},
		{&kinds.UpdateProfile{Set: []*kinds.Assignment{{Attribute: "city", Value: "Split"}, {Attribute: "timeZone", Value: "{{cartId}}"}}},
			`attribute "timeZone": "c-17" is not a time zone`},
		{&kinds.UpdateProfile{Set: []*kinds.Assignment{{Attribute: "timeZone", Formula: "'Europe/' + person.city"}}},
			""},
	} {
		r := builtinRun()
		original := r.Person
		snapshot := original.Clone()
		_, err := runBuiltin(t, tc.el, r)
		if tc.msg == "" {
			require.NoError(t, err)
			require.Equal(t, "Europe/Zagreb", r.Person.TimeZone)
			continue
		}
		require.ErrorContains(t, err, tc.msg)
		// The engine drops a failed step's effects; the person it handed in
		// must be as it was.
		require.Equal(t, snapshot, original)
	}
}

func TestTags(t *testing.T) {
	for _, tc := range []struct {
		name   string
		el     element.Element
		tags   []string // after
		event  string   // "" for none
		tag    string
		reason string
	}{
		{"add", &kinds.AddTag{Tag: "vip"}, []string{"beta", "new", "vip"}, store.TagAdded, "vip", `tagged "vip"`},
		{"add sorted", &kinds.AddTag{Tag: "alpha"}, []string{"alpha", "beta", "new"}, store.TagAdded, "alpha", ""},
		{"add again", &kinds.AddTag{Tag: "new"}, []string{"beta", "new"}, "", "", `already tagged "new"`},
		{"add with a placeholder", &kinds.AddTag{Tag: "plan-{{entry.properties.plan}}"}, []string{"beta", "new", "plan-pro"}, store.TagAdded, "plan-pro", `tagged "plan-pro"`},
		{"add trimmed", &kinds.AddTag{Tag: "  {{person.plan}} "}, []string{"beta", "new", "pro"}, store.TagAdded, "pro", ""},
		{"remove", &kinds.RemoveTag{Tag: "new"}, []string{"beta"}, store.TagRemoved, "new", `removed tag "new"`},
		{"remove what is not there", &kinds.RemoveTag{Tag: "vip"}, []string{"beta", "new"}, "", "", `had no tag "vip"`},
		{"remove with a placeholder", &kinds.RemoveTag{Tag: "{{'ne' + 'w'}}"}, []string{"beta"}, store.TagRemoved, "new", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := builtinRun()
			original := r.Person
			out, err := runBuiltin(t, tc.el, r)
			require.NoError(t, err)
			require.Equal(t, element.BranchNext, out.Branch)
			if tc.reason != "" {
				require.Equal(t, tc.reason, out.Reason)
			}
			require.Equal(t, []string{"beta", "new"}, original.Tags, "the person handed in is not changed in place")
			person, events := effects(r)
			if tc.event == "" {
				require.Nil(t, person)
				require.Empty(t, events)
				return
			}
			require.Equal(t, tc.tags, person.Tags)
			require.Len(t, events, 1)
			require.Equal(t, store.People, events[0].Category)
			require.Equal(t, tc.event, events[0].Name)
			require.Equal(t, tc.tag, events[0].Properties["tag"])
			require.Equal(t, "step", events[0].Properties["elementId"])
		})
	}
}

func TestTagsAddThenRemoveInOneStep(t *testing.T) {
	r := builtinRun()
	ctx := context.Background()
	add, remove := &kinds.AddTag{Tag: "trial"}, &kinds.RemoveTag{Tag: "trial"}
	require.NoError(t, add.Validate(exprCompiler()))
	require.NoError(t, remove.Validate(exprCompiler()))
	_, err := add.Run(ctx, r)
	require.NoError(t, err)
	_, err = remove.Run(ctx, r)
	require.NoError(t, err)
	person, events := effects(r)
	require.Equal(t, []string{"beta", "new"}, person.Tags)
	require.Len(t, events, 2)
	require.Equal(t, store.TagAdded, events[0].Name)
	require.Equal(t, store.TagRemoved, events[1].Name)
	require.NotEqual(t, events[0].ID, events[1].ID)
}

func TestTagErrors(t *testing.T) {
	for _, el := range []element.Element{&kinds.AddTag{}, &kinds.RemoveTag{Tag: "  "}} {
		requireFieldError(t, el, "tag", "tag is empty")
	}
	requireFieldError(t, &kinds.AddTag{Tag: "plan-{{entry.properties.plan"}, "tag", "is not closed")
	requireFieldError(t, &kinds.RemoveTag{Tag: "{{person.age}}"}, "tag", `unknown person attribute "age"`)

	// A tag that renders empty for this person fails the step.
	for _, el := range []element.Element{&kinds.AddTag{Tag: "{{person.lastName}}"}, &kinds.RemoveTag{Tag: " {{person.lastName}} "}} {
		r := builtinRun()
		_, err := runBuiltin(t, el, r)
		require.ErrorContains(t, err, "is empty for this person")
		person, events := effects(r)
		require.Nil(t, person)
		require.Empty(t, events)
	}
	_, err := runBuiltin(t, &kinds.AddTag{Tag: "{{int(cartId)}}"}, builtinRun())
	require.ErrorContains(t, err, `expression "int(cartId)"`)
}

func TestExit(t *testing.T) {
	for _, tc := range []struct {
		el   *kinds.Exit
		want string
	}{
		{&kinds.Exit{}, "reached exit"},
		{&kinds.Exit{Reason: "onboarding done"}, "onboarding done"},
	} {
		r := builtinRun()
		out, err := runBuiltin(t, tc.el, r)
		require.NoError(t, err)
		require.Equal(t, element.Leave(tc.want), out)
		require.Empty(t, out.Branch)
		require.Nil(t, out.Wait)
		person, events := effects(r)
		require.Nil(t, person)
		require.Empty(t, events)
	}
}

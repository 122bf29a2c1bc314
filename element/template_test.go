package element_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/flowkit/flowkit/element"
	"github.com/stretchr/testify/require"
)

func mustTemplate(t testing.TB, text string) *element.Template {
	t.Helper()
	tmpl, err := exprCompiler().Template("body", text)
	require.NoError(t, err, text)
	return tmpl
}

func TestTemplatePlain(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"Hi {{person.firstName}}!", "Hi Ana!"},
		{"{{ cartId }}", "c-17"},
		{"Cart {{cartId}}: {{count}} items, {{total * 2}} EUR", "Cart c-17: 3 items, 39.98 EUR"},
		{"plan {{entry.properties.plan}} from {{entry.properties.source}}", "plan pro from ad"},
		{"{{person.score > 40 ? 'high' : 'low'}} score", "high score"},
		{"{{person.city}}/{{person.plan}}", "Zagreb/pro"},
		{"due {{due}}, paid {{paidAt}}", "due 2026-03-31, paid 2026-03-01T18:05:00Z"},
		{"{{items}} {{meta}} {{flag}}", `["x","y"] {"k":"v"} true`},
		{"[{{person.lastName}}]", "[]"},
		{"{{count}}{{cartId}}", "3c-17"},
		{"no placeholders", "no placeholders"},
		{"", ""},
		// A "}}" outside a placeholder is text: JSON bodies end in it.
		{`{"a":{"b":1}}`, `{"a":{"b":1}}`},
		{`{"a":{"b":"{{cartId}}"}}`, `{"a":{"b":"c-17"}}`},
		{"}} {", "}} {"},
	} {
		got, err := mustTemplate(t, tc.text).Render(exprRun(), element.Plain)
		require.NoError(t, err, tc.text)
		require.Equal(t, tc.want, got, tc.text)
	}
}

func TestTemplateValue(t *testing.T) {
	for _, tc := range []struct {
		text     string
		want     any
		single   bool
		constant bool
	}{
		{"{{count}}", 3.0, true, false},
		{"{{ items }}", []any{"x", "y"}, true, false},
		{"{{flag}}", true, true, false},
		{"{{count * 2}}", 6.0, true, false},
		{"{{due}}", exprRun().Vars["due"], true, false},
		{"{{count}} items", "3 items", false, false},
		{" {{count}}", " 3", false, false},
		{"plain", "plain", false, true},
		{"", "", false, true},
	} {
		tmpl := mustTemplate(t, tc.text)
		require.Equal(t, tc.single, tmpl.Single() != nil, tc.text)
		require.Equal(t, tc.constant, tmpl.Constant(), tc.text)
		require.Equal(t, tc.text, tmpl.Source)
		got, err := tmpl.Value(exprRun())
		require.NoError(t, err, tc.text)
		require.Equal(t, tc.want, got, tc.text)
	}
}

func TestTemplateURL(t *testing.T) {
	r := exprRun()
	r.Vars["cartId"] = "a b/c?d"
	tmpl := mustTemplate(t, "https://shop.test/carts/{{cartId}}/items?q={{query}}&who={{person.firstName}}&id={{cartId}}")
	got, err := tmpl.Render(r, element.URL)
	require.NoError(t, err)
	// Before the "?" a value is one path segment; after it, a query value.
	require.Equal(t, "https://shop.test/carts/a%20b%2Fc%3Fd/items?q=rock+%26+roll%2F50%25&who=Ana&id=a+b%2Fc%3Fd", got)

	plain, err := tmpl.Render(r, element.Plain)
	require.NoError(t, err)
	require.Equal(t, "https://shop.test/carts/a b/c?d/items?q=rock & roll/50%&who=Ana&id=a b/c?d", plain)

	// A "?" inside a value does not start the query.
	got, err = mustTemplate(t, "https://shop.test/{{cartId}}/{{cartId}}").Render(r, element.URL)
	require.NoError(t, err)
	require.Equal(t, "https://shop.test/a%20b%2Fc%3Fd/a%20b%2Fc%3Fd", got)
}

func TestTemplateJSON(t *testing.T) {
	body := `{
  "id": "{{cartId}}",
  "count": {{count}},
  "total": {{total}},
  "vip": {{person.vip}},
  "greeting": "Hello {{person.firstName}}, \"{{nick}}\"!",
  "tags": {{person.tags}},
  "meta": {{meta}},
  "due": {{due}},
  "dueText": "due {{due}}",
  "none": {{person.lastName}},
  "nick": {{nick}},
  "nested": {"name": "{{nick}}", "list": [{{count}}, "{{count}}"]}
}`
	r := exprRun()
	r.Vars["nick"] = "Ann \"The\" \\ Lee\n\t<b>"
	got, err := mustTemplate(t, body).Render(r, element.JSON)
	require.NoError(t, err)
	require.True(t, json.Valid([]byte(got)), got)
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(got), &m))
	nick := r.Vars["nick"].(string)
	require.Equal(t, map[string]any{
		"id":       "c-17",
		"count":    3.0,
		"total":    19.99,
		"vip":      true,
		"greeting": `Hello Ana, "` + nick + `"!`,
		"tags":     []any{"beta", "new"},
		"meta":     map[string]any{"k": "v"},
		"due":      "2026-03-31",
		"dueText":  "due 2026-03-31",
		"none":     nil,
		"nick":     nick,
		"nested":   map[string]any{"name": nick, "list": []any{3.0, "3"}},
	}, m)
}

// TestTemplateJSONInjection checks that a value cannot break out of the
// string it is written in.
func TestTemplateJSONInjection(t *testing.T) {
	r := exprRun()
	r.Vars["nick"] = `", "admin": true, "x": "`
	for _, body := range []string{
		`{"name": "{{nick}}"}`,
		`{"name": "Dear {{nick}}"}`,
		`{"name": "{{nick}} and {{nick}}"}`,
		`{"name": {{nick}}}`,
	} {
		got, err := mustTemplate(t, body).Render(r, element.JSON)
		require.NoError(t, err, body)
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(got), &m), got)
		require.Len(t, m, 1, got)
		require.Contains(t, m["name"], r.Vars["nick"], got)
	}
}

func TestTemplateErrors(t *testing.T) {
	for _, tc := range []struct {
		text string
		msg  []string
	}{
		{"Hi {{person.firstName", []string{`placeholder "{{" is not closed`}},
		{"Hi {{person.firstName}} and {{cartId", []string{"is not closed"}},
		{"Hi {{ }}", []string{"empty placeholder"}},
		{"{{}}", []string{"empty placeholder"}},
		{"{{ count + }}", []string{`expression "count +"`, "unexpected token EOF", "(1:7)"}},
		{"x {{count}} {{ count +\n * 2 }}", []string{"(2:2)"}},
		{"Hi {{person.nickname}} {{person.age}}", []string{`unknown person attribute "age"`, "(1:8)"}},
		{"{{missing}}", []string{"unknown name missing", "(1:1)"}},
		{`{{count + "x"}}`, []string{"mismatched types", "(1:7)"}},
	} {
		_, err := exprCompiler().Template("body", tc.text)
		var fe *element.FieldError
		require.True(t, errors.As(err, &fe), "%q: want a *FieldError, got %v", tc.text, err)
		require.Equal(t, "body", fe.Field)
		for _, m := range tc.msg {
			require.ErrorContains(t, err, m, tc.text)
		}
	}
}

func TestTemplateRuntimeError(t *testing.T) {
	tmpl := mustTemplate(t, "id {{int(cartId)}}")
	for _, enc := range []element.Encoding{element.Plain, element.URL, element.JSON} {
		_, err := tmpl.Render(exprRun(), enc)
		require.ErrorContains(t, err, `expression "int(cartId)"`)
	}
	_, err := mustTemplate(t, "{{int(cartId)}}").Value(exprRun())
	require.ErrorContains(t, err, `expression "int(cartId)"`)
}

// FuzzTemplate compiles and renders arbitrary text: it must never panic,
// compile errors are *FieldErrors, and text without placeholders renders
// as itself.
func FuzzTemplate(f *testing.F) {
	for _, seed := range []string{
		"", "plain", "Hi {{person.firstName}}!", "{{count * 2}}", "{{", "}}", "{{}}", "{{ }}",
		"a {{cartId}} b {{", `{"a": "{{nick}}", "b": {{items}}}`, "https://x.test/{{cartId}}?q={{query}}",
		"{{person.age}}", "{{count +}}", "{{ {'a': 1} }}", "{{{{x}}}}", `"\"{{nick}}\""`, "{{1..3}}",
		"{{entry.properties.plan ?? 'none'}}", "{{now}} {{due}} {{meta}}", "{{ int(cartId) }}", "\xff{{\xfe}}",
		`{{person.lastName | default("friend")}}`, "{{entry.properties.a.b[3]}}", "{{person.nickname ?? 'x'}}",
		"{{items[-1]}}", "{{meta?.k?.x}}", `{{default(nil, 1)}}`, `{{person.firstName != "" ? person.firstName : "friend"}}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		tmpl, err := exprCompiler().Template("t", text)
		if err != nil {
			var fe *element.FieldError
			if !errors.As(err, &fe) || fe.Field != "t" {
				t.Fatalf("%q: error %v is not a *FieldError for t", text, err)
			}
			return
		}
		for _, enc := range []element.Encoding{element.Plain, element.URL, element.JSON} {
			r := exprRun()
			got, err := tmpl.Render(r, enc)
			if err == nil && tmpl.Constant() && got != text {
				t.Fatalf("%q: constant template rendered as %q", text, got)
			}
			if n := len(r.Effects().Notes); n > 8 {
				t.Fatalf("%q: %d notes, more than a step keeps", text, n)
			}
		}
		_, _ = tmpl.Value(exprRun())
		if !strings.Contains(text, "{{") && !tmpl.Constant() {
			t.Fatalf("%q: placeholder found in text without {{", text)
		}
	})
}

// The rules for missing and empty values, as the README states them.
func TestTemplateMissingAndEmpty(t *testing.T) {
	c := exprCompiler()
	for _, tc := range []struct {
		name, text string
		enc        element.Encoding
		want       string
		notes      []string
	}{
		{"a missing property renders empty, noted", "cart {{entry.properties.nope}}.", element.Plain, "cart .",
			[]string{"body: {{entry.properties.nope}} has no value: rendered empty"}},
		{"deeper than the event goes", "{{entry.properties.nope.deeper}}|{{items[5]}}|{{meta.k.x}}", element.Plain, "||",
			[]string{"body: {{entry.properties.nope.deeper}} has no value: rendered empty", "body: {{items[5]}} has no value: rendered empty", "body: {{meta.k.x}} has no value: rendered empty"}},
		{"an empty attribute renders empty, noted", "Hi {{person.lastName}}!", element.Plain, "Hi !",
			[]string{"body: {{person.lastName}} has no value: rendered empty"}},
		{"an empty attribute compares as empty text", `Hi {{person.lastName != "" ? person.lastName : "friend"}}!`, element.Plain, "Hi friend!", nil},
		{"a set attribute compares as itself", `Hi {{person.firstName != "" ? person.firstName : "friend"}}!`, element.Plain, "Hi Ana!", nil},
		{"default fills an empty attribute", `Hi {{person.lastName | default("friend")}}!`, element.Plain, "Hi friend!", nil},
		{"default fills a missing property", `{{entry.properties.nope | default("none")}}`, element.Plain, "none", nil},
		{"default keeps a value", `{{person.firstName | default("friend")}}`, element.Plain, "Ana", nil},
		{"?? on an empty attribute", `{{person.nickname ?? "friend"}}`, element.Plain, "friend", nil},
		{"missing in JSON is null", `{"a": {{entry.properties.nope}}, "b": "x{{entry.properties.nope}}y"}`, element.JSON, `{"a": null, "b": "xy"}`,
			[]string{"body: {{entry.properties.nope}} has no value: rendered empty"}},
		{"missing in a URL is empty", `https://x.example/{{entry.properties.nope}}?q={{person.lastName}}`, element.URL, "https://x.example/?q=",
			[]string{"body: {{entry.properties.nope}} has no value: rendered empty", "body: {{person.lastName}} has no value: rendered empty"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := c.Template("body", tc.text)
			require.NoError(t, err)
			r := exprRun()
			got, err := tmpl.Render(r, tc.enc)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.notes, r.Effects().Notes)
		})
	}
	// With no entry event at all, entry's properties are missing too.
	tmpl, err := c.Template("body", "{{entry.properties.cartId}}")
	require.NoError(t, err)
	r := exprRun()
	r.Entry = nil
	got, err := tmpl.Render(r, element.Plain)
	require.NoError(t, err)
	require.Empty(t, got)
	// An expression that fails still fails: only a path that leads
	// nowhere renders empty.
	tmpl, err = c.Template("body", "{{upper(entry.properties.nope)}}")
	require.NoError(t, err)
	_, err = tmpl.Render(exprRun(), element.Plain)
	require.Error(t, err)
}

package element_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/flowkit/flowkit/element"
	"github.com/stretchr/testify/require"
)

func settingsRun(values map[string]string) *element.Run {
	r := exprRun()
	r.Ports.Settings = func(name string) (string, bool) {
		v, ok := values[name]
		return v, ok
	}
	return r
}

// A setting alone before the "?" of a URL is written as it is (it may
// hold a base URL); after it, and inside other expressions, it is escaped
// as any value.
func TestSettingsInURL(t *testing.T) {
	r := settingsRun(map[string]string{"BASE": "https://api.example.com/v1", "KEY": "a&b=c", "SEG": "x/y"})
	for _, tc := range []struct{ text, want string }{
		{"{{env.BASE}}/carts/{{cartId}}?key={{env.KEY}}", "https://api.example.com/v1/carts/c-17?key=a%26b%3Dc"},
		{"{{env['BASE']}}/q?k={{env.KEY}}", "https://api.example.com/v1/q?k=a%26b%3Dc"},
		{"https://h/{{env.SEG}}/{{env.SEG + ''}}", "https://h/x/y/x%2Fy"},
	} {
		tmpl, err := exprCompiler().WithSettings().Template("url", tc.text)
		require.NoError(t, err)
		got, err := tmpl.Render(r, element.URL)
		require.NoError(t, err, tc.text)
		require.Equal(t, tc.want, got, tc.text)
	}
}

// Redact replaces a setting's value, its URL-escaped forms and, for a URL,
// its host, by the placeholder; only settings the step read count.
func TestSettingsRedact(t *testing.T) {
	r := settingsRun(map[string]string{"BASE": "https://api.example.com:8443/v1", "KEY": "s3cr3t/k", "OTHER": "Zagreb"})
	tmpl, err := exprCompiler().WithSettings().Template("url", "{{env.BASE}}?k={{env.KEY}}")
	require.NoError(t, err)
	_, err = tmpl.Render(r, element.URL)
	require.NoError(t, err)
	require.Equal(t, "GET {{env.BASE}}/x: dial tcp {{env.BASE}}: refused; key {{env.KEY}} {{env.KEY}} {{env.KEY}}; city Zagreb",
		r.RedactText("GET https://api.example.com:8443/v1/x: dial tcp api.example.com:8443: refused; key s3cr3t/k s3cr3t%2Fk s3cr3t%2Fk; city Zagreb"))

	cause := errors.New("key s3cr3t/k refused")
	out, err := r.Redact(element.Next("2xx", "sent with s3cr3t/k"), cause)
	require.Equal(t, "sent with {{env.KEY}}", out.Reason)
	require.EqualError(t, err, "key {{env.KEY}} refused")
	require.ErrorIs(t, err, cause)

	// A step that read no setting keeps its texts.
	plain := exprRun()
	require.Equal(t, "s3cr3t/k", plain.RedactText("s3cr3t/k"))
}

// An unset setting fails the evaluation, naming the setting.
func TestSettingUnsetNamed(t *testing.T) {
	p, err := exprCompiler().WithSettings().Expr("value", "env.MISSING + '!'")
	require.NoError(t, err)
	_, err = p.Eval(settingsRun(nil))
	require.EqualError(t, err, `expression "env.MISSING + '!'": setting env.MISSING is not set`)
}

// Settings are read by name, so that an expression cannot hand all of
// them out.
func TestSettingsByNameOnly(t *testing.T) {
	for _, src := range []string{"env", "string(env)", "env[cartId]", "keys(env)"} {
		_, err := exprCompiler().WithSettings().Expr("value", src)
		require.ErrorContains(t, err, "env is read by setting name", src)
	}
}

// FuzzRedact renders a template holding a setting around arbitrary text,
// in every encoding: after Redact, no stretch of text between the
// placeholders it wrote holds the value (a value such as "}0" may still
// read across a placeholder's edge: "}{{env.KEY}}0").
func FuzzRedact(f *testing.F) {
	for _, seed := range [][3]string{
		{"GET ", "/x", "https://api.example.com"}, {"", "", "k"}, {"a", "b", "a%2Fb"}, {"key=", "&", "s3cr3t/+ ="},
		{"{", "}", "}{"}, {"", "", "KEY}}"}, {"http://", "/p", "host:8080"}, {"", "", "\xff"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, prefix, suffix, value string) {
		if value == "" {
			return
		}
		prefix, suffix = strings.ReplaceAll(prefix, "{{", ""), strings.ReplaceAll(suffix, "{{", "")
		tmpl, err := exprCompiler().WithSettings().Template("t", prefix+"{{env.KEY}}"+suffix)
		if err != nil {
			return // a stray "{{" joined across the placeholder
		}
		for _, enc := range []element.Encoding{element.Plain, element.URL, element.JSON} {
			r := settingsRun(map[string]string{"KEY": value})
			out, err := tmpl.Render(r, enc)
			if err != nil {
				continue
			}
			red := r.RedactText(out)
			for _, piece := range strings.Split(red, "{{env.KEY}}") {
				if strings.Contains(piece, value) {
					t.Fatalf("encoding %d: %q redacted to %q still holds %q", enc, out, red, value)
				}
			}
		}
	})
}

// Redact replaces a setting's value in each spelling the engine writes.
func TestSettingsRedactSpellings(t *testing.T) {
	const value = `Pa ss;w,rd<&>"é\`
	r := settingsRun(map[string]string{"KEY": value, "ESC": "a%41 b"})
	for _, src := range []string{"env.KEY", "env.ESC"} {
		p, err := exprCompiler().WithSettings().Expr("value", src)
		require.NoError(t, err)
		_, err = p.Eval(r)
		require.NoError(t, err)
	}
	j, _ := json.Marshal(value)
	var plain strings.Builder
	enc := json.NewEncoder(&plain)
	enc.SetEscapeHTML(false)
	require.NoError(t, enc.Encode(value))
	for name, spelled := range map[string]string{
		"raw":                value,
		"path escaped":       url.PathEscape(value),
		"query escaped":      url.QueryEscape(value),
		"a URL path":         (&url.URL{Path: value}).EscapedPath(), // Pa%20ss;w,rd%3C&%3E%22%C3%A9%5C
		"JSON":               string(j[1 : len(j)-1]),
		"JSON, no HTML":      strings.TrimSuffix(plain.String(), "\n")[1 : len(plain.String())-2],
		"Go quoted":          strconv.Quote(value)[1 : len(strconv.Quote(value))-1],
		"decoded in a URL":   "/x/aA%20b/y",
		"query, then quoted": strconv.Quote(url.QueryEscape(value)),
	} {
		got := r.RedactText("<" + spelled + ">")
		require.NotContains(t, got, "ss;w", name)
		require.NotContains(t, got, "A%20b", name)
		require.Contains(t, got, "{{env.", name)
	}
}

// RedactOutcome also takes the step's settings out of what it stored:
// the variables, the profile attributes it changed and the events it
// emitted, so a host's own kind that copies its config there keeps only
// the placeholder. Attributes the step did not change stay as they are.
func TestSettingsScrubbedFromEffects(t *testing.T) {
	r := settingsRun(map[string]string{"TOKEN": "tok-51ab"})
	r.Person.Attributes["plan"] = "tok-51ab" // the person's own, before the step
	tmpl, err := exprCompiler().WithSettings().Template("config", "{{env.TOKEN}}")
	require.NoError(t, err)
	v, err := tmpl.Value(r)
	require.NoError(t, err)
	r.Vars["nick"] = v
	r.Vars["items"] = []any{"x", map[string]any{"t": "Bearer " + v.(string)}}
	r.SetAttribute("city", v)
	r.SetAttribute("nickname", "n-"+v.(string))
	r.Emit("external", "Synced", map[string]any{"token": v})

	out, err := r.Redact(element.Next("next", "sent "+v.(string)), nil)
	require.NoError(t, err)
	require.Equal(t, "sent {{env.TOKEN}}", out.Reason)
	require.Equal(t, "{{env.TOKEN}}", r.Vars["nick"])
	require.Equal(t, []any{"x", map[string]any{"t": "Bearer {{env.TOKEN}}"}}, r.Vars["items"])
	eff := r.Effects()
	person, events := eff.Person, eff.Events
	require.Equal(t, "{{env.TOKEN}}", person.City)
	require.Equal(t, "n-{{env.TOKEN}}", person.Attributes["nickname"])
	require.Equal(t, "tok-51ab", person.Attributes["plan"])
	for _, ev := range events {
		for k, p := range ev.Properties {
			require.NotContains(t, fmt.Sprint(p), "tok-51ab", "%s %s", ev.Name, k)
		}
	}
	// A second call, as the engine makes for a step that called out,
	// changes nothing more.
	again, _ := r.Redact(out, nil)
	require.Equal(t, out, again)
}

// Only the fields of a call out may read settings.
func TestSettingsOnlyWithSettings(t *testing.T) {
	_, err := exprCompiler().Template("body", "code {{env.TOKEN}}")
	require.EqualError(t, err, `body: expression "env.TOKEN": reads host setting env.TOKEN, which only fields sent to the host's services may read (Call API url, headers and body; a custom kind's config)`)
	_, err = exprCompiler().WithSettings().Template("body", "code {{env.TOKEN}}")
	require.NoError(t, err)
}

// BenchmarkRedactOutcome measures what the engine adds to a step that
// read two settings: redacting its reason and its ten variables.
func BenchmarkRedactOutcome(b *testing.B) {
	tmpl, err := exprCompiler().WithSettings().Template("url", "{{env.BASE}}/x?k={{env.KEY}}")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		r := settingsRun(map[string]string{"BASE": "https://api.example.com/v1", "KEY": "k-3f9a0c"})
		if _, err := tmpl.Render(r, element.URL); err != nil {
			b.Fatal(err)
		}
		if _, err := r.Redact(element.Next("2xx", "GET https://api.example.com/v1/x: 200"), nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderSettings is BenchmarkRedactOutcome without the
// redaction, for comparison.
func BenchmarkRenderSettings(b *testing.B) {
	tmpl, err := exprCompiler().WithSettings().Template("url", "{{env.BASE}}/x?k={{env.KEY}}")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		r := settingsRun(map[string]string{"BASE": "https://api.example.com/v1", "KEY": "k-3f9a0c"})
		if _, err := tmpl.Render(r, element.URL); err != nil {
			b.Fatal(err)
		}
	}
}

package element_test

import (
	"errors"
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
		tmpl, err := exprCompiler().Template("url", tc.text)
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
	tmpl, err := exprCompiler().Template("url", "{{env.BASE}}?k={{env.KEY}}")
	require.NoError(t, err)
	_, err = tmpl.Render(r, element.URL)
	require.NoError(t, err)
	require.Equal(t, "GET {{env.BASE}}/x: dial tcp {{env.BASE}}: refused; key {{env.KEY}} {{env.KEY}} {{env.KEY}}; city Zagreb",
		element.Redact(r, "GET https://api.example.com:8443/v1/x: dial tcp api.example.com:8443: refused; key s3cr3t/k s3cr3t%2Fk s3cr3t%2Fk; city Zagreb"))

	cause := errors.New("key s3cr3t/k refused")
	out, err := r.Redact(element.Next("2xx", "sent with s3cr3t/k"), cause)
	require.Equal(t, "sent with {{env.KEY}}", out.Reason)
	require.EqualError(t, err, "key {{env.KEY}} refused")
	require.ErrorIs(t, err, cause)

	// A step that read no setting keeps its texts.
	plain := exprRun()
	require.Equal(t, "s3cr3t/k", element.Redact(plain, "s3cr3t/k"))
}

// An unset setting fails the evaluation, naming the setting.
func TestSettingUnsetNamed(t *testing.T) {
	p, err := exprCompiler().Expr("value", "env.MISSING + '!'")
	require.NoError(t, err)
	_, err = p.Eval(settingsRun(nil))
	require.EqualError(t, err, `expression "env.MISSING + '!'": setting env.MISSING is not set`)
}

// Settings are read by name, so that an expression cannot hand all of
// them out.
func TestSettingsByNameOnly(t *testing.T) {
	for _, src := range []string{"env", "string(env)", "env[cartId]", "keys(env)"} {
		_, err := exprCompiler().Expr("value", src)
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
		tmpl, err := exprCompiler().Template("t", prefix+"{{env.KEY}}"+suffix)
		if err != nil {
			return // a stray "{{" joined across the placeholder
		}
		for _, enc := range []element.Encoding{element.Plain, element.URL, element.JSON} {
			r := settingsRun(map[string]string{"KEY": value})
			out, err := tmpl.Render(r, enc)
			if err != nil {
				continue
			}
			red := element.Redact(r, out)
			for _, piece := range strings.Split(red, "{{env.KEY}}") {
				if strings.Contains(piece, value) {
					t.Fatalf("encoding %d: %q redacted to %q still holds %q", enc, out, red, value)
				}
			}
		}
	})
}

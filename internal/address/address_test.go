package address_test

import (
	"strings"
	"testing"
	"unicode"

	"github.com/flowkit/flowkit/internal/address"
	"github.com/flowkit/flowkit/store"
	"github.com/stretchr/testify/require"
)

func TestPhone(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"385912345678", "385912345678"},
		{"+385912345678", "385912345678"},
		{"+385 91 234 5678", "385912345678"},
		{"00385 91 234 5678", "385912345678"},
		{" 385-91-234-5678\n", "385912345678"},
		{"+1 (415) 555.0100", "14155550100"},
		{"+44 (0)20 7946 0000", "442079460000"},
		{"+385\u00a091\u00a0234\u00a05678", "385912345678"}, // no-break spaces
		{"+00385912345678", "385912345678"},
		{"091 234 5678", "0912345678"}, // national form: its digits, another key
		{"", ""},
		{"+", ""},
		{" - ", ""},
		{"tel:+385912345678", ""},
		{"385 91 234 5678 ext 1", ""},
		{"+385+91", ""},
		{"bob@example.com", ""},
		{"٣٨٥٩١", ""}, // digits of other scripts are not phone digits here
	} {
		require.Equal(t, tc.want, address.Phone(tc.in), "%q", tc.in)
	}
}

func TestEmail(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"bob@example.com", "bob@example.com"},
		{"Bob@Example.COM", "bob@example.com"},
		{"  bob@example.com\t", "bob@example.com"},
		{"Ána@Örnek.com", "ána@örnek.com"},
		{"", ""},
	} {
		require.Equal(t, tc.want, address.Email(tc.in), "%q", tc.in)
	}
}

// The normalizers read addresses from outside (events, variables, the
// host): they never panic, are idempotent, and give what their docs say.
func FuzzPhone(f *testing.F) {
	for _, s := range []string{"+385 91 234 5678", "00385912345678", "+44 (0)20 7946 0000", "(0)1", "0000", "+00", "\u00a0+1\u2003", "\xff", "1(0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := address.Phone(s)
		for i := 0; i < len(n); i++ {
			if n[i] < '0' || n[i] > '9' {
				t.Fatalf("Phone(%q) = %q holds a non-digit", s, n)
			}
		}
		if strings.HasPrefix(n, "00") {
			t.Fatalf("Phone(%q) = %q keeps an international prefix", s, n)
		}
		if again := address.Phone(n); again != n {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, n, again)
		}
		if n != "" {
			for _, spelling := range []string{"+" + n, "00" + n, " " + n + " "} {
				if got := address.Phone(spelling); got != n {
					t.Fatalf("Phone(%q) = %q, want %q", spelling, got, n)
				}
			}
			if k := (store.PersonRef{Phone: s}).Key(); k != (store.Key{Kind: store.ByPhone, Value: n}) {
				t.Fatalf("PersonRef{Phone: %q}.Key() = %v, want %q", s, k, n)
			}
			if !address.Same(s, n) && !strings.Contains(s, "@") {
				t.Fatalf("Same(%q, %q) is false", s, n)
			}
		}
	})
}

func FuzzEmail(f *testing.F) {
	for _, s := range []string{"Bob@Example.com", " bob@example.com\t", "İSTANBUL@x.tr", "ẞ@x", "\xff@\xfe", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := address.Email(s)
		if again := address.Email(n); again != n {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, n, again)
		}
		if strings.TrimSpace(n) != n {
			t.Fatalf("Email(%q) = %q keeps spaces", s, n)
		}
		if isASCII(s) && address.Email(strings.ToUpper(s)) != n {
			t.Fatalf("Email(%q) differs from its upper-case spelling's", s)
		}
		if strings.Contains(s, "@") && n != "" {
			if !address.Same(s, n) || !address.Same(n, s) {
				t.Fatalf("Same(%q, %q) is false", s, n)
			}
			if k := (store.PersonRef{Email: s}).Key(); k != (store.Key{Kind: store.ByEmail, Value: n}) {
				t.Fatalf("PersonRef{Email: %q}.Key() = %v, want %q", s, k, n)
			}
		}
	})
}

func isASCII(s string) bool {
	for _, r := range s {
		if r > unicode.MaxASCII {
			return false
		}
	}
	return true
}

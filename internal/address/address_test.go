package address_test

import (
	"strconv"
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

func TestE164(t *testing.T) {
	for _, tc := range []struct{ in, region, want, err string }{
		{"091 123 4567", "HR", "+385911234567", ""},
		{"0911234567", "HR", "+385911234567", ""},
		{"+385 91 123 4567", "HR", "+385911234567", ""},
		{"+385 91 123 4567", "", "+385911234567", ""},
		{"00385 91 123 4567", "", "+385911234567", ""},
		{"385911234567", "", "+385911234567", ""},
		{"385911234567", "HR", "+385911234567", ""},
		{"4915112345678", "HR", "+4915112345678", ""}, // not possible in Croatia: international
		{"(415) 555-0100", "US", "+14155550100", ""},
		{"+44 (0)20 7946 0000", "HR", "+442079460000", ""},
		{"+385\u00a091\u00a0123\u00a04567", "", "+385911234567", ""},
		{"0911234567", "", "", "no default region"},
		{"091 1", "HR", "", "too short"},
		{"+385 91 1", "", "", "too short"},
		{"+385 91 123 4567 8901", "", "", "too long"},
		{"+999 1234 5678", "", "", "country code"},
		{"call me", "HR", "", "must hold digits"},
		{"091 123 4567 ext 12", "HR", "", "must hold digits"},
		{"+1 234 567 890 123 456 789", "", "", "more than E.164's 15"},
		{"", "HR", "", "must hold digits"},
	} {
		got, err := address.E164(tc.in, tc.region)
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err, "%q in %q", tc.in, tc.region)
			if tc.in != "" {
				require.NotContains(t, err.Error(), strings.TrimSpace(tc.in), "the number is not quoted")
			}
			continue
		}
		require.NoError(t, err, "%q in %q", tc.in, tc.region)
		require.Equal(t, tc.want, got, "%q in %q", tc.in, tc.region)
	}
	require.True(t, address.ValidRegion("HR"))
	require.False(t, address.ValidRegion("XX"))
	require.False(t, address.ValidRegion(""))
}

// E164 reads phone numbers from outside (events, forms, the host): it
// never panics, gives "+" and at most 15 digits, is idempotent, and agrees
// with the lookup key of its result.
func FuzzE164(f *testing.F) {
	for _, s := range []string{"091 123 4567", "+385 91 123 4567", "00385912345678", "+44 (0)20 7946 0000", "(415) 555-0100", "+", "00", "0", "\u00a0+1\u2003", "\xff", "+999 1", "1234567890123456789"} {
		for _, region := range []string{"HR", "US", "GB", ""} {
			f.Add(s, region)
		}
	}
	f.Fuzz(func(t *testing.T, s, region string) {
		e, err := address.E164(s, region)
		if err != nil {
			return
		}
		if len(e) < 2 || len(e) > 16 || e[0] != '+' || address.Phone(e) != e[1:] {
			t.Fatalf("E164(%q, %q) = %q: not + and up to 15 digits", s, region, e)
		}
		again, err := address.E164(e, region)
		if err != nil || again != e {
			t.Fatalf("E164(%q) = %q, %v; want it unchanged", e, again, err)
		}
	})
}

// E164 runs on every person reference by phone: its cost per number.
func BenchmarkE164(b *testing.B) {
	b.ReportAllocs()
	for _, tc := range []struct{ name, in, region string }{
		{"international", "+385911234567", ""},
		{"national", "091 123 4567", "HR"},
	} {
		b.Run(tc.name+"/new", func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				// Another number each time: none is in the cache.
				in := tc.in[:len(tc.in)-4] + strconv.Itoa(1000+i%9000)
				i++
				if _, err := address.E164(in, tc.region); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/number")
		})
		b.Run(tc.name+"/again", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := address.E164(tc.in, tc.region); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/number")
		})
	}
}

// The same spelling read again is served from the cache, with the same
// answer, errors included.
func TestE164Again(t *testing.T) {
	for range 3 {
		got, err := address.E164("091 123 4567", "HR")
		require.NoError(t, err)
		require.Equal(t, "+385911234567", got)
		_, err = address.E164("091 123 4567", "")
		require.ErrorContains(t, err, "no default region")
	}
}

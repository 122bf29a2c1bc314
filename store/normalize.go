package store

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// NormalizePhone returns the lookup form of a phone number: its digits,
// without a leading international prefix ("+" or "00", even both). Numbers are
// expected in international form, country code first, so that
// "+385 91 234 5678", "00385 91 234 5678", "385-91-234-5678" and
// "385912345678" are all "385912345678". Spaces, hyphens, dots, slashes
// and parentheses are separators; a trunk prefix written "(0)" after the
// country code, as in "+44 (0)20 7946 0000", is dropped. It returns ""
// when s is not a phone number: no digits, or any other character (a
// letter, a second "+"). A national number such as "091 234 5678" is kept
// as its digits and is a different key from its international form.
func NormalizePhone(s string) string {
	if digitsOnly(s) && !strings.HasPrefix(s, "00") {
		return s // the common case, already normal: no copy
	}
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "+")
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			b.WriteByte(c)
		case c == '(' && b.Len() > 0 && strings.HasPrefix(s[i:], "(0)"):
			i += 3 // a trunk prefix inside the number
			continue
		case strings.IndexByte(" \t-./()", c) >= 0:
		case c >= utf8.RuneSelf:
			// Unicode spaces, such as a no-break space from a web form,
			// separate too.
			r, size := utf8.DecodeRuneInString(s[i:])
			if !unicode.IsSpace(r) {
				return ""
			}
			i += size
			continue
		default:
			return ""
		}
		i++
	}
	d := b.String()
	for strings.HasPrefix(d, "00") {
		d = d[2:]
	}
	return d
}

func digitsOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// NormalizeEmail returns the lookup form of an email address: trimmed of
// spaces and lower-cased, so that "Bob@Example.com " and
// "bob@example.com" are one key. The address is not otherwise checked.
func NormalizeEmail(s string) string {
	return strings.ToLower(strings.TrimSpace(s))
}

// NormalizeAddress normalizes a phone number or an email address (one
// holding an "@") as NormalizePhone or NormalizeEmail does, for lists
// that hold both, such as Person.DoNotContact.
func NormalizeAddress(s string) string {
	if strings.Contains(s, "@") {
		return NormalizeEmail(s)
	}
	return NormalizePhone(s)
}

// SameAddress reports whether a and b are spellings of one phone number
// or one email address. Two strings that are neither are the same only
// when equal.
func SameAddress(a, b string) bool {
	if a == b {
		return true
	}
	na := NormalizeAddress(a)
	return na != "" && na == NormalizeAddress(b)
}

// HasAddress reports whether list holds address in any spelling (see
// SameAddress).
func HasAddress(list []string, address string) bool {
	for _, a := range list {
		if SameAddress(a, address) {
			return true
		}
	}
	return false
}

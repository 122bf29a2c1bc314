// Package address normalizes phone numbers and email addresses to the
// forms people are looked up by, so that any spelling of one finds the
// same person. The store's records (store.Person.Keys, PersonRef.Key,
// Person.Blocked) and the engine use it.
package address

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Phone returns the lookup form of a phone number: its digits,
// without a leading international prefix ("+" or "00", even both). Numbers are
// expected in international form, country code first, so that
// "+385 91 234 5678", "00385 91 234 5678", "385-91-234-5678" and
// "385912345678" are all "385912345678". Spaces, hyphens, dots, slashes
// and parentheses are separators; a trunk prefix written "(0)" after the
// country code, as in "+44 (0)20 7946 0000", is dropped. It returns ""
// when s is not a phone number: no digits, or any other character (a
// letter, a second "+"). A national number such as "091 234 5678" is kept
// as its digits and is a different key from its international form.
func Phone(s string) string {
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

// Email returns the lookup form of an email address: trimmed of
// spaces and lower-cased, so that "Bob@Example.com " and
// "bob@example.com" are one key. The address is not otherwise checked.
func Email(s string) string {
	return strings.ToLower(strings.TrimSpace(s))
}

// normalize normalizes a phone number or an email address (one
// holding an "@") as Phone or Email does, for lists
// that hold both, such as store.Person.DoNotContact.
func normalize(s string) string {
	if strings.Contains(s, "@") {
		return Email(s)
	}
	return Phone(s)
}

// Same reports whether a and b are spellings of one phone number
// or one email address. Two strings that are neither are the same only
// when equal.
func Same(a, b string) bool {
	if a == b {
		return true
	}
	na := normalize(a)
	return na != "" && na == normalize(b)
}

// Contains reports whether list holds address in any spelling (see
// Same).
func Contains(list []string, address string) bool {
	for _, a := range list {
		if Same(a, address) {
			return true
		}
	}
	return false
}

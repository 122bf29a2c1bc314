// Package address normalizes phone numbers and email addresses to the
// forms people are looked up by, so that any spelling of one finds the
// same person. The store's records (store.Person.Keys, PersonRef.Key,
// Person.Blocked) and the engine use it.
package address

import (
	"errors"
	"fmt"
	"hash/maphash"
	"strings"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
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

// MaxPhoneDigits bounds the digits E164 reads: E.164 numbers have at most
// 15, and a longer input is refused before the parser sees it.
const MaxPhoneDigits = 17

// E164 returns a phone number in E.164 form, "+" and its digits
// ("+385911234567"), with libphonenumber's data (github.com/nyaruka/phonenumbers).
// A number starting with "+" or "00" is international. Any other is read
// as a national number of region (an ISO 3166-1 alpha-2 code such as
// "HR", so "091 123 4567" is "+385911234567") when region is set and it
// is a possible number there, else as international digits, country code
// first ("385911234567"), as flowkit read numbers before regions. The
// separators Phone allows (spaces, hyphens, dots, slashes, parentheses,
// a "(0)" trunk prefix) are allowed. A number must be possible for its
// country (its length fits one of the country's number types): E164
// checks the form, not whether the number is assigned. The error says
// why without quoting the number.
func E164(s, region string) (string, error) {
	if len(s) > maxCachedInput {
		return e164(s, region)
	}
	slot := &e164Cache[maphash.String(e164Seed, region+"\x00"+s)%uint64(len(e164Cache))]
	if e := slot.Load(); e != nil && e.in == s && e.region == region {
		return e.out, e.err
	}
	out, err := e164(s, region)
	slot.Store(&e164Entry{in: s, region: region, out: out, err: err})
	return out, err
}

// The numbers E164 read last, a few thousand, each in the slot its hash
// names: a person's events come by the same spelling of their number,
// and parsing one takes some microseconds. Inputs longer than a number
// is written are not kept.
var (
	e164Cache [4096]atomic.Pointer[e164Entry]
	e164Seed  = maphash.MakeSeed()
)

const maxCachedInput = 48

type e164Entry struct {
	in, region, out string
	err             error
}

func e164(s, region string) (string, error) {
	t := strings.TrimSpace(s)
	intl := strings.HasPrefix(t, "+") || strings.HasPrefix(t, "00")
	digits := Phone(t)
	switch {
	case digits == "":
		return "", errors.New("is not a phone number: it must hold digits, with only spaces, hyphens, dots, slashes, parentheses and a leading + between them")
	case len(digits) > MaxPhoneDigits:
		return "", fmt.Errorf("is not a phone number: %d digits are more than E.164's 15", len(digits))
	}
	var national *phonenumbers.PhoneNumber
	if !intl && region != "" {
		if n, err := phonenumbers.Parse(digits, region); err == nil {
			if phonenumbers.IsPossibleNumber(n) {
				return stable(n)
			}
			national = n
		}
	}
	n, err := phonenumbers.Parse("+"+digits, "")
	if err == nil && possible(n) == nil {
		if e := phonenumbers.Format(n, phonenumbers.E164); e == "+"+digits && len(e) <= 16 {
			return e, nil // read back as itself: the parse just did
		}
		return stable(n)
	}
	switch {
	case national != nil:
		// Read as the region's: say why it is not one of its numbers.
		return "", possible(national)
	case err != nil && !intl && region == "":
		return "", errors.New("is not a phone number in international form (country code first), and no default region is set to read national numbers")
	case err != nil:
		return "", errors.New("is not a phone number: no country has its country code")
	}
	return "", possible(n)
}

// stable formats n in E.164 and checks that the form reads back as
// itself: the parser drops zeros after some country codes, and a number
// that changes each time it is read is not a number of that country.
func stable(n *phonenumbers.PhoneNumber) (string, error) {
	e := phonenumbers.Format(n, phonenumbers.E164)
	if len(e) > 16 {
		return "", errors.New("is not a phone number: more than E.164's 15 digits")
	}
	back, err := phonenumbers.Parse(e, "")
	if err != nil || phonenumbers.Format(back, phonenumbers.E164) != e || !phonenumbers.IsPossibleNumber(back) {
		return "", errors.New("is not a phone number: its digits after the country code fit no number of its country")
	}
	return e, nil
}

// possible returns nil for a possible number, else why it is not one.
func possible(n *phonenumbers.PhoneNumber) error {
	switch phonenumbers.IsPossibleNumberWithReason(n) {
	case phonenumbers.IS_POSSIBLE, phonenumbers.IS_POSSIBLE_LOCAL_ONLY:
		return nil
	case phonenumbers.INVALID_COUNTRY_CODE:
		return errors.New("is not a phone number: no country has its country code")
	case phonenumbers.TOO_SHORT:
		return errors.New("is not a phone number: too short for its country")
	case phonenumbers.TOO_LONG:
		return errors.New("is not a phone number: too long for its country")
	}
	return errors.New("is not a phone number: its length fits no number of its country")
}

// ValidRegion reports whether region is a region E164 knows, such as
// "HR" or "US".
func ValidRegion(region string) bool {
	return region != "" && phonenumbers.GetCountryCodeForRegion(region) != 0
}

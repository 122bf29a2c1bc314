package segment

import (
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/flowkit/flowkit/internal/values"
	"github.com/flowkit/flowkit/internal/wall"
	"github.com/flowkit/flowkit/store"
)

// kind is the kind of a value under evaluation.
type kind uint8

const (
	kNone     kind = iota // missing or empty
	kText                 // s
	kNumber               // f
	kBool                 // b
	kDate                 // day (days since 1970-01-01) and t (midnight UTC)
	kDateTime             // t
	kList                 // a ([]any, not empty)
	kObject               // a (map[string]any, not empty)
	kBad                  // present, but not of the kind asked for
	kAny                  // (as a wanted kind) whatever the value is
)

// val is a value in unboxed form, so that reading and comparing attributes
// does not allocate.
type val struct {
	k   kind
	b   bool
	s   string
	f   float64
	day int64
	t   time.Time
	a   any
}

func kindOf(t store.Type) kind {
	switch t {
	case store.Text:
		return kText
	case store.Number:
		return kNumber
	case store.Bool:
		return kBool
	case store.Date:
		return kDate
	case store.DateTime:
		return kDateTime
	case store.List:
		return kList
	case store.Object:
		return kObject
	}
	return kNone
}

func (k kind) String() string {
	switch k {
	case kText:
		return string(store.Text)
	case kNumber:
		return string(store.Number)
	case kBool:
		return string(store.Bool)
	case kDate:
		return string(store.Date)
	case kDateTime:
		return string(store.DateTime)
	case kList:
		return string(store.List)
	case kObject:
		return string(store.Object)
	}
	return "any"
}

func textVal(s string) val {
	if s == "" {
		return val{}
	}
	return val{k: kText, s: s}
}

func dateVal(t time.Time) val {
	if t.IsZero() {
		return val{}
	}
	y, m, d := t.Date()
	return val{k: kDate, day: civil(y, m, d), t: time.Date(y, m, d, 0, 0, 0, 0, time.UTC)}
}

func dateTimeVal(t time.Time) val {
	if t.IsZero() {
		return val{}
	}
	return val{k: kDateTime, t: t}
}

// Conditions read values in their Go form with values.Value.Set, by
// these rules: an empty text, list or object and a zero time are the
// empty value, and a date-only text wanted as a date-time stays a date,
// compared by calendar day, except in a date-time attribute, which holds
// date-times only.
var (
	// compared are the rules of operands, properties and variables.
	compared = values.Options{EmptyIsAbsent: true, DatesStayDates: true}
	// held are the rules of attribute values.
	held = values.Options{EmptyIsAbsent: true}
)

// kindTypes are the store types of the kinds; kAny wants v's own type.
var kindTypes = [...]store.Type{kText: store.Text, kNumber: store.Number, kBool: store.Bool,
	kDate: store.Date, kDateTime: store.DateTime, kList: store.List, kObject: store.Object, kAny: ""}

// toVal sets *dst to a value in its Go form converted to kind want by the
// rules o (compared or held), and reports false, setting a kBad value, when
// v is present but cannot be converted. want kAny keeps v's own kind. It
// writes into dst because values are large: returning them costs more
// than converting them.
func toVal(dst *val, want kind, v any, o values.Options) bool {
	var x values.Value
	switch {
	case v == nil:
		*dst = val{}
		return true
	case want == kNone || want == kBad || !x.Set(kindTypes[want], v, o):
		*dst = val{k: kBad}
		return false
	case x.Type == "":
		*dst = val{}
		return true
	case want == kAny:
		want = kindOf(x.Type)
	}
	switch want {
	case kText:
		*dst = val{k: kText, s: x.Text}
	case kNumber:
		*dst = val{k: kNumber, f: x.Number}
	case kBool:
		*dst = val{k: kBool, b: x.Bool}
	case kDate:
		*dst = dateVal(x.Time)
	case kDateTime:
		if x.Type == store.Date { // a date-only text, by the compared rules
			*dst = dateVal(x.Time)
		} else {
			*dst = val{k: kDateTime, t: x.Time}
		}
	default: // kList, kObject
		*dst = val{k: want, a: x.Any}
	}
	return true
}

func formatNumber(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// format renders a value for reasons: text quoted, dates as 2006-01-02,
// date-times in RFC 3339 in loc.
func (v val) format(loc *time.Location) string {
	switch v.k {
	case kNone:
		return "(empty)"
	case kText:
		return strconv.Quote(v.s)
	case kNumber:
		return formatNumber(v.f)
	case kBool:
		return strconv.FormatBool(v.b)
	case kDate:
		return v.t.Format(time.DateOnly)
	case kDateTime:
		if loc != nil {
			return v.t.In(loc).Format(time.RFC3339)
		}
		return v.t.Format(time.RFC3339)
	case kList:
		l, _ := v.a.([]any)
		return "list of " + strconv.Itoa(len(l))
	case kObject:
		return "object"
	}
	return "(not comparable)"
}

// Text comparisons are case-insensitive under Unicode simple case folding,
// the equivalence of strings.EqualFold. foldRune maps a rune to the smallest
// rune of its folding orbit, so two runes fold equal exactly when EqualFold
// says so.
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'a' <= r && r <= 'z' {
			r -= 'a' - 'A'
		}
		return r
	}
	lo := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f < lo {
			lo = f
		}
	}
	return lo
}

func firstRune(s string) (rune, int) {
	if c := s[0]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s)
}

func lastRune(s string) (rune, int) {
	if c := s[len(s)-1]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeLastRuneInString(s)
}

func sameFold(a, b rune) bool { return a == b || foldRune(a) == foldRune(b) }

func hasPrefixFold(s, prefix string) bool {
	for prefix != "" {
		if s == "" {
			return false
		}
		r1, n1 := firstRune(s)
		r2, n2 := firstRune(prefix)
		if !sameFold(r1, r2) {
			return false
		}
		s, prefix = s[n1:], prefix[n2:]
	}
	return true
}

func hasSuffixFold(s, suffix string) bool {
	for suffix != "" {
		if s == "" {
			return false
		}
		r1, n1 := lastRune(s)
		r2, n2 := lastRune(suffix)
		if !sameFold(r1, r2) {
			return false
		}
		s, suffix = s[:len(s)-n1], suffix[:len(suffix)-n2]
	}
	return true
}

func containsFold(s, sub string) bool {
	if sub == "" {
		return true
	}
	if isASCII(s) && isASCII(sub) {
		return asciiContainsFold(s, sub)
	}
	for s != "" {
		if hasPrefixFold(s, sub) {
			return true
		}
		_, n := firstRune(s)
		s = s[n:]
	}
	return false
}

func equalFold(a, b string) bool { return strings.EqualFold(a, b) }

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// asciiContainsFold is containsFold for ASCII text, where folding is ASCII
// case (the non-ASCII runes that fold to ASCII letters are absent).
func asciiContainsFold(s, sub string) bool {
	first := lowerASCII(sub[0])
	for i := 0; i+len(sub) <= len(s); i++ {
		if lowerASCII(s[i]) != first {
			continue
		}
		j := 1
		for j < len(sub) && lowerASCII(s[i+j]) == lowerASCII(sub[j]) {
			j++
		}
		if j == len(sub) {
			return true
		}
	}
	return false
}

// civil returns the number of days from 1970-01-01 to the given date of the
// proleptic Gregorian calendar (H. Hinnant's days_from_civil).
func civil(y int, m time.Month, d int) int64 {
	yy := int64(y)
	if m <= 2 {
		yy--
	}
	era := yy / 400
	if yy < 0 && yy%400 != 0 {
		era--
	}
	yoe := yy - era*400
	mp := int64(m) + 9
	if m > 2 {
		mp = int64(m) - 3
	}
	doy := (153*mp+2)/5 + int64(d) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// dayIn returns the calendar day of t in loc.
func dayIn(t time.Time, loc *time.Location) int64 {
	y, m, d := t.In(loc).Date()
	return civil(y, m, d)
}

func daysIn(y int, m time.Month) int {
	switch m {
	case time.February:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}

// addMonths adds n months to a date, clamping the day to the last day of the
// month it lands in (January 31 plus one month is February 28 or 29).
func addMonths(y int, m time.Month, d, n int) (int, time.Month, int) {
	mi := int(m) - 1 + n
	y += mi / 12
	mi %= 12
	if mi < 0 {
		mi += 12
		y--
	}
	m = time.Month(mi + 1)
	if dm := daysIn(y, m); d > dm {
		d = dm
	}
	return y, m, d
}

// duration returns the length of a clock unit, and false for a calendar unit.
func (u Unit) duration() (time.Duration, bool) {
	switch u {
	case Seconds:
		return time.Second, true
	case Minutes:
		return time.Minute, true
	case Hours:
		return time.Hour, true
	}
	return 0, false
}

// maxAmount bounds periods to about a century, so that no computation
// overflows.
var maxAmount = map[Unit]int{
	Seconds: 100 * 366 * 24 * 3600,
	Minutes: 100 * 366 * 24 * 60,
	Hours:   100 * 366 * 24,
	Days:    100 * 366,
	Weeks:   100 * 53,
	Months:  100 * 12,
	Years:   100,
}

func (u Unit) calendar() bool { return u == Days || u == Weeks || u == Months || u == Years }

// shift returns t moved by n units (n may be negative): an exact duration for
// seconds, minutes and hours; for calendar units the same wall-clock time n
// days, weeks, months or years away in loc, the day clamped to the month's
// last, with wall.Local's daylight-saving rules.
func shift(t time.Time, n int, u Unit, loc *time.Location) time.Time {
	if d, ok := u.duration(); ok {
		return t.Add(time.Duration(n) * d)
	}
	l := t.In(loc)
	y, m, d := l.Date()
	switch u {
	case Days:
		d += n
	case Weeks:
		d += 7 * n
	case Months:
		y, m, d = addMonths(y, m, d, n)
	case Years:
		y, m, d = addMonths(y, m, d, 12*n)
	}
	hh, mm, ss := l.Clock()
	return wall.Local(y, m, d, hh, mm, loc).Add(time.Duration(ss)*time.Second + time.Duration(l.Nanosecond()))
}

// shiftDay returns the calendar day n units (a calendar unit) from the day
// y-m-d.
func shiftDay(y int, m time.Month, d, n int, u Unit) int64 {
	switch u {
	case Weeks:
		return civil(y, m, d) + 7*int64(n)
	case Months:
		y, m, d = addMonths(y, m, d, n)
	case Years:
		y, m, d = addMonths(y, m, d, 12*n)
	default:
		return civil(y, m, d) + int64(n)
	}
	return civil(y, m, d)
}

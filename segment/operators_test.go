package segment_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
)

// opCase is one operator on one attribute: a set value for which it holds,
// and one for which it does not (nil when no set value makes it fail).
type opCase struct {
	attr  string
	op    segment.Op
	value any
	yes   any
	no    any
}

func dt(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

var days3 = segment.PeriodOf(3, segment.Days)

// opCases covers every operator of every type; now is 2025-03-10T12:00:00Z
// and the zone UTC.
var opCases = []opCase{
	// text (case-insensitive)
	{"nickname", segment.Is, "ana", "Ana", "Ivana"},
	{"nickname", segment.IsNot, "ana", "Ivana", "ANA"},
	{"nickname", segment.Contains, "VAN", "Ivana", "Ana"},
	{"nickname", segment.StartsWith, "iv", "Ivana", "Ana"},
	{"nickname", segment.EndsWith, "NA", "Ivana", "Ivo"},
	{"nickname", segment.IsEmpty, nil, nil, "Ivana"},
	{"nickname", segment.IsNotEmpty, nil, "Ivana", nil},
	{"city", segment.Is, "zagreb", "Zagreb", "Split"},
	{"city", segment.Contains, "ŠĆ", "Koršćina", "Korcula"},

	// number
	{"age", segment.Is, 30, 30.0, 31.0},
	{"age", segment.IsNot, 30, 31.0, 30.0},
	{"age", segment.LessThan, 30, 29.0, 30.0},
	{"age", segment.LessOrEqual, 30, 30.0, 31.0},
	{"age", segment.GreaterThan, 30, 31.0, 30.0},
	{"age", segment.GreaterOrEqual, 30, 30.0, 29.0},
	{"age", segment.IsEmpty, nil, nil, 30.0},
	{"age", segment.IsNotEmpty, nil, 0.0, nil},

	// bool
	{"vip", segment.Is, true, true, false},
	{"vip", segment.IsNot, true, false, true},
	{"vip", segment.IsEmpty, nil, nil, false},
	{"vip", segment.IsNotEmpty, nil, false, nil},

	// date (today is 2025-03-10)
	{"renewal", segment.Is, "2025-03-10", date(2025, 3, 10), date(2025, 3, 11)},
	{"renewal", segment.IsNot, "2025-03-10", date(2025, 3, 11), date(2025, 3, 10)},
	{"renewal", segment.Before, "2025-03-10", date(2025, 3, 9), date(2025, 3, 10)},
	{"renewal", segment.Until, "2025-03-10", date(2025, 3, 10), date(2025, 3, 11)},
	{"renewal", segment.Since, "2025-03-10", date(2025, 3, 10), date(2025, 3, 9)},
	{"renewal", segment.After, "2025-03-10", date(2025, 3, 11), date(2025, 3, 10)},
	{"renewal", segment.IsEmpty, nil, nil, date(2025, 3, 10)},
	{"renewal", segment.IsNotEmpty, nil, date(2025, 3, 10), nil},
	{"renewal", segment.WillBeIn, days3, date(2025, 3, 13), date(2025, 3, 12)},
	{"renewal", segment.WillBeWithin, days3, date(2025, 3, 13), date(2025, 3, 14)},
	{"renewal", segment.WillBeWithin, days3, date(2025, 3, 10), date(2025, 3, 9)},
	{"renewal", segment.WillBeMoreThan, days3, date(2025, 3, 14), date(2025, 3, 13)},
	{"renewal", segment.WasWithin, days3, date(2025, 3, 7), date(2025, 3, 6)},
	{"renewal", segment.WasWithin, days3, date(2025, 3, 10), date(2025, 3, 11)},
	{"renewal", segment.WasMoreThan, days3, date(2025, 3, 6), date(2025, 3, 7)},
	{"renewal", segment.WasToday, nil, date(2025, 3, 10), date(2025, 3, 9)},
	{"renewal", segment.WillBeIn, segment.PeriodOf(1, segment.Weeks), date(2025, 3, 17), date(2025, 3, 16)},
	{"renewal", segment.WillBeIn, segment.PeriodOf(1, segment.Months), date(2025, 4, 10), date(2025, 4, 11)},
	{"renewal", segment.WasMoreThan, segment.PeriodOf(1, segment.Years), date(2024, 3, 9), date(2024, 3, 10)},
	{"renewal", segment.Is, "2025-03-10T23:30:00Z", date(2025, 3, 10), date(2025, 3, 11)},
	{"birthDate", segment.Before, "2000-01-01", date(1999, 12, 31), date(2000, 1, 1)},

	// datetime (now is 2025-03-10T12:00:00Z)
	{"trialEnd", segment.Is, "2025-03-10T12:00:00Z", dt("2025-03-10T13:00:00+01:00"), dt("2025-03-10T12:00:01Z")},
	{"trialEnd", segment.Is, "2025-03-10", dt("2025-03-10T23:59:59Z"), dt("2025-03-11T00:00:00Z")},
	{"trialEnd", segment.IsNot, "2025-03-10T12:00:00Z", dt("2025-03-10T12:00:01Z"), dt("2025-03-10T12:00:00Z")},
	{"trialEnd", segment.Before, "2025-03-10T12:00:00Z", dt("2025-03-10T11:59:59Z"), dt("2025-03-10T12:00:00Z")},
	{"trialEnd", segment.Until, "2025-03-10T12:00:00Z", dt("2025-03-10T12:00:00Z"), dt("2025-03-10T12:00:01Z")},
	{"trialEnd", segment.Since, "2025-03-10T12:00:00Z", dt("2025-03-10T12:00:00Z"), dt("2025-03-10T11:59:59Z")},
	{"trialEnd", segment.After, "2025-03-10T12:00:00Z", dt("2025-03-10T12:00:01Z"), dt("2025-03-10T12:00:00Z")},
	{"trialEnd", segment.After, "2025-03-10", dt("2025-03-11T00:00:00Z"), dt("2025-03-10T23:59:59Z")},
	{"trialEnd", segment.IsEmpty, nil, nil, now},
	{"trialEnd", segment.IsNotEmpty, nil, now, nil},
	{"trialEnd", segment.WillBeIn, segment.PeriodOf(2, segment.Hours), dt("2025-03-10T14:59:59Z"), dt("2025-03-10T15:00:00Z")},
	{"trialEnd", segment.WillBeIn, segment.PeriodOf(2, segment.Hours), dt("2025-03-10T14:00:00Z"), dt("2025-03-10T13:59:59Z")},
	{"trialEnd", segment.WillBeIn, segment.PeriodOf(1, segment.Days), dt("2025-03-11T23:59:59Z"), dt("2025-03-12T00:00:00Z")},
	{"trialEnd", segment.WillBeIn, segment.PeriodOf(1, segment.Days), dt("2025-03-11T00:00:00Z"), dt("2025-03-10T23:59:59Z")},
	{"trialEnd", segment.WillBeWithin, segment.PeriodOf(2, segment.Days), dt("2025-03-12T12:00:00Z"), dt("2025-03-12T12:00:01Z")},
	{"trialEnd", segment.WillBeWithin, segment.PeriodOf(2, segment.Days), now, dt("2025-03-10T11:59:59Z")},
	{"trialEnd", segment.WillBeMoreThan, segment.PeriodOf(2, segment.Days), dt("2025-03-12T12:00:01Z"), dt("2025-03-12T12:00:00Z")},
	{"trialEnd", segment.WasWithin, segment.PeriodOf(1, segment.Hours), dt("2025-03-10T11:00:00Z"), dt("2025-03-10T10:59:59Z")},
	{"trialEnd", segment.WasWithin, segment.PeriodOf(1, segment.Hours), now, dt("2025-03-10T12:00:01Z")},
	{"trialEnd", segment.WasMoreThan, segment.PeriodOf(1, segment.Hours), dt("2025-03-10T10:59:59Z"), dt("2025-03-10T11:00:00Z")},
	{"trialEnd", segment.WasMoreThan, segment.PeriodOf(30, segment.Minutes), dt("2025-03-10T11:29:59Z"), dt("2025-03-10T11:30:00Z")},
	{"trialEnd", segment.WasWithin, segment.PeriodOf(90, segment.Seconds), dt("2025-03-10T11:58:30Z"), dt("2025-03-10T11:58:29Z")},
	{"trialEnd", segment.WasToday, nil, dt("2025-03-10T00:00:00Z"), dt("2025-03-09T23:59:59Z")},
	{"trialEnd", segment.WasToday, nil, dt("2025-03-10T23:59:59Z"), dt("2025-03-11T00:00:00Z")},

	// list and object
	{"interests", segment.Contains, "SKI", []any{"golf", "ski"}, []any{"golf"}},
	{"interests", segment.Contains, 3, []any{"a", 3.0}, []any{"3"}},
	{"interests", segment.IsEmpty, nil, nil, []any{"golf"}},
	{"interests", segment.IsNotEmpty, nil, []any{"golf"}, nil},
	{"prefs", segment.IsEmpty, nil, nil, map[string]any{"sms": true}},
	{"prefs", segment.IsNotEmpty, nil, map[string]any{"sms": true}, nil},
}

// empties is, per attribute, a stored value that counts as empty.
var empties = map[string]any{
	"nickname":  "",
	"city":      "",
	"age":       nil,
	"vip":       nil,
	"renewal":   time.Time{},
	"birthDate": time.Time{},
	"trialEnd":  time.Time{},
	"interests": []any{},
	"prefs":     map[string]any{},
}

func withAttr(name string, v any) *store.Person {
	p := &store.Person{Attributes: map[string]any{}}
	p.Set(name, v)
	if v == nil {
		p.Attributes[name] = nil // present but nil
	}
	return p
}

func TestOperators(t *testing.T) {
	covered := map[store.Type]map[segment.Op]bool{}
	for _, tc := range opCases {
		typ, ok := schema.TypeOf(tc.attr)
		require.True(t, ok, tc.attr)
		if covered[typ] == nil {
			covered[typ] = map[segment.Op]bool{}
		}
		covered[typ][tc.op] = true
		t.Run(fmt.Sprintf("%s/%s %s %v", typ, tc.attr, tc.op, tc.value), func(t *testing.T) {
			s := compile(t, segment.Attr(tc.attr, tc.op, tc.value))
			sub := func(p *store.Person) *segment.Subject { return &segment.Subject{Person: p, Now: now} }
			if tc.yes != nil {
				require.True(t, match(t, s, sub(withAttr(tc.attr, tc.yes))), "set %v", tc.yes)
			}
			if tc.no != nil {
				require.False(t, match(t, s, sub(withAttr(tc.attr, tc.no))), "set %v", tc.no)
			}
			// Missing and empty: only isEmpty and isNot hold.
			want := tc.op == segment.IsEmpty || tc.op == segment.IsNot
			require.Equal(t, want, match(t, s, sub(&store.Person{})), "missing")
			require.Equal(t, want, match(t, s, sub(withAttr(tc.attr, empties[tc.attr]))), "empty")
		})
	}
	for _, typ := range []store.Type{store.Text, store.Number, store.Bool, store.Date, store.DateTime, store.List, store.Object} {
		for _, op := range segment.Operators(typ) {
			require.True(t, covered[typ][op], "operator %s on %s is not tested", op, typ)
		}
	}
}

func TestTags(t *testing.T) {
	p := &store.Person{}
	p.AddTag("vip")
	has := compile(t, segment.Tag("vip", segment.Has))
	hasNot := compile(t, segment.Tag("vip", segment.HasNot))
	sub := &segment.Subject{Person: p, Now: now}
	require.True(t, match(t, has, sub))
	require.False(t, match(t, hasNot, sub))
	sub.Person = &store.Person{}
	require.False(t, match(t, has, sub))
	require.True(t, match(t, hasNot, sub))
	sub.Person = &store.Person{Tags: []string{"VIP"}}
	require.False(t, match(t, has, sub), "tags compare exactly")
}

func TestContacts(t *testing.T) {
	p := &store.Person{
		Phones: []string{"14155550100", "+385911234567"},
		Emails: []string{"Ana@Example.com"},
		Push:   []store.PushRegistration{{App: "com.example.shop", Token: "t1"}},
	}
	none := &store.Person{}
	tests := []struct {
		contact string
		op      segment.Op
		value   any
		want    bool
	}{
		{segment.ContactPhone, segment.StartsWith, "+385", true},
		{segment.ContactPhone, segment.StartsWith, "385", true},
		{segment.ContactPhone, segment.StartsWith, "+386", false},
		{segment.ContactPhone, segment.Is, "385911234567", true},
		{segment.ContactPhone, segment.Is, "+14155550100", true},
		{segment.ContactPhone, segment.IsNot, "+14155550100", false}, // one of them is
		{segment.ContactPhone, segment.IsNot, "+44", true},
		{segment.ContactPhone, segment.Contains, "555", true},
		{segment.ContactPhone, segment.EndsWith, "4567", true},
		{segment.ContactPhone, segment.IsEmpty, nil, false},
		{segment.ContactPhone, segment.IsNotEmpty, nil, true},
		{segment.ContactEmail, segment.Is, "ana@example.COM", true},
		{segment.ContactEmail, segment.EndsWith, "@example.com", true},
		{segment.ContactEmail, segment.Contains, "gmail", false},
		{segment.ContactEmail, segment.StartsWith, "ana@", true},
		{segment.ContactEmail, segment.IsNot, "ana@example.com", false},
		{segment.ContactEmail, segment.IsNotEmpty, nil, true},
		{segment.ContactEmail, segment.IsEmpty, nil, false},
		{segment.ContactPush, segment.Is, "com.example.shop", true},
		{segment.ContactPush, segment.StartsWith, "com.other", false},
		{segment.ContactPush, segment.IsNotEmpty, nil, true},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s %s %v", tc.contact, tc.op, tc.value), func(t *testing.T) {
			s := compile(t, segment.Contact(tc.contact, tc.op, tc.value))
			require.Equal(t, tc.want, match(t, s, &segment.Subject{Person: p, Now: now}))
			// A person with no addresses: only isEmpty and isNot hold.
			want := tc.op == segment.IsEmpty || tc.op == segment.IsNot
			require.Equal(t, want, match(t, s, &segment.Subject{Person: none, Now: now}))
		})
	}
}

func TestLastContacted(t *testing.T) {
	p := &store.Person{LastContacted: map[string]time.Time{"email": now.Add(-48 * time.Hour)}}
	sub := &segment.Subject{Person: p, Now: now}
	require.True(t, match(t, compile(t, segment.LastContacted("email", segment.WasWithin, segment.PeriodOf(7, segment.Days))), sub))
	require.False(t, match(t, compile(t, segment.LastContacted("email", segment.WasWithin, segment.PeriodOf(1, segment.Days))), sub))
	require.True(t, match(t, compile(t, segment.LastContacted("email", segment.WasMoreThan, segment.PeriodOf(1, segment.Days))), sub))
	require.False(t, match(t, compile(t, segment.LastContacted("sms", segment.WasWithin, segment.PeriodOf(7, segment.Days))), sub))
	require.True(t, match(t, compile(t, segment.LastContacted("sms", segment.IsEmpty, nil)), sub))
	require.True(t, match(t, compile(t, segment.LastContacted("email", segment.Before, "2025-03-09")), sub))
}

func TestGroups(t *testing.T) {
	young := segment.Attr("age", segment.LessOrEqual, 30)
	vip := segment.Attr("vip", segment.Is, true)
	p := person(map[string]any{"age": 27.0, "vip": false})
	sub := &segment.Subject{Person: p, Now: now}
	require.True(t, match(t, compile(t, segment.All(young)), sub))
	require.False(t, match(t, compile(t, segment.All(young, vip)), sub))
	require.True(t, match(t, compile(t, segment.Any(vip, young)), sub))
	require.True(t, match(t, compile(t, segment.All(young, segment.Not(vip))), sub))
	require.False(t, match(t, compile(t, segment.Not(segment.Any(vip, young))), sub))
	require.True(t, match(t, compile(t, segment.All()), sub), "an empty all matches everyone")
	require.False(t, match(t, compile(t, segment.Any()), sub), "an empty any matches no one")
	require.True(t, match(t, compile(t, segment.Any(segment.All(vip), segment.Not(segment.Not(young)))), sub))
}

// Text folds Unicode simple case: the Kelvin sign is K, the long s is S.
func TestTextFolding(t *testing.T) {
	tests := []struct {
		op    segment.Op
		value string
		set   string
		want  bool
	}{
		{segment.Is, "kelvin", "\u212Aelvin", true},
		{segment.StartsWith, "K", "\u212Aelvin", true},
		{segment.EndsWith, "ss", "Ma\u017Fs", true},
		{segment.Contains, "LVI", "\u212Aelvin", true},
		{segment.Contains, "\u212A", "kelvin", true},
		{segment.Contains, "ǆ", "Ǆemper", true},
		{segment.Contains, "straße", "STRASSE", false}, // no full folding
		{segment.Contains, "", "any", true},
		{segment.StartsWith, "anya", "any", false},
		{segment.EndsWith, "xany", "any", false},
		{segment.Is, "zagreb ", "Zagreb", false}, // spaces count
	}
	for _, tc := range tests {
		s := compile(t, segment.Attr("nickname", tc.op, tc.value))
		require.Equal(t, tc.want, match(t, s, &segment.Subject{Person: person(map[string]any{"nickname": tc.set}), Now: now}),
			"%q %s %q", tc.set, tc.op, tc.value)
	}
}

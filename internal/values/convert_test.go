package values_test

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/flowkit/flowkit/internal/values"
	"github.com/flowkit/flowkit/store"
	"github.com/stretchr/testify/require"
)

// Convert keeps values to be stored: an empty text stays text, a date-only
// text is no date-time, a time reads as RFC 3339 to the second.
func TestConvert(t *testing.T) {
	at := time.Date(2026, 3, 2, 9, 30, 15, 500_000_000, time.UTC)
	for _, tc := range []struct {
		name string
		t    store.Type
		v    any
		want any
		err  string
	}{
		{"nil is empty", store.Number, nil, nil, ""},
		{"int as number", store.Number, 3, 3.0, ""},
		{"number as text", store.Text, 2.5, "2.5", ""},
		{"uint8 as text", store.Text, uint8(7), "7", ""},
		{"bool as text", store.Text, true, "true", ""},
		{"time as text", store.Text, at, "2026-03-02T09:30:15Z", ""},
		{"empty text stays text", store.Text, "", "", ""},
		{"date from text", store.Date, "2026-03-02", time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), ""},
		{"date from RFC 3339", store.Date, "2026-03-02T23:30:00+02:00", time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), ""},
		{"date-time from RFC 3339", store.DateTime, "2026-03-02T09:30:15.5Z", at, ""},
		{"empty list stays a list", store.List, []any{}, []any{}, ""},
		{"date-only text is no date-time", store.DateTime, "2026-03-02", nil, `text value 2026-03-02 (string) is not a datetime`},
		{"empty text is no date", store.Date, "", nil, `text value  (string) is not a date`},
		{"text is no number", store.Number, "30", nil, `text value 30 (string) is not a number`},
		{"NaN is no number", store.Number, math.NaN(), nil, `NaN is not a finite number`},
		{"list is no text", store.Text, []any{"a"}, nil, `list value [a] ([]interface {}) is not a text`},
		{"unknown type", store.Type("money"), 1.0, nil, `unknown type "money"`},
	} {
		got, err := values.Convert(tc.t, tc.v)
		if tc.err != "" {
			require.EqualError(t, err, tc.err, tc.name)
			continue
		}
		require.NoError(t, err, tc.name)
		require.True(t, values.Equal(tc.want, got), "%s: got %#v", tc.name, got)
	}
}

// The options of Value.Set are the rules conditions compare values by.
func TestValueSetOptions(t *testing.T) {
	compared := values.Options{EmptyIsAbsent: true, DatesStayDates: true}
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		t    store.Type
		v    any
		o    values.Options
		want values.Value
		ok   bool
	}{
		{"empty text is absent", store.Text, "", compared, values.Value{}, true},
		{"empty text kept", store.Text, "", values.Options{}, values.Value{Type: store.Text}, true},
		{"zero time is absent", store.DateTime, time.Time{}, compared, values.Value{}, true},
		{"empty list is absent", store.List, []any{}, compared, values.Value{}, true},
		{"empty object is absent", store.Object, map[string]any{}, compared, values.Value{}, true},
		{"empty text is absent as a date", store.Date, "", compared, values.Value{}, true},
		{"date-only text stays a date", store.DateTime, "2026-03-02", compared, values.Value{Type: store.Date, Time: day}, true},
		{"date-only text is no date-time", store.DateTime, "2026-03-02", values.Options{EmptyIsAbsent: true}, values.Value{}, false},
		{"own type of an int", "", 4, compared, values.Value{Type: store.Number, Number: 4}, true},
		{"own type of text", "", "a", compared, values.Value{Type: store.Text, Text: "a"}, true},
		{"own type of a struct", "", struct{}{}, compared, values.Value{}, false},
	} {
		z := values.Value{Type: store.Text, Text: "left over"}
		ok := z.Set(tc.t, tc.v, tc.o)
		require.Equal(t, tc.ok, ok, tc.name)
		require.Equal(t, tc.want, z, tc.name)
	}
}

// Interface returns a value in its Go form, nil for the empty value.
func TestValueInterface(t *testing.T) {
	require.Nil(t, values.Value{}.Interface())
	require.Equal(t, "", values.Value{Type: store.Text}.Interface())
	require.Equal(t, 2.0, values.Value{Type: store.Number, Number: 2}.Interface())
	require.Equal(t, []any{"x"}, values.Value{Type: store.List, Any: []any{"x"}}.Interface())
}

// FuzzConvert feeds the converter values as a host sends them (JSON
// decoded, the form of event properties and profile changes): it never
// panics, a converted value has its type and converts to itself, and
// Value.Set with no options agrees with Convert.
func FuzzConvert(f *testing.F) {
	for _, seed := range []string{`"2026-03-02"`, `"2026-03-02T09:30:15.5+02:00"`, `3`, `-0.5`, `""`, `true`, `null`,
		`["a", 1]`, `{"k": {"n": 1}}`, `"1e309"`, `"  x "`, `1e308`} {
		for i := range 7 {
			f.Add(seed, uint8(i))
		}
	}
	types := []store.Type{store.Text, store.Number, store.Bool, store.Date, store.DateTime, store.List, store.Object}
	f.Fuzz(func(t *testing.T, doc string, which uint8) {
		var v any
		if json.Unmarshal([]byte(doc), &v) != nil {
			return
		}
		typ := types[int(which)%len(types)]
		got, err := values.Convert(typ, v)
		var z values.Value
		ok := z.Set(typ, v, values.Options{})
		if ok != (err == nil) {
			t.Fatalf("Convert(%s, %#v) error %v, Set ok %v", typ, v, err, ok)
		}
		if err != nil {
			return
		}
		if !values.Equal(got, z.Interface()) {
			t.Fatalf("Convert(%s, %#v) = %#v, Set holds %#v", typ, v, got, z.Interface())
		}
		if got == nil {
			return
		}
		gt, _ := values.TypeOf(got)
		if typ == store.Date { // a Date is a time.Time at midnight UTC
			if day, ok := got.(time.Time); !ok || !day.Equal(values.DateOf(day)) {
				t.Fatalf("Convert(date, %#v) = %#v, not a day", v, got)
			}
			gt = store.Date
		}
		if gt != typ {
			t.Fatalf("Convert(%s, %#v) = %#v, of type %q", typ, v, got, gt)
		}
		again, err := values.Convert(typ, got)
		if err != nil || !values.Equal(got, again) {
			t.Fatalf("Convert(%s, %#v) = %#v does not convert to itself: %#v, %v", typ, v, got, again, err)
		}
	})
}

package segment_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
)

// FuzzParse feeds arbitrary bytes to Parse. It must never panic; what it
// accepts must survive a JSON round trip, and compiling and evaluating it
// must not panic either.
func FuzzParse(f *testing.F) {
	for _, doc := range documents {
		f.Add([]byte(doc))
	}
	f.Add([]byte(`{"not":{"not":{"all":[{"contact":"email","op":"contains","value":"@"}]}}}`))
	f.Add([]byte(`{"attribute":"trialEnd","op":"willBeIn","value":{"amount":2,"unit":"hours"}}`))
	f.Add([]byte(`{"attribute":"interests","op":"contains","value":"{{entry.x}}"}`))
	f.Add([]byte(`{"event":{"where":[{"property":"a.b","op":"is","value":"{{v}}"}]},"op":"atMost","count":1}`))
	f.Add([]byte(`{"attribute":"age","op":"is","value":-0}`))
	f.Add([]byte(`nul`))

	p := &store.Person{
		FirstName: "Ana", TimeZone: "Europe/Zagreb", Phones: []string{"+385911234567"},
		Emails: []string{"ana@example.com"}, Tags: []string{"vip"},
		Attributes: map[string]any{"age": 27.0, "nickname": "ana", "vip": true, "renewal": date(2025, 3, 11),
			"trialEnd": now, "interests": []any{"ski", 3.0}, "prefs": map[string]any{"a": 1.0}},
		LastContacted: map[string]time.Time{"email": now.Add(-time.Hour)},
	}
	h := &history{events: []*store.Event{
		event(store.External, "X", now.Add(-time.Hour), map[string]any{"a": map[string]any{"b": "c"}, "at": "2025-03-10"}),
	}}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := segment.Parse(data)
		if err != nil {
			return
		}
		out, err := json.Marshal(c)
		require.NoError(t, err)
		again, err := segment.Parse(out)
		require.NoError(t, err, "%s", out)
		require.Equal(t, c, again)

		s, err := segment.Compile(c, segment.Options{Schema: schema})
		if err != nil {
			return
		}
		sub := &segment.Subject{Person: p, Now: now, EnteredAt: now.Add(-24 * time.Hour), Events: h.Events,
			Vars: map[string]any{"v": "c"}, Entry: h.events[0]}
		ok, err := s.Match(sub)
		ok2, _, err2 := s.MatchReason(sub)
		require.Equal(t, ok, ok2)
		require.Equal(t, err == nil, err2 == nil)
	})
}

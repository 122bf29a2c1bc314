package flow_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// A setting may be read only where it goes out to the host's services:
// anywhere else Publish refuses it, naming the element and the field.
func TestSettingsRefusedOutsideRequests(t *testing.T) {
	vars := `,"variables":{"s":{"type":"text"}}`
	for _, tc := range []struct{ name, doc, elementID, field string }{
		{"update variable formula", jsonFlow(vars, `{"id":"v","type":"updateVariable","set":[{"variable":"s","formula":"env.TOKEN"}]}`), "v", "set[0].formula"},
		{"update variable template", jsonFlow(vars, `{"id":"v","type":"updateVariable","set":[{"variable":"s","value":"{{env.TOKEN}}"}]}`), "v", "set[0].value"},
		{"update variable inside a formula", jsonFlow(vars, `{"id":"v","type":"updateVariable","set":[{"variable":"s","formula":"s + upper(env['TOKEN'])"}]}`), "v", "set[0].formula"},
		{"update profile", jsonFlow("", `{"id":"u","type":"updateProfile","set":[{"attribute":"city","value":"x{{env.TOKEN}}"}]}`), "u", "set[0].value"},
		{"send message body", jsonFlow("", `{"id":"m","type":"sendMessage","channel":"email","subject":"Hi","body":"code {{env.TOKEN}}"}`), "m", "body"},
		{"send message subject", jsonFlow("", `{"id":"m","type":"sendMessage","channel":"email","subject":"{{env.TOKEN}}","body":"b"}`), "m", "subject"},
		{"tag", jsonFlow("", `{"id":"t","type":"addTag","tag":"{{env.TOKEN}}"}`), "t", "tag"},
		{"add to flow variables", jsonFlow("", `{"id":"a","type":"addToFlow","flow":"other","variables":{"s":"{{env.TOKEN}}"}}`), "a", "variables.s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := flow.Parse([]byte(tc.doc))
			require.NoError(t, err)
			requireValidationError(t, f.Validate(nil), tc.elementID, tc.field, "reads host setting env.TOKEN, which only fields sent to the host's services may read")
		})
	}
	// Where a request goes out, settings are welcome.
	f, err := flow.Parse([]byte(jsonFlow("", `{"id":"c","type":"callApi","method":"POST","url":"{{env.API}}/x?k={{env.KEY}}",
	  "headers":{"Authorization":"Bearer {{env.TOKEN}}"},"body":{"token":"{{env.TOKEN}}","n":"{{env.N}}"}}`)))
	require.NoError(t, err)
	require.NoError(t, f.Validate(nil))
}

// A setting written into a URL's path is redacted in the escaping of the
// URL's own path ("Pa ss;w,rd" is sent as "Pa%20ss;w,rd"), in the
// participant's reason and journal and in observations.
func TestSettingsRedactedFromURLPath(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var got []received
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, received{path: r.URL.Path})
		mu.Unlock()
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	const seg = "Pa ss;w,rd"
	host := &settings{m: map[string]string{"API_BASE": srv.URL, "SEG": seg}}
	var obs recordingObserver
	clk := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	eng := integEngine(t, clk, flow.Config{Observer: &obs, Ports: flow.Ports{Settings: host.lookup}})
	f, err := flow.Parse([]byte(`{"id": "path", "elements": [
	  {"id": "call", "type": "callApi", "url": "{{env.API_BASE}}/u/{{env.SEG}}/x", "next": {"2xx": "done", "5xx": "done"}},
	  {"id": "done", "type": "exit"}]}`))
	require.NoError(t, err)
	integPublish(t, eng, f)
	id, err := eng.Enter(ctx, "path", store.PersonRef{ExternalID: "p1"}, nil)
	require.NoError(t, err)

	mu.Lock()
	require.Equal(t, []received{{path: "/u/" + seg + "/x"}}, got)
	mu.Unlock()
	p := integParticipant(t, eng, id)
	require.Equal(t, "GET {{env.API_BASE}}/u/{{env.SEG}}/x: 503", integStep(t, p, "call").Reason)
	texts := participantTexts(t, p)
	for _, o := range obs.all() {
		texts = append(texts, o.Reason)
		if o.Err != nil {
			texts = append(texts, o.Err.Error())
		}
	}
	texts = append(texts, eventTexts(t, eng, "p1")...)
	requireNoSpelling(t, texts, seg, "Pa", "w,rd")
}

// A custom kind's error that quotes its config, where a setting is JSON
// string content (\" and the \u escapes of <, > and &), or the setting
// in other escapings, reaches reasons, journals and observations with the
// setting's placeholder instead.
func TestSettingsRedactedFromCustomKindErrors(t *testing.T) {
	const token = `Xy<7&"Qz>\w`
	for _, tc := range []struct {
		name string
		fail func(call *kinds.CustomCall, tok string) error
	}{
		{"config as JSON", func(call *kinds.CustomCall, _ string) error { return fmt.Errorf("crm refused config %s", call.Config) }},
		{"JSON without HTML escapes", func(_ *kinds.CustomCall, tok string) error {
			var b strings.Builder
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false)
			_ = enc.Encode(map[string]string{"token": tok})
			return errors.New("crm refused " + b.String())
		}},
		{"Go quoted", func(_ *kinds.CustomCall, tok string) error { return fmt.Errorf("token %q refused", tok) }},
		{"query escaped", func(_ *kinds.CustomCall, tok string) error {
			return errors.New("GET /x?t=" + url.QueryEscape(tok) + ": 401")
		}},
		{"path escaped", func(_ *kinds.CustomCall, tok string) error {
			return errors.New("GET /x/" + url.PathEscape(tok) + ": 401")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			reg := kinds.Registry()
			require.NoError(t, kinds.RegisterCustom(reg, "crm.push", kinds.CustomKind{
				Run: func(_ context.Context, call *kinds.CustomCall) (kinds.CustomResult, error) {
					var cfg struct{ Token string }
					require.NoError(t, json.Unmarshal(call.Config, &cfg))
					require.Equal(t, token, cfg.Token) // the kind gets the value itself
					return kinds.CustomResult{}, tc.fail(call, cfg.Token)
				},
			}))
			host := &settings{m: map[string]string{"CRM_TOKEN": token}}
			var obs recordingObserver
			clk := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
			eng := integEngine(t, clk, flow.Config{Elements: reg, Observer: &obs, Ports: flow.Ports{Settings: host.lookup}})
			f, err := flow.ParseWith([]byte(`{"id": "push", "elements": [
			  {"id": "push", "type": "crm.push", "config": {"token": "{{env.CRM_TOKEN}}"}}]}`), reg)
			require.NoError(t, err)
			integPublish(t, eng, f)
			id, err := eng.Enter(ctx, "push", store.PersonRef{ExternalID: "p1"}, nil)
			require.NoError(t, err)

			p := integParticipant(t, eng, id)
			require.Equal(t, store.Failed, p.Status)
			require.Contains(t, p.Reason, "{{env.CRM_TOKEN}}")
			texts := participantTexts(t, p)
			var errs int
			for _, o := range obs.all() {
				texts = append(texts, o.Reason)
				if o.Err != nil {
					errs++
					texts = append(texts, o.Err.Error())
				}
			}
			require.Positive(t, errs, "the observer saw the failure")
			texts = append(texts, eventTexts(t, eng, "p1")...)
			requireNoSpelling(t, texts, token, "Xy", "Qz")
		})
	}
}

// A setting that comes back from outside (a response that echoes it into
// variables, a custom kind's output) is stored as its placeholder, so
// that variables, the profile, messages, People events and the store's
// rows never hold it, however the flow copies it on.
func TestSettingsScrubbedFromStoredValues(t *testing.T) {
	const token = "tok-9f8e7d6c"
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		w.Header().Set("X-Echo", auth)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"echo": auth, "url": "https://h/?t=" + url.QueryEscape(auth)})
	}))
	t.Cleanup(echo.Close)
	onSecretStores(t, func(t *testing.T, st store.Store, rows func() string) {
		ctx := context.Background()
		reg := kinds.Registry()
		require.NoError(t, kinds.RegisterCustom(reg, "crm.member", kinds.CustomKind{
			Outputs: map[string]store.Type{"member": store.Text},
			Run: func(_ context.Context, call *kinds.CustomCall) (kinds.CustomResult, error) {
				var cfg struct{ Token string }
				_ = json.Unmarshal(call.Config, &cfg)
				return kinds.CustomResult{Outputs: map[string]any{"member": cfg.Token + "/member-1"}}, nil
			},
		}))
		host := &settings{m: map[string]string{"API": echo.URL, "TOKEN": token}}
		clk := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
		sender := &integSender{clk: clk}
		eng, err := flow.NewEngine(flow.Config{Store: st, Clock: clk, Elements: reg, Ports: flow.Ports{Settings: host.lookup, Sender: sender}})
		require.NoError(t, err)
		f, err := flow.ParseWith([]byte(`{"id": "echo",
		  "variables": {"echoed": {"type": "text"}, "link": {"type": "text"}, "hdr": {"type": "text"}, "copy": {"type": "text"}, "member": {"type": "text"}},
		  "elements": [
		  {"id": "call", "type": "callApi", "url": "{{env.API}}/echo", "headers": {"Authorization": "{{env.TOKEN}}"},
		   "responseBody": [{"path": "$.echo", "variable": "echoed"}, {"path": "$.url", "variable": "link"}],
		   "responseHeaders": [{"header": "X-Echo", "variable": "hdr"}], "next": {"2xx": "member"}},
		  {"id": "member", "type": "crm.member", "config": {"token": "{{env.TOKEN}}"}, "outputs": {"member": "member"}, "next": {"next": "copy"}},
		  {"id": "copy", "type": "updateVariable", "set": [{"variable": "copy", "formula": "echoed + '!' + hdr"}], "next": {"next": "profile"}},
		  {"id": "profile", "type": "updateProfile", "set": [{"attribute": "city", "value": "{{hdr}}"}], "next": {"next": "send"}},
		  {"id": "send", "type": "sendMessage", "channel": "email", "subject": "Hi", "body": "code {{echoed}} {{member}}", "next": {"sent": "done"}},
		  {"id": "done", "type": "exit"}]}`), reg)
		require.NoError(t, err)
		_, err = eng.Publish(ctx, f)
		require.NoError(t, err)
		require.NoError(t, eng.Activate(ctx, "echo"))
		ann := store.PersonRef{ExternalID: "ann"}
		_, err = eng.UpdatePerson(ctx, ann, func(p *store.Person) error {
			p.Emails = []string{"ann@example.com"}
			return nil
		})
		require.NoError(t, err)
		id, err := eng.Enter(ctx, "echo", ann, nil)
		require.NoError(t, err)

		p, err := eng.Participant(ctx, id)
		require.NoError(t, err)
		require.Equal(t, store.Completed, p.Status, p.Reason)
		require.Equal(t, map[string]any{
			"echoed": "{{env.TOKEN}}", "link": "https://h/?t={{env.TOKEN}}", "hdr": "{{env.TOKEN}}",
			"copy": "{{env.TOKEN}}!{{env.TOKEN}}", "member": "{{env.TOKEN}}/member-1",
		}, p.Vars)
		person, err := eng.Person(ctx, ann)
		require.NoError(t, err)
		require.Equal(t, "{{env.TOKEN}}", person.City)
		sent := sender.all()
		require.Len(t, sent, 1)
		require.Equal(t, "code {{env.TOKEN}} {{env.TOKEN}}/member-1", sent[0].Body)
		evs, err := eng.Events(ctx, ann, store.EventQuery{})
		require.NoError(t, err)
		evJSON, err := json.Marshal(evs)
		require.NoError(t, err)
		personJSON, err := json.Marshal(person)
		require.NoError(t, err)
		texts := append(participantTexts(t, p), string(evJSON), string(personJSON), rows())
		requireNoSpelling(t, texts, token, "9f8e7d6c")
	})
}

// participantTexts returns the participant's record as JSON, and its
// reason and journal reasons as they are.
func participantTexts(t *testing.T, p *store.Participant) []string {
	t.Helper()
	record, err := json.Marshal(p)
	require.NoError(t, err)
	texts := []string{string(record), p.Reason}
	for _, s := range p.Journal {
		texts = append(texts, s.Reason)
	}
	return texts
}

// eventTexts returns the person's events as JSON, one text each, and
// requires the flow's exit among them.
func eventTexts(t *testing.T, eng *flow.Engine, externalID string) []string {
	t.Helper()
	evs, err := eng.Events(context.Background(), store.PersonRef{ExternalID: externalID}, store.EventQuery{})
	require.NoError(t, err)
	var texts []string
	exited := false
	for _, ev := range evs {
		b, err := json.Marshal(ev)
		require.NoError(t, err)
		texts = append(texts, string(b))
		exited = exited || ev.Name == store.ExitedFlow
	}
	require.True(t, exited, "the person's events hold the exit: %s", texts)
	return texts
}

// requireNoSpelling fails when a text holds the value in any escaping, or
// any of the distinctive pieces of it that every escaping keeps.
func requireNoSpelling(t *testing.T, texts []string, value string, pieces ...string) {
	t.Helper()
	j, _ := json.Marshal(value)
	spellings := append([]string{value, url.PathEscape(value), url.QueryEscape(value), string(j), strconv.Quote(value)}, pieces...)
	for _, text := range texts {
		for _, s := range spellings {
			require.NotContains(t, text, s)
		}
	}
}

// onSecretStores runs a test on the memory store and, when
// FLOWKIT_TEST_POSTGRES names a database, on a PostgreSQL store in a
// schema of its own; rows returns the text of every row the PostgreSQL
// store holds ("" for the memory store).
func onSecretStores(t *testing.T, test func(t *testing.T, s store.Store, rows func() string)) {
	t.Run("memory", func(t *testing.T) { test(t, memory.New(), func() string { return "" }) })
	t.Run("postgres", func(t *testing.T) {
		s, pool, schema := postgresStore(t)
		rows := func() string {
			ctx := context.Background()
			tables, err := pool.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = $1`, schema)
			require.NoError(t, err)
			names, err := pgx.CollectRows(tables, pgx.RowTo[string])
			require.NoError(t, err)
			require.NotEmpty(t, names)
			var b strings.Builder
			for _, name := range names {
				var text *string
				require.NoError(t, pool.QueryRow(ctx, `SELECT string_agg(t::text, E'\n') FROM `+pgx.Identifier{schema, name}.Sanitize()+` t`).Scan(&text))
				if text != nil {
					b.WriteString(*text)
				}
			}
			require.Contains(t, b.String(), "ann@example.com", "the rows hold the person")
			return b.String()
		}
		test(t, s, rows)
	})
}

// A custom kind that panics with its config logs the panic with the
// settings' placeholders, as its reason holds them.
func TestSettingsRedactedFromPanicLogs(t *testing.T) {
	const token = "tok-panic-61c0"
	ctx := context.Background()
	reg := kinds.Registry()
	require.NoError(t, kinds.RegisterCustom(reg, "crm.crash", kinds.CustomKind{
		Run: func(_ context.Context, call *kinds.CustomCall) (kinds.CustomResult, error) {
			panic("cannot use config " + string(call.Config))
		},
	}))
	var logs syncBuffer
	host := &settings{m: map[string]string{"CRM_TOKEN": token}}
	clk := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	eng := integEngine(t, clk, flow.Config{Elements: reg, Logger: slog.New(slog.NewTextHandler(&logs, nil)), Ports: flow.Ports{Settings: host.lookup}})
	f, err := flow.ParseWith([]byte(`{"id": "crash", "elements": [
	  {"id": "crash", "type": "crm.crash", "config": {"token": "{{env.CRM_TOKEN}}"}}]}`), reg)
	require.NoError(t, err)
	integPublish(t, eng, f)
	id, err := eng.Enter(ctx, "crash", store.PersonRef{ExternalID: "p1"}, nil)
	require.NoError(t, err)
	p := integParticipant(t, eng, id)
	require.Contains(t, p.Reason, `panicked: cannot use config {"token":"{{env.CRM_TOKEN}}"}`)
	require.Contains(t, logs.String(), "custom element panicked")
	requireNoSpelling(t, []string{logs.String(), p.Reason}, token, "61c0")
}

// syncBuffer is a log's text, written from any goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

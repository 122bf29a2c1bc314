// Command loyalty runs a flow that looks up each member's loyalty points
// in a loyalty API, reads them by JSONPath ($.loyalty_points) into a flow
// variable, and texts the member a message built with them.
//
// The loyalty API is a small HTTP server the program starts itself on
// 127.0.0.1 (no network), and messages go to a Sender that prints them.
// People who are not members (the API answers 404) are invited to join;
// each member's journal shows the branches taken.
//
//	go run ./examples/loyalty
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loyalty:", err)
		os.Exit(1)
	}
}

// apiKey is what the loyalty API expects in the Authorization header; the
// flow holds it in a variable with this default.
const apiKey = "demo-key-123"

// members is the loyalty API's data.
var members = map[string]struct {
	Points int    `json:"loyalty_points"`
	Tier   string `json:"tier"`
}{
	"ann": {Points: 1250, Tier: "gold"},
	"bob": {Points: 80, Tier: "bronze"},
}

// flowJSON is the flow, as a host would store it. LOYALTY_API stands for
// the local server's address.
const flowJSON = `{
  "id": "loyalty-points",
  "name": "Tell members their points",
  "timezone": "Europe/Zagreb",
  "variables": {
    "points": {"type": "number"},
    "tier": {"type": "text"},
    "apiKey": {"type": "text", "default": "` + apiKey + `"}
  },
  "elements": [
    {"id": "lookup", "type": "callApi",
     "url": "LOYALTY_API/members/{{person.externalId}}",
     "headers": {"Authorization": "Bearer {{apiKey}}"},
     "timeout": "2s",
     "responseBody": [
       {"path": "$.loyalty_points", "variable": "points"},
       {"path": "$.tier", "variable": "tier"}
     ],
     "next": {"2xx": "tell-points", "4xx": "invite", "5xx": "later", "other": "later", "error": "later"}},
    {"id": "tell-points", "type": "sendMessage", "channel": "sms",
     "body": "Hi {{person.firstName}}, you have {{points}} points ({{tier}}). {{points >= 1000 ? 'Free shipping is yours!' : string(1000 - points) + ' more for free shipping.'}}",
     "next": {"sent": "done", "blocked": "done", "capped": "done"}},
    {"id": "invite", "type": "sendMessage", "channel": "sms",
     "body": "Hi {{person.firstName}}, join our loyalty program and get 100 points today!",
     "next": {"sent": "done", "blocked": "done", "capped": "done"}},
    {"id": "later", "type": "exit", "reason": "loyalty API unavailable"},
    {"id": "done", "type": "exit", "reason": "told"}
  ]
}`

// printSender prints the messages it is asked to send.
type printSender struct {
	mu sync.Mutex
	w  io.Writer
	n  int
}

func (s *printSender) Send(_ context.Context, m *element.Message) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	fmt.Fprintf(s.w, "  %s to %s: %s\n", m.Channel, m.To, m.Body)
	return fmt.Sprintf("sms-%d", s.n), nil
}

// loyaltyAPI serves GET /members/{id}.
func loyaltyAPI(w io.Writer) http.Handler {
	var mu sync.Mutex
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		id := strings.TrimPrefix(r.URL.Path, "/members/")
		m, ok := members[id]
		status := http.StatusOK
		switch {
		case r.Header.Get("Authorization") != "Bearer "+apiKey:
			status = http.StatusUnauthorized
		case !ok:
			status = http.StatusNotFound
		}
		mu.Lock()
		fmt.Fprintf(w, "  loyalty API: %s %s -> %d\n", r.Method, r.URL.Path, status)
		mu.Unlock()
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(status)
		if status == http.StatusOK {
			_ = json.NewEncoder(rw).Encode(m)
		} else {
			_, _ = io.WriteString(rw, `{"error": "`+http.StatusText(status)+`"}`)
		}
	})
}

func run(ctx context.Context, w io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: loyaltyAPI(w), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	base := "http://" + ln.Addr().String()

	eng, err := flow.NewEngine(flow.Config{
		Store: memory.New(),
		Clock: clock.NewFake(time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)),
		Ports: flow.Ports{Sender: &printSender{w: w}},
	})
	if err != nil {
		return err
	}
	f, err := flow.Parse([]byte(strings.ReplaceAll(flowJSON, "LOYALTY_API", base)))
	if err != nil {
		return err
	}
	if _, err := eng.Publish(ctx, f); err != nil {
		return err
	}
	if err := eng.Activate(ctx, f.ID); err != nil {
		return err
	}

	people := []struct{ id, name, phone string }{
		{"ann", "Ann", "385911111111"},
		{"bob", "Bob", "385922222222"},
		{"cid", "Cid", "385933333333"},
	}
	for _, p := range people {
		who := store.PersonRef{ExternalID: p.id}
		if _, err := eng.UpdatePerson(ctx, who, func(q *store.Person) error {
			q.FirstName, q.Phones = p.name, []string{p.phone}
			return nil
		}); err != nil {
			return err
		}
		fmt.Fprintf(w, "%s:\n", p.name)
		id, err := eng.Enter(ctx, f.ID, who, nil)
		if err != nil {
			return err
		}
		part, err := eng.Participant(ctx, id)
		if err != nil {
			return err
		}
		var path []string
		for _, s := range part.Journal {
			if s.Branch != "" {
				path = append(path, s.Element+" -> "+s.Branch)
			}
		}
		points := "null"
		if v, ok := part.Vars["points"]; ok && v != nil {
			points = element.FormatValue(v)
		}
		fmt.Fprintf(w, "  journal: %s; %s (%s); points = %s\n", strings.Join(path, ", "), part.Status, part.Reason, points)
	}
	if err := srv.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

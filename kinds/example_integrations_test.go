package kinds_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/flowtest"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
)

// printSender prints each message it is given.
type printSender struct{}

func (printSender) Send(_ context.Context, m *element.Message) (string, error) {
	fmt.Printf("%s to %s: %s\n", m.Channel, m.To, m.Body)
	return "msg-1", nil
}

// Read loyalty points from a CRM by JSONPath and use them in a message.
func ExampleCallAPI() {
	ctx := context.Background()
	crm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("CRM got", r.Method, r.URL.Path)
		_, _ = io.WriteString(w, `{"loyalty_points": 1250, "tier": "gold"}`)
	}))
	defer crm.Close()
	eng, _ := flow.NewEngine(flow.Config{Store: memory.New(), Clock: clock.NewFake(time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)), Ports: flow.Ports{Sender: printSender{}}})
	f := flow.New("loyalty", "Loyalty").Var("points", store.Number, nil).
		Add("lookup", &kinds.CallAPI{URL: crm.URL + "/members/{{person.externalId}}",
			ResponseBody: []*kinds.JSONPathVariable{{Path: "$.loyalty_points", Variable: "points"}}},
			flow.Next{"2xx": "tell"}).
		Add("tell", &kinds.SendMessage{Channel: "sms", Body: "You have {{points}} points."}, flow.Next{"sent": ""})
	if _, err := eng.Publish(ctx, f); err != nil {
		fmt.Println(err)
		return
	}
	_ = eng.Activate(ctx, "loyalty")
	_, _ = eng.UpdatePerson(ctx, store.PersonRef{ExternalID: "ann 1"}, func(p *store.Person) error {
		p.Phones = []string{"385911234567"}
		return nil
	})
	id, _ := eng.Enter(ctx, "loyalty", store.PersonRef{ExternalID: "ann 1"}, nil)
	p, _ := eng.Participant(ctx, id)
	fmt.Println("points:", p.Vars["points"])
	// Output:
	// CRM got GET /members/ann 1
	// sms to +385911234567: You have 1250 points.
	// points: 1250
}

// A path that is not JSONPath is refused at Publish, naming the element
// and the field.
func ExampleCallAPI_invalid() {
	eng, _ := flow.NewEngine(flow.Config{Store: memory.New()})
	f := flow.New("bad", "").Var("points", store.Number, nil).
		Add("lookup", &kinds.CallAPI{URL: "https://crm.example.com/members", Method: "POST",
			Body:         json.RawMessage(`{"id": "{{person.externalId}}"}`),
			ResponseBody: []*kinds.JSONPathVariable{{Path: "$.points[", Variable: "points"}}}, nil)
	_, err := eng.Publish(context.Background(), f)
	fmt.Println(strings.SplitN(err.Error(), ": parsing error", 2)[0])
	// Output:
	// element "lookup": responseBody[0].path: JSONPath "$.points["
}

// Calls spread out by a sending speed and kept to a delivery window: three
// people who arrive at night are called from 09:00, one every 20 minutes.
func ExampleCallAPI_scheduling() {
	ctx := context.Background()
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer hook.Close()
	zagreb, _ := time.LoadLocation("Europe/Zagreb")
	clk := clock.NewFake(time.Date(2026, 5, 4, 23, 0, 0, 0, zagreb))
	eng, _ := flow.NewEngine(flow.Config{Store: memory.New(), Clock: clk})
	f := flow.New("hook", "").In("Europe/Zagreb").
		Add("call", &kinds.CallAPI{URL: hook.URL,
			Window: &kinds.TimeWindow{Start: kinds.At(9, 0), End: kinds.At(17, 0)},
			Speed:  &kinds.Speed{Count: 3, Per: kinds.PerHour}}, nil)
	_, _ = eng.Publish(ctx, f)
	_ = eng.Activate(ctx, "hook")
	for _, who := range []string{"ann", "bob", "cid"} {
		_, _ = eng.Enter(ctx, "hook", store.PersonRef{ExternalID: who}, nil)
	}
	_, _ = flowtest.AdvanceTo(ctx, eng, clk, time.Date(2026, 5, 6, 0, 0, 0, 0, zagreb))
	ps, _ := eng.Participants(ctx, store.ParticipantQuery{FlowID: "hook"})
	for _, p := range ps {
		last := p.Journal[len(p.Journal)-2] // the call, before leaving
		fmt.Println(last.At.In(zagreb).Format("Mon 15:04"), last.Branch)
	}
	// Output:
	// Tue 09:00 2xx
	// Tue 09:20 2xx
	// Tue 09:40 2xx
}

// A host registers an Exchange element in its engine's registry; that
// engine's flows use it by name.
func ExampleRegisterCustom() {
	reg := kinds.Registry()
	err := kinds.RegisterCustom(reg, "example.webinar", kinds.CustomKind{
		Branches: []string{"registered", "full"},
		Outputs:  map[string]store.Type{"joinUrl": store.Text},
		Validate: func(cfg json.RawMessage) error {
			var c struct{ Webinar string }
			if json.Unmarshal(cfg, &c) != nil || c.Webinar == "" {
				return element.Errorf("webinar", "webinar id is missing")
			}
			return nil
		},
		Run: func(_ context.Context, call *kinds.CustomCall) (kinds.CustomResult, error) {
			var c struct{ Webinar, Email string }
			_ = json.Unmarshal(call.Config, &c)
			return kinds.CustomResult{Branch: "registered", Reason: "registered " + c.Email,
				Outputs: map[string]any{"joinUrl": "https://webinars.example.com/" + c.Webinar}}, nil
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	eng, _ := flow.NewEngine(flow.Config{Store: memory.New(), Elements: reg, Clock: clock.NewFake(time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC))})
	f, _ := flow.ParseWith([]byte(`{"id": "onboard", "variables": {"link": {"type": "text"}},
	  "elements": [{"id": "register", "type": "example.webinar",
	    "config": {"webinar": "intro-42", "email": "{{person.emails[0]}}"},
	    "outputs": {"joinUrl": "link"}}]}`), reg)
	_, _ = eng.Publish(ctx, f)
	_ = eng.Activate(ctx, "onboard")
	id, _ := eng.Enter(ctx, "onboard", store.PersonRef{Email: "ann@example.com"}, nil)
	p, _ := eng.Participant(ctx, id)
	fmt.Println(p.Vars["link"])
	fmt.Println(p.Journal[0].Branch, "-", p.Journal[0].Reason)

	bad, _ := flow.ParseWith([]byte(`{"id": "bad", "elements": [{"id": "register", "type": "example.webinar", "config": {}}]}`), reg)
	_, err = eng.Publish(ctx, bad)
	fmt.Println(err)
	// Output:
	// https://webinars.example.com/intro-42
	// registered - registered ann@example.com
	// element "register": config.webinar: webinar id is missing
}

// A person on the Do Not Contact list is not messaged, on any channel.
func ExampleAddToDoNotContact() {
	ctx := context.Background()
	eng, _ := flow.NewEngine(flow.Config{Store: memory.New(), Clock: clock.NewFake(time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)), Ports: flow.Ports{Sender: printSender{}}})
	f := flow.New("optout", "").
		Add("send1", &kinds.SendMessage{Channel: "email", Subject: "Hi", Body: "first"}, flow.Next{"sent": "stop"}).
		Add("stop", &kinds.AddToDoNotContact{DoNotContactScope: kinds.DoNotContactScope{Email: true}}, flow.Next{"next": "send2"}).
		Add("send2", &kinds.SendMessage{Channel: "sms", Body: "second"}, flow.Next{"sent": "", "blocked": ""})
	_, _ = eng.Publish(ctx, f)
	_ = eng.Activate(ctx, "optout")
	ann := store.PersonRef{Email: "ann@example.com"}
	_, _ = eng.UpdatePerson(ctx, ann, func(p *store.Person) error { p.Phones = []string{"385911234567"}; return nil })
	id, _ := eng.Enter(ctx, "optout", ann, nil)
	p, _ := eng.Participant(ctx, id)
	for _, s := range p.Journal {
		if s.Branch != "" {
			fmt.Printf("%s %s: %s\n", s.Element, s.Branch, s.Reason)
		}
	}
	evs, _ := eng.Events(ctx, ann, store.EventQuery{Name: store.AddedToDoNotContact})
	fmt.Println(evs[0].Name, evs[0].Properties["address"])
	// Output:
	// email to ann@example.com: first
	// send1 sent: sent on email, message id "msg-1"
	// stop next: added 1 of the person's email addresses to Do Not Contact
	// send2 blocked: not sent on sms: the person is on the Do Not Contact list
	// addedToDoNotContact ann@example.com
}

// Console serves flowkit's web console over the abandoned-cart flow (see
// examples/abandoned-cart) while simulated shoppers arrive: carts are
// left, some are ordered within the hour, others after the reminder,
// others never. Open the printed address to watch the counts move and to
// look up a shopper's journey (try ana@example.com, ben@example.com or
// cid@example.com).
//
// It runs on the memory store with a fake clock that the simulation moves
// ten minutes ahead five times a second, so the flow's 4-hour and 1-day
// waits play out in seconds.
//
//	go run ./examples/console [-addr 127.0.0.1:8080]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/console"
	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/flowtest"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
)

// cartFlow is the abandoned-cart example's flow.
const cartFlow = `{
  "id": "abandoned-cart", "name": "Abandoned cart", "timezone": "Europe/Zagreb",
  "variables": {"total": {"type": "number"}},
  "trigger": {"category": "external", "name": "CartAbandoned"},
  "reentry": true,
  "elements": [
    {"id": "wait-order", "type": "waitForEvent", "name": "Wait for the order",
     "event": {"category": "external", "name": "OrderCompleted",
               "where": [{"property": "cartId", "op": "is", "value": "{{entry.properties.cartId}}"}]},
     "set": [{"variable": "total", "property": "total"}],
     "waitFor": {"amount": 4, "unit": "hours"},
     "next": {"occurred": "bought", "timeout": "remind"}},
    {"id": "remind", "type": "sendMessage", "name": "Remind by email", "channel": "email",
     "subject": "{{person.firstName}}, your cart is waiting",
     "body": "You left {{entry.properties.items}} item(s) worth {{entry.properties.total}} EUR in cart {{entry.properties.cartId}}.",
     "next": {"sent": "wait-again", "blocked": "lost"}},
    {"id": "wait-again", "type": "waitForEvent", "name": "Wait a day more",
     "event": {"category": "external", "name": "OrderCompleted",
               "where": [{"property": "cartId", "op": "is", "value": "{{entry.properties.cartId}}"}]},
     "set": [{"variable": "total", "property": "total"}],
     "waitFor": {"amount": 1, "unit": "days"},
     "next": {"occurred": "won-back", "timeout": "lost"}},
    {"id": "bought", "type": "exit", "reason": "bought without a reminder"},
    {"id": "won-back", "type": "exit", "reason": "came back after the reminder"},
    {"id": "lost", "type": "exit", "reason": "never came back"}
  ]
}`

// stepLength is how much simulated time one step of the shop covers.
const stepLength = 10 * time.Minute

// outbox is the host's Sender: it counts the emails it "sends".
type outbox struct {
	mu   sync.Mutex
	sent int
}

func (o *outbox) Send(_ context.Context, m *element.Message) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent++
	return fmt.Sprintf("email-%d", o.sent), nil
}

// cart is a cart left in the shop, which its shopper may still order.
type cart struct {
	id, email string
	leftAt    time.Time
	willOrder time.Duration // after leaving it; 0 for never
	total     float64
}

// shop simulates shoppers against one engine. Step is not safe for
// concurrent use; the engine, and so the console, is.
type shop struct {
	eng   *flow.Engine
	clk   *clock.Fake
	rng   *rand.Rand
	out   *outbox
	carts []*cart
	n     int // shoppers so far
}

// newShop publishes the flow and lets in three known shoppers: Ana, who
// orders her cart within the hour, Ben, who orders it the morning after
// the reminder, and Cid, who never does.
func newShop(ctx context.Context, seed uint64) (*shop, error) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	s := &shop{clk: clock.NewFake(start), rng: rand.New(rand.NewPCG(seed, seed)), out: &outbox{}}
	eng, err := flow.NewEngine(flow.Config{Store: memory.New(), Clock: s.clk, Ports: flow.Ports{Sender: s.out}})
	if err != nil {
		return nil, err
	}
	s.eng = eng
	f, err := flow.Parse([]byte(cartFlow))
	if err != nil {
		return nil, err
	}
	if _, err := eng.Publish(ctx, f); err != nil {
		return nil, err
	}
	if err := eng.Activate(ctx, f.ID); err != nil {
		return nil, err
	}
	for _, k := range []struct {
		name      string
		willOrder time.Duration
	}{{"Ana", 40 * time.Minute}, {"Ben", 20 * time.Hour}, {"Cid", 0}} {
		if err := s.arrive(ctx, k.name, k.willOrder); err != nil {
			return nil, err
		}
	}
	return s, nil
}

var names = []string{"Dora", "Emil", "Fran", "Goran", "Hana", "Ivo", "Jana", "Karlo", "Lea", "Marko", "Nina", "Oskar"}

// arrive lets a new shopper leave a cart, which they order willOrder later
// (never for 0).
func (s *shop) arrive(ctx context.Context, name string, willOrder time.Duration) error {
	s.n++
	email := fmt.Sprintf("%s@example.com", strings.ToLower(name))
	if s.n > 3 {
		email = fmt.Sprintf("%s.%d@example.com", strings.ToLower(name), s.n)
	}
	_, err := s.eng.UpdatePerson(ctx, store.PersonRef{Email: email}, func(p *store.Person) error {
		p.FirstName = name
		p.ExternalID = fmt.Sprintf("shopper-%d", s.n)
		p.Phones = []string{fmt.Sprintf("3859100%05d", s.n)}
		return nil
	})
	if err != nil {
		return err
	}
	c := &cart{id: fmt.Sprintf("c-%d", 100+s.n), email: email, leftAt: s.clk.Now(), willOrder: willOrder,
		total: float64(10+s.rng.IntN(200)) + 0.9}
	s.carts = append(s.carts, c)
	return s.eng.Deliver(ctx, &store.Event{
		ID: "left-" + c.id, Person: store.PersonRef{Email: email}, Category: store.External, Name: "CartAbandoned",
		Properties: map[string]any{"cartId": c.id, "items": 1 + s.rng.IntN(4), "total": c.total},
	})
}

// Step moves the shop stepLength ahead: the flow's timers fire, a few new
// shoppers leave carts, and the carts whose time has come are ordered.
func (s *shop) Step(ctx context.Context) error {
	if _, err := flowtest.Advance(ctx, s.eng, s.clk, stepLength); err != nil {
		return err
	}
	now := s.clk.Now()
	open := s.carts[:0]
	for _, c := range s.carts {
		switch {
		case c.willOrder > 0 && !now.Before(c.leftAt.Add(c.willOrder)):
			err := s.eng.Deliver(ctx, &store.Event{
				ID: "order-" + c.id, Person: store.PersonRef{Email: c.email}, Category: store.External, Name: "OrderCompleted",
				Properties: map[string]any{"cartId": c.id, "total": c.total},
			})
			if err != nil {
				return err
			}
		case c.willOrder == 0 && now.Sub(c.leftAt) > 30*time.Hour:
			// Gone for good; the flow has let them go too.
		default:
			open = append(open, c)
		}
	}
	s.carts = open
	for range s.rng.IntN(4) {
		// A third order within the 4-hour wait, a quarter after the
		// reminder, the rest never.
		var willOrder time.Duration
		switch r := s.rng.Float64(); {
		case r < 0.33:
			willOrder = time.Duration(10+s.rng.IntN(220)) * time.Minute
		case r < 0.58:
			willOrder = time.Duration(5+s.rng.IntN(22)) * time.Hour
		}
		if err := s.arrive(ctx, names[s.rng.IntN(len(names))], willOrder); err != nil {
			return err
		}
	}
	return nil
}

// Handler returns the example's server: the console under /console/, and
// / redirecting to it. Anyone who reaches it may read and use the
// lifecycle buttons: the example listens on the loopback address only,
// and the console answers only loopback Host names (its default
// AllowedHosts), so another site's page cannot reach it by DNS rebinding.
func (s *shop) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/console/", http.StripPrefix("/console", console.Handler(s.eng, console.Options{
		Authorize: func(*http.Request, console.Access) bool { return true },
	})))
	mux.Handle("GET /{$}", http.RedirectHandler("/console/", http.StatusFound))
	return mux
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "console:", err)
		os.Exit(1)
	}
}

// run serves the console on addr, printing its address to w, and steps
// the shop five times a second until ctx ends.
func run(ctx context.Context, addr string, w io.Writer) error {
	s, err := newShop(ctx, uint64(time.Now().UnixNano()))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(w, "flowkit console at http://%s/console/ (Ctrl-C stops it)\n", ln.Addr())

	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return srv.Shutdown(shutdown)
		case err := <-served:
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return err
		case <-tick.C:
			if err := s.Step(ctx); err != nil && ctx.Err() == nil {
				return err
			}
		}
	}
}

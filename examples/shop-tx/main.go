// Shop-tx records a shop's orders and the events that start their
// journeys in one database transaction, so that an order and its event
// commit together or not at all.
//
// The shop keeps its orders in its own table on the PostgreSQL database
// that flowkit's store uses. Placing an order inserts the order, records
// the customer's profile change (eng.UpdatePersonTx) and delivers an
// OrderPlaced event (eng.DeliverTx), all in the shop's transaction. The
// "thank-you" flow, entered by that event, emails the customer. An order
// whose payment is declined rolls the transaction back: no order row, no
// event, no email, nothing to clean up. The engine runs in the same
// process (eng.Run), woken by PostgreSQL's notification as each
// transaction commits; any process that runs eng.Run on the database
// would do.
//
//	go run ./examples/shop-tx -db postgres://postgres@127.0.0.1:5432/test?sslmode=disable
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// thankYou emails whoever placed an order.
const thankYou = `{
  "id": "thank-you", "name": "Thank you for your order", "timezone": "Europe/Zagreb",
  "trigger": {"category": "external", "name": "OrderPlaced"},
  "reentry": true,
  "elements": [
    {"id": "thank", "type": "sendMessage", "channel": "email",
     "subject": "Order {{entry.properties.orderId}}",
     "body": "Thank you, {{person.firstName}}: {{entry.properties.total}} EUR, on its way."}
  ]
}`

// errDeclined is the payment provider's refusal.
var errDeclined = errors.New("payment declined")

// order is one order the shop takes.
type order struct {
	id, customer, email, firstName string
	total                          float64
	declined                       bool // the payment fails after the order and event are written
}

func main() {
	db := flag.String("db", os.Getenv("DATABASE_URL"), "PostgreSQL connection string (default $DATABASE_URL)")
	schema := flag.String("schema", "shop_tx", "schema for the shop's and flowkit's tables")
	flag.Parse()
	if *db == "" {
		fmt.Fprintln(os.Stderr, "shop-tx: give a PostgreSQL connection string with -db or DATABASE_URL")
		os.Exit(2)
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, *db)
	if err == nil {
		defer pool.Close()
		err = run(ctx, os.Stdout, pool, *schema)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "shop-tx:", err)
		os.Exit(1)
	}
}

// run takes the example's orders on the database pool reaches, in
// schema, and writes what happened to w.
func run(ctx context.Context, w io.Writer, pool *pgxpool.Pool, schema string) error {
	st, err := postgres.New(ctx, postgres.Config{Pool: pool, Schema: schema})
	if err != nil {
		return err
	}
	defer st.Close()
	orders := pgx.Identifier{schema, "orders"}.Sanitize()
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+orders+` (id text PRIMARY KEY, customer text NOT NULL, total numeric NOT NULL)`); err != nil {
		return err
	}
	mail := &mailbox{sent: make(chan *element.Message, 16)}
	eng, err := flow.NewEngine(flow.Config{Store: st, Clock: clock.Real{}, Ports: flow.Ports{Sender: mail}})
	if err != nil {
		return err
	}
	f, err := flow.Parse([]byte(thankYou))
	if err != nil {
		return err
	}
	if _, _, err := eng.Deploy(ctx, f); err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	var running sync.WaitGroup
	running.Go(func() { _ = eng.Run(runCtx, time.Second) })
	defer func() { stop(); running.Wait() }()

	for _, o := range []order{
		{id: "1001", customer: "ana", email: "ana@example.com", firstName: "Ana", total: 42.5},
		{id: "1002", customer: "bob", email: "bob@example.com", firstName: "Bob", total: 99, declined: true},
		{id: "1003", customer: "cid", email: "cid@example.com", firstName: "Cid", total: 12},
	} {
		err := placeOrder(ctx, pool, eng, orders, o)
		placed := time.Now()
		switch {
		case errors.Is(err, errDeclined):
			fmt.Fprintf(w, "order %s: %v; rolled back: no order, no event\n", o.id, err)
			continue
		case err != nil:
			return err
		}
		fmt.Fprintf(w, "order %s: committed with its OrderPlaced event\n", o.id)
		select {
		case m := <-mail.sent:
			fmt.Fprintf(w, "  email to %s, %s after the commit: %s: %s\n", m.To, time.Since(placed).Round(time.Millisecond/10), m.Subject, m.Body)
		case <-time.After(30 * time.Second):
			return fmt.Errorf("order %s: no email within 30s", o.id)
		}
	}
	// Whatever a declined order did is gone: a moment more shows that no
	// email comes for it.
	select {
	case m := <-mail.sent:
		return fmt.Errorf("an email nobody should get: %s to %s", m.Subject, m.To)
	case <-time.After(300 * time.Millisecond):
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM `+orders).Scan(&n); err != nil {
		return err
	}
	_, err = eng.Person(ctx, store.PersonRef{ExternalID: "bob"})
	fmt.Fprintf(w, "orders stored: %d; bob known to flowkit: %v\n", n, err == nil)
	return nil
}

// placeOrder writes the order, the customer's profile and the
// OrderPlaced event in one transaction of the shop's, then charges the
// payment, which may roll it all back.
func placeOrder(ctx context.Context, pool *pgxpool.Pool, eng *flow.Engine, orders string, o order) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `INSERT INTO `+orders+` (id, customer, total) VALUES ($1, $2, $3)`, o.id, o.customer, o.total); err != nil {
		return err
	}
	who := store.PersonRef{ExternalID: o.customer}
	if _, err := eng.UpdatePersonTx(ctx, tx, who, flow.Changes{Set: map[string]any{"firstName": o.firstName}, AddEmails: []string{o.email}, AddTags: []string{"customer"}}); err != nil {
		return err
	}
	if _, err := eng.DeliverTx(ctx, tx, &store.Event{ID: "order-" + o.id, Person: who, Category: store.External, Name: "OrderPlaced",
		Properties: map[string]any{"orderId": o.id, "total": o.total}}); err != nil {
		return err
	}
	if o.declined {
		return errDeclined
	}
	return tx.Commit(ctx)
}

// mailbox is the shop's Sender: it hands each email to the example.
type mailbox struct{ sent chan *element.Message }

func (m *mailbox) Send(_ context.Context, msg *element.Message) (string, error) {
	m.sent <- msg
	return "mail-" + strings.ReplaceAll(msg.IdempotencyKey, ":", "-"), nil
}

package flownats

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
)

// Config configures a Consumer and a Publisher. Publishers and consumers
// of one stream must agree on Subject and Partitions.
type Config struct {
	// Engine delivers the events. Required by NewConsumer.
	Engine *flow.Engine
	// JetStream reaches the server. Required by NewConsumer.
	JetStream jetstream.JetStream
	// Stream is the stream that holds the events, whose subjects take
	// Subject + ".>" (see StreamConfig). Required by NewConsumer.
	Stream string
	// Subject is the prefix of the events' subjects. Defaults to
	// "flowkit.events".
	Subject string
	// Partitions is how many partitions people are spread over: the
	// most messages in flight at once, over every consuming process.
	// Defaults to 64.
	Partitions int
	// Durable prefixes the names of the durable consumers, one per
	// partition (Durable + "-" + the partition). Defaults to "flowkit".
	Durable string
	// AckWait is how long a message may go unacknowledged before it is
	// delivered again: longer than a Deliver takes (its calls outside
	// included). Defaults to 30 seconds.
	AckWait time.Duration
	// OnBad is told of each message that is not an event or that the
	// engine refused as bad input; the message is not delivered again.
	// Defaults to a warning on Logger.
	OnBad func(msg jetstream.Msg, err error)
	// Logger gets warnings. Defaults to slog.Default().
	Logger *slog.Logger
}

func (c *Config) defaults() error {
	if c.Subject == "" {
		c.Subject = "flowkit.events"
	}
	if c.Partitions == 0 {
		c.Partitions = 64
	}
	if c.Durable == "" {
		c.Durable = "flowkit"
	}
	if c.AckWait == 0 {
		c.AckWait = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Partitions < 1 || c.Partitions > 4096 {
		return fmt.Errorf("flownats: Config.Partitions %d: want 1 to 4096", c.Partitions)
	}
	if c.AckWait < 0 {
		return fmt.Errorf("flownats: Config.AckWait %v: must not be negative", c.AckWait)
	}
	return nil
}

// StreamConfig returns the configuration of a stream named name that
// keeps the events published under prefix, on file, deduplicating
// publishes of one message id within two minutes.
func StreamConfig(name, prefix string) jetstream.StreamConfig {
	return jetstream.StreamConfig{Name: name, Subjects: []string{prefix + ".>"}, Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute}
}

// Subject returns the subject of a person's events:
// prefix.<partition>.<person>, the person a hash of their reference in
// the form the engine finds them by (store.PersonRef.Key; the id for a
// reference by id).
func Subject(prefix string, partitions int, ref store.PersonRef) string {
	p, person := partitionOf(partitions, ref)
	return prefix + "." + strconv.Itoa(p) + "." + person
}

func partitionOf(partitions int, ref store.PersonRef) (int, string) {
	key := ref.ID.String()
	if ref.ID == uuid.Nil {
		key = ref.Key().String()
	}
	h := fnv.New32a()
	_, _ = io.WriteString(h, key)
	sum := sha256.Sum256([]byte(key))
	return int(h.Sum32() % uint32(max(partitions, 1))), hex.EncodeToString(sum[:12])
}

// Publisher publishes events on their person's subject.
type Publisher struct {
	js     jetstream.JetStream
	prefix string
	parts  int
}

// NewPublisher returns a Publisher on js with cfg's Subject and
// Partitions (the other fields are not used).
func NewPublisher(js jetstream.JetStream, cfg Config) (*Publisher, error) {
	if js == nil {
		return nil, errors.New("flownats: JetStream is nil")
	}
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	return &Publisher{js: js, prefix: cfg.Subject, parts: cfg.Partitions}, nil
}

// Publish publishes ev, which needs an id and a person reference, and
// returns the stream's acknowledgment.
func (p *Publisher) Publish(ctx context.Context, ev *store.Event) (*jetstream.PubAck, error) {
	if ev == nil || ev.ID == "" || ev.Person.IsZero() {
		return nil, errors.New("flownats: an event to publish needs an id and a person reference")
	}
	data, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("flownats: event %q: %w", ev.ID, err)
	}
	subject := Subject(p.prefix, p.parts, ev.Person)
	_, person := partitionOf(p.parts, ev.Person)
	return p.js.Publish(ctx, subject, data, jetstream.WithMsgID(person+":"+ev.ID))
}

// Consumer delivers a stream's events to an engine; see the package doc.
type Consumer struct {
	cfg  Config
	cons []jetstream.Consumer
	// Counts, for Stats.
	delivered, duplicates, bad, retried atomic.Int64
}

// NewConsumer checks cfg and creates (or updates) the partitions'
// durable consumers on the stream; every consuming process calls it with
// the same cfg.
func NewConsumer(ctx context.Context, cfg Config) (*Consumer, error) {
	switch {
	case cfg.Engine == nil:
		return nil, errors.New("flownats: Config.Engine is required")
	case cfg.JetStream == nil:
		return nil, errors.New("flownats: Config.JetStream is required")
	case cfg.Stream == "":
		return nil, errors.New("flownats: Config.Stream is required")
	}
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	c := &Consumer{cfg: cfg}
	if c.cfg.OnBad == nil {
		c.cfg.OnBad = func(msg jetstream.Msg, err error) {
			c.cfg.Logger.Warn("flownats: a message was not delivered: it is not an event the engine takes", "subject", msg.Subject(), "err", err)
		}
	}
	for p := range cfg.Partitions {
		cons, err := cfg.JetStream.CreateOrUpdateConsumer(ctx, cfg.Stream, jetstream.ConsumerConfig{
			Durable:       cfg.Durable + "-" + strconv.Itoa(p),
			FilterSubject: cfg.Subject + "." + strconv.Itoa(p) + ".>",
			AckPolicy:     jetstream.AckExplicitPolicy,
			DeliverPolicy: jetstream.DeliverAllPolicy,
			AckWait:       cfg.AckWait,
			MaxAckPending: 1, // one person's events in order, across processes
			MaxDeliver:    -1,
		})
		if err != nil {
			return nil, fmt.Errorf("flownats: stream %s: consumer of partition %d: %w", cfg.Stream, p, err)
		}
		c.cons = append(c.cons, cons)
	}
	return c, nil
}

// Stats are what a Consumer did so far.
type Stats struct {
	// Delivered are the events the engine recorded.
	Delivered int64
	// Duplicates are events whose id the person's history held already:
	// redeliveries, and events published twice.
	Duplicates int64
	// Bad are messages terminated as bad (see Config.OnBad).
	Bad int64
	// Retried are messages the engine could not apply for now, to be
	// delivered again.
	Retried int64
}

// Stats returns what c did so far.
func (c *Consumer) Stats() Stats {
	return Stats{Delivered: c.delivered.Load(), Duplicates: c.duplicates.Load(), Bad: c.bad.Load(), Retried: c.retried.Load()}
}

// Run consumes every partition until ctx is done, then stops taking
// messages, lets those being delivered finish, and returns ctx's error.
func (c *Consumer) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	var ccs []jetstream.ConsumeContext
	for _, cons := range c.cons {
		cc, err := cons.Consume(func(msg jetstream.Msg) { c.handle(ctx, msg) },
			jetstream.PullMaxMessages(1),
			jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
				if ctx.Err() == nil && !errors.Is(err, jetstream.ErrNoHeartbeat) {
					c.cfg.Logger.Debug("flownats: consuming", "err", err)
				}
			}))
		if err != nil {
			for _, cc := range ccs {
				cc.Stop()
			}
			return fmt.Errorf("flownats: consume: %w", err)
		}
		ccs = append(ccs, cc)
	}
	<-ctx.Done()
	for _, cc := range ccs {
		wg.Go(func() {
			cc.Drain()
			<-cc.Closed()
		})
	}
	wg.Wait()
	return ctx.Err()
}

// handle delivers one message and acknowledges it once the engine
// committed it.
func (c *Consumer) handle(ctx context.Context, msg jetstream.Msg) {
	var ev store.Event
	if err := json.Unmarshal(msg.Data(), &ev); err != nil {
		c.terminate(msg, fmt.Errorf("not a JSON event: %w", err))
		return
	}
	var rep flow.Report
	err := c.cfg.Engine.Deliver(ctx, &ev, flow.ReportTo(&rep))
	var ie *flow.InputError
	switch {
	case err == nil:
		if rep.Duplicate {
			c.duplicates.Add(1)
		} else {
			c.delivered.Add(1)
		}
		// Confirmed: a lost acknowledgment only means a redelivery,
		// which changes nothing.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if err := msg.DoubleAck(actx); err != nil {
			c.cfg.Logger.Debug("flownats: acknowledging", "event", ev.ID, "err", err)
		}
		cancel()
	case ctx.Err() != nil:
		// Stopping: delivered again after AckWait.
	case errors.As(err, &ie) && !errors.Is(err, store.ErrUnavailable):
		c.terminate(msg, err)
	default:
		c.retried.Add(1)
		c.cfg.Logger.Warn("flownats: an event could not be delivered for now; it comes again", "event", ev.ID, "err", err)
		_ = msg.NakWithDelay(time.Second)
	}
}

func (c *Consumer) terminate(msg jetstream.Msg, err error) {
	c.bad.Add(1)
	c.cfg.OnBad(msg, err)
	_ = msg.Term()
}

package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/internal/address"
	"github.com/flowkit/flowkit/internal/clone"
	"github.com/flowkit/flowkit/internal/values"
	"github.com/flowkit/flowkit/internal/wall"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

// Ports are the host's services that an engine's steps call, grouped
// apart from the engine's tuning in Config. Each must be safe for
// concurrent use.
type Ports struct {
	// Sender sends messages. Defaults to none: sending elements fail.
	Sender element.Sender
	// HTTP performs Call API requests. Each request carries its own
	// timeout (CallAPI.Timeout) and redirect policy, which Call API
	// applies to an *http.Client; an HTTPDoer of another type that
	// follows redirects must call kinds.CheckRedirect from the
	// CheckRedirect of the client it wraps. Defaults to
	// kinds.NewHTTPClient, which guards its connections when
	// ElementOptions.CallAPI.BlockPrivateAddresses is set.
	HTTP element.HTTPDoer
	// Conversations starts conversations with agents. Defaults to none.
	Conversations element.Conversations
	// Settings looks up the host settings that flow documents read with
	// {{env.NAME}} placeholders (a Call API base URL, an API key). It is
	// called when a step runs, so a changed setting applies from the next
	// step on without a new version; values never enter versions. A
	// setting it reports unset fails the step. It must be safe for
	// concurrent use. Defaults to os.LookupEnv: flows may then read any
	// environment variable of the process, so a host whose flow authors
	// are less trusted than the host serves only the settings flows may
	// see.
	//
	// Flows read settings only in the fields of a call out: Call API's
	// url, headers and body, and a custom kind's config
	// (element.Compiler.WithSettings). Publish refuses them in every other
	// field (variables, the profile, messages, tags, conditions), with an
	// error naming the element and the field. The engine replaces a value
	// the step read by its placeholder in the step's reason, error,
	// journal and observation, as it is, URL-escaped (url.PathEscape,
	// url.QueryEscape and a URL path's own escaping), as JSON string
	// content (with or without the \u escapes of <, > and &), Go-quoted,
	// and, for a URL, its host; and in the same spellings in the text of
	// the participant's variables, of the profile attributes the step
	// changed and of the events it emitted, so that a setting a response
	// or a custom kind hands back is stored as its placeholder. A value the outside service transformed otherwise
	// (hashed, base64-encoded) is not recognized, and a flow may send a
	// setting it reads to any address it calls: serve a flow only
	// settings its authors may use.
	Settings func(name string) (value string, ok bool)
	// Variants, when set, chooses a Split Audience's variant for a person
	// (ok true) instead of the split's hash: for experiments assigned by
	// another system, and for tests that need to know who gets which
	// variant (see flowtest.ForceVariants). A variant the split lacks
	// fails the step. It must be safe for concurrent use. Defaults to
	// none: splits go by the hash.
	Variants func(flowID, elementID string, person *store.Person) (variant string, ok bool)
}

// Config configures an Engine. Its zero value, with a Store, is a working
// configuration.
type Config struct {
	// Store keeps the engine's records. Required.
	Store store.Store
	// Clock tells the time. Defaults to clock.Real.
	Clock clock.Clock
	// Schema declares the custom person attributes. Defaults to none.
	Schema store.Schema
	// Computed registers computed person attributes that segments may use:
	// an expr formula or a Go function each. Defaults to none.
	Computed map[string]segment.Computed
	// Elements are the element kinds this engine's flows may use, custom
	// kinds included: Publish, Validate and the versions the engine reads
	// back from the Store make their elements from it. It must not lose
	// kinds while the engine runs. Defaults to kinds.Registry(): the
	// built-in kinds.
	Elements *element.Registry
	// Ports are the host's services that steps call: the only way a
	// flow reaches the host. Each defaults as its field says.
	Ports Ports
	// ElementOptions are the settings of the built-in kinds for every
	// flow: Call API's default timeout (10s), response size limit
	// (1 MiB) and address guard (off); the pacer of every element with a
	// sending speed (the Store's budgets when it keeps them,
	// store.PaceKeeper, as the memory and PostgreSQL stores do, which
	// every engine sharing the Store draws on; else kinds.NewPacer(),
	// which keeps its budgets in this process); Send Message's frequency
	// caps (none) and quiet hours (none). Defaults to those.
	ElementOptions kinds.Options
	// Logger receives the engine's logs: a debug record per step, wait,
	// resume and exit, and a warning per failed step, with flow, element
	// and participant attributes. Defaults to discarding them.
	Logger *slog.Logger
	// Observer sees every step, wait, resume, exit, failure, entry, send
	// and call outside, with its duration and reason, once each after it
	// committed. Defaults to none.
	Observer Observer
	// PhoneRegion is the region (an ISO 3166-1 alpha-2 code such as "HR")
	// whose national format phone numbers are read in: with "HR", "091
	// 123 4567" is +385911234567. Every phone number the host hands the
	// engine (person references, profiles, Do Not Contact lists) is
	// stored in E.164 form ("+385911234567"), so that every spelling of
	// a number names one person; a number that is not a possible one for
	// its country is an *InputError. Defaults to none: numbers must be
	// international ("+385 91 123 4567", "00385...", or digits with the
	// country code first), and a national number is an *InputError.
	// NormalizePhones brings phones stored before into this form.
	PhoneRegion string
	// RefuseUnknownPeople makes Deliver, Enter and Add to Flow refuse a
	// reference to a person the store does not know, with an *InputError
	// wrapping store.ErrNotFound that names the reference, instead of
	// creating the person; people are then created by UpdatePerson only.
	// Defaults to false: unknown external ids, phones and emails create
	// people.
	RefuseUnknownPeople bool
	// MaxSteps bounds the steps one call runs for one participant, so a
	// loop without a wait fails that participant instead of hanging the
	// host. Defaults to 1000.
	MaxSteps int
	// JournalLimit is how many journal steps each participant keeps, the
	// most recent. Defaults to 100.
	JournalLimit int
	// FinishedJournalLimit is how many journal steps a participant keeps
	// once it has left its flow, the most recent (its exit among them),
	// when fewer than JournalLimit: a host that keeps millions of
	// finished participants can keep a few steps of each. 0 keeps
	// JournalLimit's.
	FinishedJournalLimit int
	// InactivityLimit is how long a participant may wait with no element
	// activated before it leaves its flow. Defaults to one calendar year in
	// the flow's time zone (366 days across a February 29).
	InactivityLimit time.Duration
	// TimerLease is how long a timer Tick claimed stays with it, on stores
	// that claim (store.TimerClaimer): other ticks skip it meanwhile, and
	// a timer whose step failed, or whose ticker died, fires again after
	// it. Tick claims no more timers at a time than it fires within half
	// the lease. Defaults to 15 seconds.
	TimerLease time.Duration
	// TickBatch is the most due timers Tick claims from the Store at a
	// time. Defaults to 1000.
	TickBatch int
	// EffectLease is how long a step that calls outside the engine (Call
	// API, Send Message, Notify, Start a Conversation, custom elements)
	// may take before another tick may run it again, with the same
	// idempotency key, on the grounds that the process making the call
	// died. It must be longer than the slowest call (Call API's timeout
	// included). Defaults to two minutes.
	EffectLease time.Duration
	// EffectConcurrency is how many calls outside the engine one Tick
	// makes at once, for the participants its timers run into external
	// steps. Defaults to 32.
	EffectConcurrency int
	// AudiencePage is how many people an audience or date entry's run
	// looks at in one page: one store read, and one bulk insert of the
	// participants of those who enter. Defaults to 1000.
	AudiencePage int
	// AudiencePagesPerTick bounds the pages of audience and date runs one
	// Tick works through before it fires timers. Defaults to 10.
	AudiencePagesPerTick int
	// HistoryRetention is how long PruneHistory keeps events in people's
	// histories; it needs a Store with store.HistoryPruner. Defaults to 0:
	// events are kept forever.
	HistoryRetention time.Duration
	// InboxRetention is how long the calls recorded in host transactions
	// (EnterTx, DeliverTx, UpdatePersonTx) are kept after they ran, for
	// Recorded to read; Tick deletes older ones. Defaults to 7 days.
	InboxRetention time.Duration
	// Limits bound the size of flow documents and of host input: strings,
	// events, profiles and page sizes (see Limits). Defaults to the
	// defaults of each of its fields.
	Limits Limits
	// EvalBudget bounds each evaluation of a flow's formulas and
	// templates, and the results of one step's evaluations together: the
	// memory their texts, lists and maps may take, and the time they may
	// loop. Publish refuses an expression that would surely exceed it; an
	// evaluation that exceeds it fails its step with an error wrapping
	// element.ErrBudget, naming the element and field. Versions compile
	// with the budget of the engine that runs them. Defaults to 4 MiB and
	// 250ms.
	EvalBudget element.Budget
}

// Engine runs flows. It is safe for concurrent use: any number of
// goroutines (and, with a shared Store, processes) may call it at once. It
// never sleeps and leaves no goroutine running when a call returns, except
// that a Call API element not waiting for its response drains it on one
// (Tick overlaps the calls outside of the participants it runs, see
// Config.EffectConcurrency); the host delivers events and calls Tick.
type Engine struct {
	cfg   Config
	store store.Store
	clock clock.Clock
	log   *slog.Logger
	// ports are lent to every step; Flows is set per step.
	ports element.Ports
	flows sync.Map // flowKey -> *compiled
	cat   catalog
	// tickNanos is the moving average of one timer's fire, in ns (see
	// claimSize).
	tickNanos atomic.Int64
	// inboxPruned is when the inbox was last pruned, in Unix ns.
	inboxPruned atomic.Int64
	// debug is set when the logger records debug records; observing when
	// there is an observer or debug logging, so steps are timed.
	debug, observing bool
	runs             runCache
	// expChecked holds, by flow id, when Tick last looked at whether the
	// flow's experiments ended.
	expChecked sync.Map
}

type flowKey struct {
	id      string
	version int
}

// NewEngine returns an engine for the configuration.
func NewEngine(cfg Config) (*Engine, error) {
	if cfg.Store == nil {
		return nil, errors.New("flow: Config.Store is required")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Elements == nil {
		cfg.Elements = kinds.Registry()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Ports.HTTP == nil {
		cfg.Ports.HTTP = kinds.NewHTTPClient(kinds.HTTPClientOptions{BlockPrivateAddresses: cfg.ElementOptions.CallAPI.BlockPrivateAddresses})
	}
	if cfg.ElementOptions.Pacer == nil {
		if k, ok := cfg.Store.(store.PaceKeeper); ok {
			cfg.ElementOptions.Pacer = storePacer{k}
		} else {
			cfg.ElementOptions.Pacer = kinds.NewPacer()
		}
	}
	if err := checkLimits(cfg); err != nil {
		return nil, err
	}
	cfg.Limits = cfg.Limits.withDefaults()
	if err := checkRetention(cfg); err != nil {
		return nil, err
	}
	if err := cfg.ElementOptions.SendMessage.FrequencyCap.Validate(); err != nil {
		return nil, fmt.Errorf("flow: Config.ElementOptions.SendMessage.FrequencyCap: %w", err)
	}
	for i, f := range cfg.ElementOptions.SendMessage.FrequencyCaps {
		if f == (kinds.FrequencyCap{}) {
			return nil, fmt.Errorf("flow: Config.ElementOptions.SendMessage.FrequencyCaps[%d]: frequency cap: Messages must be positive", i)
		}
		if err := f.Validate(); err != nil {
			return nil, fmt.Errorf("flow: Config.ElementOptions.SendMessage.FrequencyCaps[%d]: %w", i, err)
		}
	}
	if err := cfg.ElementOptions.SendMessage.QuietHours.Validate(); err != nil {
		return nil, fmt.Errorf("flow: Config.ElementOptions.SendMessage.QuietHours: %w", err)
	}
	if cfg.PhoneRegion != "" {
		cfg.PhoneRegion = strings.ToUpper(cfg.PhoneRegion)
		if !address.ValidRegion(cfg.PhoneRegion) {
			return nil, fmt.Errorf("flow: Config.PhoneRegion %q is not a region code such as \"HR\" or \"US\"", cfg.PhoneRegion)
		}
	}
	if cfg.MaxSteps == 0 {
		cfg.MaxSteps = 1000
	}
	if cfg.JournalLimit == 0 {
		cfg.JournalLimit = 100
	}
	if cfg.TimerLease == 0 {
		cfg.TimerLease = 15 * time.Second
	}
	if cfg.TickBatch == 0 {
		cfg.TickBatch = 1000
	}
	if cfg.EffectLease == 0 {
		cfg.EffectLease = 2 * time.Minute
	}
	if cfg.EffectConcurrency == 0 {
		cfg.EffectConcurrency = 32
	}
	if cfg.InboxRetention == 0 {
		cfg.InboxRetention = 7 * 24 * time.Hour
	}
	if cfg.AudiencePage == 0 {
		cfg.AudiencePage = 1000
	}
	if cfg.AudiencePagesPerTick == 0 {
		cfg.AudiencePagesPerTick = 10
	}
	for name, t := range cfg.Schema {
		if !t.Valid() {
			return nil, fmt.Errorf("flow: Config.Schema: attribute %q has unknown type %q", name, t)
		}
		if _, std := values.StandardAttributes[name]; std {
			return nil, fmt.Errorf("flow: Config.Schema: %q is a standard attribute", name)
		}
	}
	if _, err := segment.Compile(segment.All(), segment.Options{Schema: cfg.Schema, Computed: cfg.Computed}); err != nil {
		return nil, fmt.Errorf("flow: Config.Computed: %w", err)
	}
	e := &Engine{cfg: cfg, store: cfg.Store, clock: cfg.Clock, log: cfg.Logger}
	e.debug = cfg.Logger.Enabled(context.Background(), slog.LevelDebug)
	e.observing = e.debug || cfg.Observer != nil
	e.ports = element.Ports{
		Logger:        cfg.Logger,
		Sender:        cfg.Ports.Sender,
		HTTP:          cfg.Ports.HTTP,
		Conversations: cfg.Ports.Conversations,
		Settings:      cfg.Ports.Settings,
		Variants:      cfg.Ports.Variants,
	}
	return e, nil
}

// checkLimits returns an error for each negative limit of cfg, naming
// its field.
func checkLimits(cfg Config) error {
	var errs []error
	for _, l := range []struct {
		field string
		value int64
		shown any
	}{
		{"MaxSteps", int64(cfg.MaxSteps), cfg.MaxSteps},
		{"JournalLimit", int64(cfg.JournalLimit), cfg.JournalLimit},
		{"FinishedJournalLimit", int64(cfg.FinishedJournalLimit), cfg.FinishedJournalLimit},
		{"InactivityLimit", int64(cfg.InactivityLimit), cfg.InactivityLimit},
		{"TimerLease", int64(cfg.TimerLease), cfg.TimerLease},
		{"TickBatch", int64(cfg.TickBatch), cfg.TickBatch},
		{"EffectLease", int64(cfg.EffectLease), cfg.EffectLease},
		{"EffectConcurrency", int64(cfg.EffectConcurrency), cfg.EffectConcurrency},
		{"AudiencePage", int64(cfg.AudiencePage), cfg.AudiencePage},
		{"AudiencePagesPerTick", int64(cfg.AudiencePagesPerTick), cfg.AudiencePagesPerTick},
		{"HistoryRetention", int64(cfg.HistoryRetention), cfg.HistoryRetention},
		{"InboxRetention", int64(cfg.InboxRetention), cfg.InboxRetention},
		{"ElementOptions.CallAPI.Timeout", int64(cfg.ElementOptions.CallAPI.Timeout), cfg.ElementOptions.CallAPI.Timeout},
		{"ElementOptions.CallAPI.MaxResponseBytes", cfg.ElementOptions.CallAPI.MaxResponseBytes, cfg.ElementOptions.CallAPI.MaxResponseBytes},
		{"EvalBudget.Memory", cfg.EvalBudget.Memory, cfg.EvalBudget.Memory},
		{"EvalBudget.Time", int64(cfg.EvalBudget.Time), cfg.EvalBudget.Time},
	} {
		if l.value < 0 {
			errs = append(errs, fmt.Errorf("flow: Config.%s is %v: must not be negative", l.field, l.shown))
		}
	}
	for _, l := range cfg.Limits.fields() {
		if l.value < 0 {
			errs = append(errs, fmt.Errorf("flow: Config.%s is %d: must not be negative", l.field, l.value))
		}
	}
	return errors.Join(errs...)
}

// Now returns the engine's clock reading, without a monotonic reading:
// every time the engine keeps or compares is a wall-clock time, so that a
// timer a store finds due is due for the engine too.
func (e *Engine) Now() time.Time { return e.clock.Now().Round(0) }

// Publish validates the flow and stores it as a new immutable version,
// which new participants enter from then on; participants already in the
// flow stay on the version they entered. It returns the version number. A
// new flow starts as a draft: Activate it to let people in.
func (e *Engine) Publish(ctx context.Context, f *Flow) (int, error) {
	p, err := e.prepare(ctx, f)
	if err != nil {
		return 0, err
	}
	return e.publish(ctx, p, 0)
}

// prepared is a flow validated and compiled for publishing, with the
// document to store.
type prepared struct {
	flow *Flow
	c    *compiled
	doc  []byte
}

// prepare validates and compiles a copy of f, and writes its document.
func (e *Engine) prepare(ctx context.Context, f *Flow) (*prepared, error) {
	own, err := e.own(f)
	if err != nil {
		return nil, err
	}
	own.Version = 0
	c, err := compile(own, e.decls())
	if err != nil {
		return nil, err
	}
	if err := e.checkTargets(ctx, c); err != nil {
		return nil, err
	}
	if err := e.checkBulkEntries(c); err != nil {
		return nil, err
	}
	if err := e.checkExperiments(c); err != nil {
		return nil, err
	}
	doc, err := json.Marshal(own)
	if err != nil {
		return nil, err
	}
	return &prepared{flow: own, c: c, doc: doc}, nil
}

// publish stores a prepared flow as a new version, expected to be number
// expect (0 for any, see store.Store.PublishFlow).
func (e *Engine) publish(ctx context.Context, p *prepared, expect int) (int, error) {
	at := e.Now()
	v, err := e.store.PublishFlow(ctx, &store.FlowVersion{FlowID: p.flow.ID, Version: expect, Document: p.doc, PublishedAt: at})
	if err != nil {
		return 0, err
	}
	p.flow.Version = v
	p.c.publishedAt = at
	e.flows.Store(flowKey{p.flow.ID, v}, p.c)
	return v, nil
}

// checkTargets refuses elements that enter people into a flow
// (element.EntersFlow, such as Add to Flow) whose target flow is known and
// takes no one by its Existing Flow entry point; unknown targets are
// checked when the step runs.
func (e *Engine) checkTargets(ctx context.Context, c *compiled) error {
	var bad problems
	for _, n := range c.flow.Elements {
		ef, ok := n.Element.(element.EntersFlow)
		if !ok {
			continue
		}
		flowID, field := ef.EntersFlow()
		target := c
		if flowID != c.flow.ID {
			st, err := e.store.Flow(ctx, flowID)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if target, err = e.compiled(ctx, flowID, st.Latest); err != nil {
				return err
			}
		}
		if !target.allows(EntryExistingFlow) {
			bad.add(n.ID, field, fmt.Errorf("flow %q declares no existingFlow entry, so %s cannot enter it", flowID, n.Element.Kind()))
		}
	}
	return errors.Join(bad...)
}

func (e *Engine) decls() decls {
	return decls{schema: e.cfg.Schema, computed: e.cfg.Computed, budget: e.cfg.EvalBudget, options: &e.cfg.ElementOptions}
}

// Validate checks a flow against the engine's schema and computed
// attributes without publishing it.
func (e *Engine) Validate(f *Flow) error {
	own, err := e.own(f)
	if err != nil {
		return err
	}
	_, err = compile(own, e.decls())
	return err
}

// compiled returns a flow version ready to run, compiling a version
// another process published on first use.
func (e *Engine) compiled(ctx context.Context, id string, version int) (*compiled, error) {
	if c, ok := e.flows.Load(flowKey{id, version}); ok {
		return c.(*compiled), nil
	}
	fv, err := e.store.FlowVersion(ctx, id, version)
	if err != nil {
		return nil, err
	}
	f, err := ParseWith(fv.Document, e.cfg.Elements)
	if err != nil {
		return nil, fmt.Errorf("flow %q version %d: %w", id, version, err)
	}
	f.Version = version
	c, err := compile(f, e.decls())
	if err != nil {
		return nil, fmt.Errorf("flow %q version %d: %w", id, version, err)
	}
	c.publishedAt = fv.PublishedAt
	actual, _ := e.flows.LoadOrStore(flowKey{id, version}, c)
	return actual.(*compiled), nil
}

// FlowInfo describes a flow: its state and its latest version.
type FlowInfo struct {
	Status    store.FlowStatus
	UpdatedAt time.Time
	// Flow is a copy of the latest version, with Version set.
	Flow *Flow
}

// Flow returns a flow's status and latest version.
func (e *Engine) Flow(ctx context.Context, flowID string) (*FlowInfo, error) {
	st, err := e.store.Flow(ctx, flowID)
	if err != nil {
		return nil, err
	}
	c, err := e.compiled(ctx, flowID, st.Latest)
	if err != nil {
		return nil, err
	}
	f, err := c.flow.Clone()
	if err != nil {
		return nil, err
	}
	f.Version = st.Latest
	return &FlowInfo{Status: st.Status, UpdatedAt: st.UpdatedAt, Flow: f}, nil
}

// Activate moves a draft flow to active: people may enter it.
// Audience and date entries start their first runs (see AudienceRuns).
func (e *Engine) Activate(ctx context.Context, flowID string) error {
	if err := e.transition(ctx, flowID, store.FlowActive, store.FlowDraft); err != nil {
		return err
	}
	return e.activateEntries(ctx, flowID)
}

// Pause stops an active flow for a while: no one enters, timers that come
// due wait until Resume (and then fire late, at the tick after it), and
// events delivered meanwhile are kept in history but wake no one.
func (e *Engine) Pause(ctx context.Context, flowID string) error {
	return e.transition(ctx, flowID, store.FlowPaused, store.FlowActive)
}

// Resume moves a paused flow back to active.
func (e *Engine) Resume(ctx context.Context, flowID string) error {
	if err := e.transition(ctx, flowID, store.FlowActive, store.FlowPaused); err != nil {
		return err
	}
	return e.unpark(ctx, flowID)
}

// Finish closes a flow to new entries; the participants in it run out.
func (e *Engine) Finish(ctx context.Context, flowID string) error {
	if err := e.transition(ctx, flowID, store.FlowFinished, store.FlowActive, store.FlowPaused); err != nil {
		return err
	}
	return e.unpark(ctx, flowID)
}

// Cancel ends a flow at once: every participant still in it leaves with
// status Canceled.
func (e *Engine) Cancel(ctx context.Context, flowID string) error {
	if err := e.transition(ctx, flowID, store.FlowCanceled, store.FlowDraft, store.FlowActive, store.FlowPaused, store.FlowFinished); err != nil {
		return err
	}
	return e.eachParticipant(ctx, flowID, func(s *session, p *store.Participant) error {
		if pending(p) {
			return s.ptx.drop(p) // it has not entered: nothing to leave
		}
		c, err := s.e.cached(p.FlowID, p.FlowVersion)
		if err != nil {
			return err
		}
		return s.leave(c, p, store.Canceled, "flow canceled")
	})
}

// A call that loses a race with another lifecycle call (the store's
// status changed between reading and setting it) looks again: it goes on
// from the status found if that allows the move, and otherwise returns
// ErrBadTransition naming it, as it would have had it come second.
func (e *Engine) transition(ctx context.Context, flowID string, to store.FlowStatus, from ...store.FlowStatus) error {
	const rounds = 5
	for round := 1; ; round++ {
		st, err := e.store.Flow(ctx, flowID)
		if err != nil {
			return err
		}
		if !slices.Contains(from, st.Status) {
			return fmt.Errorf("flow %q is %s, cannot become %s: %w", flowID, st.Status, to, ErrBadTransition)
		}
		err = e.store.SetFlowStatus(ctx, flowID, st.Status, to, e.Now())
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
		if round == rounds {
			return fmt.Errorf("flow %q kept changing status while becoming %s: %w", flowID, to, ErrBadTransition)
		}
	}
}

// unpark re-arms the timers parked while the flow was paused.
func (e *Engine) unpark(ctx context.Context, flowID string) error {
	return e.eachParticipant(ctx, flowID, func(s *session, p *store.Participant) error {
		if p.Wait != nil && p.Wait.Parked {
			setParked(p, false)
			s.ptx.dirty(p)
		}
		return nil
	})
}

// setParked parks or unparks p's timer.
func setParked(p *store.Participant, parked bool) {
	w := *p.Wait // the store's, when it lends its records
	w.Parked = parked
	p.Wait = &w
}

// eachParticipant runs fn for every participant of the flow still in it,
// each in its own person's transaction.
func (e *Engine) eachParticipant(ctx context.Context, flowID string, fn func(*session, *store.Participant) error) error {
	q := &store.ParticipantQuery{FlowID: flowID, Statuses: []store.Status{store.Active, store.Waiting, store.InFlight}, Limit: 1000}
	for {
		page, err := e.store.Participants(ctx, q)
		if err != nil {
			return err
		}
		for _, p := range page {
			err := e.update(ctx, p.PersonID, func(s *session) error {
				cur, err := s.ptx.participant(p.ID)
				if err != nil || cur == nil || cur.Status.Done() {
					return err
				}
				return fn(s, cur)
			})
			if err != nil {
				return err
			}
		}
		if len(page) < q.Limit {
			return nil
		}
		q.After = page[len(page)-1].ID
	}
}

// Enter enters a person into a flow's latest version by the API entry
// point, with variables (converted to their declared types; undeclared
// ones are refused), and runs the participant until it waits or leaves.
// The person is created when the reference names an unknown external id,
// phone or email. It returns the participant's id. A refusal by the
// flow's rules is ErrFlowNotActive, ErrAlreadyInFlow (naming the re-entry
// rule) or ErrNoEntryPoint.
func (e *Engine) Enter(ctx context.Context, flowID string, who store.PersonRef, vars map[string]any, opts ...CallOption) (uuid.UUID, error) {
	return e.enterAPI(ctx, flowID, who, vars, options(opts))
}

func (e *Engine) enterAPI(ctx context.Context, flowID string, who store.PersonRef, vars map[string]any, o callOptions) (uuid.UUID, error) {
	if err := e.cfg.Limits.checkVars(vars); err != nil {
		return uuid.Nil, inputError(who, "", err)
	}
	var id uuid.UUID
	err := e.withPerson(ctx, who, !e.cfg.RefuseUnknownPeople, "an entry", o, func(s *session) error {
		p, err := s.enter(flowID, EntryAPI, vars, nil, o.key, "the API")
		if p != nil {
			id = p.ID
		}
		if refused(err) {
			s.rec.refuse(flowID, err)
		}
		return err
	})
	var ie *InputError
	switch {
	case err == nil:
		return id, nil
	case errors.As(err, &ie):
		err = inputError(who, "", err) // a variable that does not fit
	case o.key != "" && errors.Is(err, store.ErrDuplicate):
		err = fmt.Errorf("flow %q: the entry's key names another person's entry: %w", flowID, err)
	}
	return uuid.Nil, err // nothing committed: the id would name no one
}

// Deliver records an event in its person's history and hands it to the
// person's participants waiting for it, and to the flows it triggers. A
// redelivered event (an id the person's history holds) changes nothing.
// An event for an unknown external id, phone or email creates the person.
// Time defaults to the clock's now.
func (e *Engine) Deliver(ctx context.Context, ev *store.Event, opts ...CallOption) error {
	c, who, err := e.checkEvent(ev)
	if err != nil {
		return err
	}
	return e.deliver(ctx, c, who, options(opts))
}

// checkEvent checks an event the host hands over and returns a copy to
// record, with its time (defaulting to now) and properties converted,
// and whom it is about.
func (e *Engine) checkEvent(ev *store.Event) (*store.Event, store.PersonRef, error) {
	if ev == nil {
		return nil, store.PersonRef{}, &InputError{Err: fmt.Errorf("%w: event is nil", ErrBadEvent)}
	}
	who := ev.Person
	if ev.PersonID != uuid.Nil {
		who = store.PersonRef{ID: ev.PersonID}
	}
	bad := func(field, format string, args ...any) (*store.Event, store.PersonRef, error) {
		return nil, who, &InputError{Ref: refName(who), Field: field, Err: fmt.Errorf("%w: "+format, append([]any{ErrBadEvent}, args...)...)}
	}
	switch {
	case ev.ID == "":
		return bad("id", "event has no id")
	case who.IsZero():
		return bad("person", "event %q names no person", ev.ID)
	case !ev.Category.Valid():
		return bad("category", "event %q: unknown category %q", ev.ID, ev.Category)
	case ev.Name == "":
		return bad("name", "event %q has no name", ev.ID)
	}
	if err := e.cfg.Limits.checkEvent(ev); err != nil {
		return nil, who, inputError(who, "", err)
	}
	c := *ev
	c.Properties = nil
	if len(ev.Properties) > 0 {
		// The history keeps a deep copy, checked and converted in one pass.
		c.Properties = make(map[string]any, len(ev.Properties))
		for k, v := range ev.Properties {
			if _, ok := values.TypeOf(v); !ok && v != nil {
				// Go integers and float32 become numbers; anything else is refused.
				f, err := values.Convert(store.Number, v)
				if err != nil {
					return bad("properties."+k, "event %q: property %q has unsupported type %T", ev.ID, k, v)
				}
				v = f
			}
			c.Properties[k] = clone.Value(v)
		}
	}
	if c.Time.IsZero() {
		c.Time = e.Now()
	}
	return &c, who, nil
}

// deliver records a checked event (see checkEvent) and routes it.
func (e *Engine) deliver(ctx context.Context, c *store.Event, who store.PersonRef, o callOptions) error {
	return e.withPerson(ctx, who, !e.cfg.RefuseUnknownPeople, "event "+c.Name+" arrived", o, func(s *session) error {
		c.PersonID = s.personID
		if err := s.ptx.tx.AddEvent(c); err != nil {
			if errors.Is(err, store.ErrDuplicate) {
				return errDuplicateEvent
			}
			return err
		}
		s.rec.events = append(s.rec.events, c)
		return nil
	})
}

var errDuplicateEvent = errors.New("duplicate event")

// UpdatePerson changes a person's profile as the host: fn changes a copy,
// and each changed attribute, tag, phone number, email address and Do Not
// Contact address becomes a People event that wakes participants waiting
// for it (a respelt phone number or email address is no change). The
// person is created when the reference names an unknown external id,
// phone or email, found in any spelling (see address.Phone).
// Custom attributes must be declared in Config.Schema and hold values of
// their types (converted where unambiguous). It returns the saved person.
func (e *Engine) UpdatePerson(ctx context.Context, who store.PersonRef, fn func(p *store.Person) error) (*store.Person, error) {
	return e.updatePerson(ctx, who, fn, callOptions{})
}

func (e *Engine) updatePerson(ctx context.Context, who store.PersonRef, fn func(p *store.Person) error, o callOptions) (*store.Person, error) {
	var out *store.Person
	err := e.withPerson(ctx, who, true, "a profile change", o, func(s *session) error {
		before := s.ptx.person.Clone()
		after := s.ptx.person.Clone()
		if err := fn(after); err != nil {
			return err
		}
		after.ID = s.personID
		if err := e.cfg.Limits.checkPerson(after); err != nil {
			return inputError(who, "", err)
		}
		if err := e.checkPerson(after); err != nil {
			return inputError(who, "", err)
		}
		for _, ev := range personEvents(before, after, s.now) {
			if err := s.record(ev); err != nil {
				return err
			}
		}
		s.ptx.setPerson(after.Clone()) // the store may keep it: fn had after
		out = after
		return nil
	})
	return out, err
}

// findPerson returns the id of the person who names. A reference that
// names no one usable, or an unknown person, is an *InputError naming the
// reference as given (wrapping store.ErrNotFound for an unknown person).
func (e *Engine) findPerson(ctx context.Context, who store.PersonRef) (uuid.UUID, error) {
	ref, err := e.normalRef(who)
	if err != nil {
		return uuid.Nil, err
	}
	id, err := e.store.FindPerson(ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		return uuid.Nil, &InputError{Ref: refName(who), Err: store.ErrNotFound}
	}
	return id, err
}

// normalRef returns a reference with its phone number in E.164 form,
// and refuses one that names no one usable, or is longer than the
// engine's limits, as an *InputError naming it.
func (e *Engine) normalRef(who store.PersonRef) (store.PersonRef, error) {
	if err := e.cfg.Limits.checkRef(who); err != nil {
		return who, err
	}
	if who.ID == uuid.Nil && who.ExternalID == "" && who.Phone != "" {
		p, err := address.E164(who.Phone, e.cfg.PhoneRegion)
		if err != nil {
			return who, &InputError{Ref: refName(who), Field: "phone", Err: err}
		}
		who.Phone = p
	}
	return who, e.checkRef(who)
}

// lookupRef returns who with its phone number in E.164 form when it is
// one, for lookups that report an unknown person rather than bad input.
func (e *Engine) lookupRef(who store.PersonRef) store.PersonRef {
	if who.ID == uuid.Nil && who.ExternalID == "" && who.Phone != "" {
		if p, err := address.E164(who.Phone, e.cfg.PhoneRegion); err == nil {
			who.Phone = p
		}
	}
	return who
}

// checkRef refuses a reference that names no one usable as an
// *InputError naming it.
func (e *Engine) checkRef(who store.PersonRef) error {
	switch {
	case who.IsZero():
		return &InputError{Err: errors.New("person reference is empty: give an id, externalId, phone or email")}
	case who.ID == uuid.Nil && who.Key() == (store.Key{}):
		field, what := "email", "an email address"
		if who.ExternalID == "" && who.Phone != "" {
			field, what = "phone", "a phone number"
		}
		return &InputError{Ref: refName(who), Field: field, Err: fmt.Errorf("is not %s", what)}
	}
	return nil
}

// Person returns a person's profile.
func (e *Engine) Person(ctx context.Context, who store.PersonRef) (*store.Person, error) {
	id, err := e.findPerson(ctx, who)
	if err != nil {
		return nil, err
	}
	var out *store.Person
	err = e.store.Update(ctx, id, func(tx store.Tx) error {
		p, err := tx.Person()
		if err == nil {
			out = p.Clone() // the transaction's person is read-only
		}
		return err
	})
	return out, err
}

// Events returns a person's event history that the query selects.
func (e *Engine) Events(ctx context.Context, who store.PersonRef, q store.EventQuery) ([]*store.Event, error) {
	if err := e.cfg.Limits.checkPage(q.Limit); err != nil {
		return nil, err
	}
	id, err := e.findPerson(ctx, who)
	if err != nil {
		return nil, err
	}
	var out []*store.Event
	err = e.store.Update(ctx, id, func(tx store.Tx) error {
		out, err = tx.Events(&q)
		return err
	})
	return out, err
}

// checkPerson checks and converts a profile the host changed; its errors
// are *InputError values naming the field.
func (e *Engine) checkPerson(p *store.Person) error {
	for name, v := range p.Attributes {
		t, ok := e.cfg.Schema[name]
		if !ok {
			return &InputError{Field: "attributes." + name, Err: fmt.Errorf("attribute %q is not declared in the schema", name)}
		}
		cv, err := values.Convert(t, v)
		if err != nil {
			return &InputError{Field: "attributes." + name, Err: fmt.Errorf("attribute %q: %w", name, err)}
		}
		p.Attributes[name] = cv
	}
	if !p.BirthDate.IsZero() {
		p.BirthDate = values.DateOf(p.BirthDate)
	}
	if p.TimeZone != "" {
		if _, err := wall.LoadLocation(p.TimeZone); err != nil {
			return &InputError{Field: "timeZone", Err: fmt.Errorf("time zone %q is not an IANA name", p.TimeZone)}
		}
	}
	for i, ph := range p.Phones {
		n, err := address.E164(ph, e.cfg.PhoneRegion)
		if err != nil {
			return &InputError{Field: "phones[" + strconv.Itoa(i) + "]", Err: err}
		}
		p.Phones[i] = n
	}
	// Two spellings of one number are one number.
	for i := len(p.Phones) - 1; i > 0; i-- {
		if slices.Index(p.Phones, p.Phones[i]) < i {
			p.Phones = slices.Delete(p.Phones, i, i+1)
		}
	}
	for i, a := range p.DoNotContact {
		if strings.Contains(a, "@") {
			continue
		}
		n, err := address.E164(a, e.cfg.PhoneRegion)
		if err != nil {
			return &InputError{Field: "doNotContact[" + strconv.Itoa(i) + "]", Err: err}
		}
		p.DoNotContact[i] = n
	}
	return nil
}

// Tick fires every timer due at the clock's now, earliest first, each
// step running at the tick's time. It returns how many fired. Several
// goroutines or processes may tick at once: no step runs twice, and on a
// Store that claims timers (store.TimerClaimer, as the memory store does)
// each due timer goes to one of them, so ticking scales with cores.
// Before the timers it runs the calls recorded in host transactions
// (EnterTx, DeliverTx, UpdatePersonTx) that have committed, on a Store
// with an inbox.
func (e *Engine) Tick(ctx context.Context) (int, error) {
	now := e.Now()
	fired := 0
	// One read of the flows' states serves the whole tick.
	cat, err := e.flowStates(ctx)
	if err != nil {
		return 0, err
	}
	if err := e.advanceRuns(ctx, now, cat); err != nil {
		return 0, err
	}
	if err := e.decideExperiments(ctx, now, cat); err != nil {
		return 0, err
	}
	if _, err := e.drainInbox(ctx); err != nil {
		e.log.WarnContext(ctx, "flowkit: running recorded calls failed; they run again at a later tick", "err", err)
	}
	claimer, claims := e.store.(store.TimerClaimer)
	batcher, perPerson := e.batchUpdater()
	var fb firings
	var first error
	for {
		var due []store.Timer
		limit := e.claimSize()
		if claims {
			due, err = claimer.ClaimTimers(ctx, now, limit, e.cfg.TimerLease)
		} else {
			due, err = e.store.DueTimers(ctx, now, limit)
		}
		if err != nil || len(due) == 0 {
			return fired, errors.Join(first, err)
		}
		// The timers' steps run one batch after another; the calls
		// outside that they run into start as each batch commits, and
		// overlap. A timer whose step fails is left to fire again after
		// its lease; the others fire.
		pf := e.newPerformer(ctx)
		start := time.Now()
		failed := 0
		// down is set once a step failed on a store that does not
		// answer: the rest of the claimed timers are left, to be claimed
		// again once it does, rather than each tried in turn.
		down := false
		note := func(t store.Timer, ok bool, err error) {
			if err != nil {
				failed++
				down = down || errors.Is(err, store.ErrUnavailable)
				e.log.WarnContext(ctx, "flowkit: a timer's step failed; it fires again after its lease",
					"participant", t.ParticipantID.String(), "err", err)
				if first == nil {
					first = err
				}
				return
			}
			if ok {
				fired++
			}
		}
		batch := min(batchPeople, e.cfg.EffectConcurrency)
		for rest := due; len(rest) > 0 && ctx.Err() == nil && !down; {
			if perPerson {
				batch = 1 // each person commits alone: a batch saves nothing
			}
			chunk := distinctPeople(rest, batch)
			rest = rest[len(chunk):]
			var calls bool
			cat, calls = e.fireBatch(ctx, batcher, &fb, chunk, now, cat, pf, note, func() bool { return down })
			// Steps that call outside commit their intents with their
			// batch, then wait for a free call slot with their leases
			// running: while they do, a batch holds no more people than
			// there are free slots.
			batch = batchPeople
			if calls {
				batch = pf.free()
			}
		}
		e.noteTickRate(time.Since(start), len(due))
		if err := pf.wait(); err != nil && first == nil {
			first = err
		}
		if ctx.Err() != nil {
			return fired, errors.Join(first, ctx.Err())
		}
		if failed == len(due) || down {
			return fired, first // the store is likely down: do not spin
		}
		if len(due) < limit {
			// Timers fired in this round may have armed new ones already
			// due; take another round only when there may be more.
			if next, ok, err := e.store.NextDue(ctx); err != nil || !ok || next.After(now) {
				return fired, errors.Join(first, err)
			}
		}
	}
}

// claimSize is how many timers Tick claims at a time: TickBatch, or fewer
// when the ticks so far show that many would not fire within claimSpan
// (or half the lease, when shorter), so that claims never outlive their
// lease and other tickers do not take the same timers over and queue on
// the same people, and so that timers a store hands over (those of a
// process that died) wait behind little work already claimed.
func (e *Engine) claimSize() int {
	per := time.Duration(e.tickNanos.Load())
	if per <= 0 {
		return e.cfg.TickBatch
	}
	n := int(min(e.cfg.TimerLease/2, claimSpan) / per)
	return max(1, min(n, e.cfg.TickBatch))
}

// claimSpan is how much firing work Tick claims at a time at most.
const claimSpan = 250 * time.Millisecond

// noteTickRate keeps a moving average of the time one timer takes to fire.
func (e *Engine) noteTickRate(took time.Duration, n int) {
	if n == 0 {
		return
	}
	per := int64(took) / int64(n)
	old := e.tickNanos.Load()
	if old > 0 {
		per = (old*3 + per) / 4
	}
	e.tickNanos.Store(max(per, 1))
}

// NextDue returns when the earliest timer is due, so a host can sleep until
// then; false when no timer is armed. The runs of audience and date
// entries count as timers: due now while one has people left to look
// at, and at the next scheduled run.
func (e *Engine) NextDue(ctx context.Context) (time.Time, bool, error) {
	next, ok, err := e.store.NextDue(ctx)
	if err != nil {
		return next, ok, err
	}
	return e.nextRunDue(ctx, next, ok)
}

// fire fires one claimed timer. While the store is unavailable it tries
// a few times more, briefly: a store whose database just restarted may
// fail a first transaction or two on connections from before, and a
// timer claimed now must not wait its whole lease for a failure the next
// connection would not have.
func (e *Engine) fire(ctx context.Context, t store.Timer, now time.Time, cat *catalogSnapshot, effects *[]effect) (bool, error) {
	had := len(*effects)
	f := &firing{t: t, now: now}
	for wait := fireRetryFirst; ; wait *= 4 {
		err := e.run(ctx, t.PersonID, f.fire, call{cat: cat, effects: effects})
		if !errors.Is(err, store.ErrUnavailable) || wait > fireRetryLast {
			return f.fired, err
		}
		*effects = (*effects)[:had]
		tm := time.NewTimer(wait) // real time: this waits for the database
		select {
		case <-ctx.Done():
			tm.Stop()
			return false, errors.Join(err, ctx.Err())
		case <-tm.C:
		}
	}
}

// The waits before firing a timer again while the store is unavailable:
// 25ms, 100ms and 400ms.
const (
	fireRetryFirst = 25 * time.Millisecond
	fireRetryLast  = 400 * time.Millisecond
)

// batchPeople is how many people's timers Tick fires in one
// store.BatchUpdater batch.
const batchPeople = 200

// batchUpdater returns the store's store.BatchUpdater, or one that
// commits each person with an Update of their own (perPerson set).
func (e *Engine) batchUpdater() (bu store.BatchUpdater, perPerson bool) {
	if bu, ok := e.store.(store.BatchUpdater); ok {
		return bu, false
	}
	return updateEach{e.store}, true
}

// updateEach is store.BatchUpdater by an Update per person.
type updateEach struct{ s store.Store }

func (u updateEach) UpdateBatch(ctx context.Context, ids []uuid.UUID, fn func(int, store.Tx) error) ([]error, error) {
	errs := make([]error, len(ids))
	for i, id := range ids {
		errs[i] = u.s.Update(ctx, id, func(tx store.Tx) error { return fn(i, tx) })
	}
	return errs, nil
}

// distinctPeople returns the longest prefix of timers, up to max, whose
// people are distinct and on one store.Timer.Shard.
func distinctPeople(timers []store.Timer, max int) []store.Timer {
	seen := make(map[uuid.UUID]struct{}, min(len(timers), max))
	for i, t := range timers {
		if _, dup := seen[t.PersonID]; dup || i == max || t.Shard != timers[0].Shard {
			return timers[:i]
		}
		seen[t.PersonID] = struct{}{}
	}
	return timers
}

// firings holds what fireBatch notes per timer, reused from one batch
// to the next of a Tick.
type firings struct {
	fs  []*firing
	ids []uuid.UUID
}

type firing struct {
	s       *session
	t       store.Timer
	now     time.Time
	fired   bool
	effects []effect
	// fn is f.fire, made once per firing rather than once per timer.
	fn func(*session) error
}

// fire is the session function that fires timer f.t at f.now, setting
// f.fired when it did.
func (f *firing) fire(s *session) error {
	f.fired = false
	p, err := s.ptx.participant(f.t.ParticipantID)
	// An orphaned call in flight (its process died) is due before
	// its lease ends.
	orphan := err == nil && f.t.Orphaned && p != nil && p.Status == store.InFlight
	if err != nil || p == nil || p.Wait == nil || !p.Wait.Until.Equal(f.t.Due) || !(p.Due(f.now) || orphan) ||
		(p.Status != store.Waiting && p.Status != store.InFlight && !pending(p)) {
		return err // moved on since the timer was read
	}
	c, err := s.e.cached(p.FlowID, p.FlowVersion)
	if err != nil {
		return err
	}
	if s.cat.status(p.FlowID) == store.FlowPaused {
		setParked(p, true)
		s.ptx.dirty(p)
		return nil
	}
	f.fired = true
	switch {
	case pending(p):
		return s.startPending(c, p)
	case p.Status == store.InFlight:
		s.retryEffect(p, orphan) // its lease ended, or its process died
		return nil
	}
	return s.wake(c, p, element.Wake{Timer: true})
}

// ready returns room for n timers.
func (fb *firings) ready(n int) ([]*firing, []uuid.UUID) {
	for len(fb.fs) < n {
		f := new(firing)
		f.fn = f.fire
		fb.fs = append(fb.fs, f)
	}
	for _, f := range fb.fs[:n] {
		*f = firing{fn: f.fn}
	}
	fb.ids = slices.Grow(fb.ids[:0], n)[:n]
	return fb.fs[:n], fb.ids
}

// fireBatch fires timers of distinct people in one store.BatchUpdater
// batch, and starts the calls their steps put in flight in due order. A
// batch of one reserves its call slot before it fires, so that its
// lease does not run while it waits for one. A timer whose transaction
// failed (or every one, when the batch did) fires again alone, as fire
// does, unless down reports the store does not answer. It returns the
// catalog snapshot to go on with (a fresh one when the batch found the
// one it had stale), and whether any step called outside.
func (e *Engine) fireBatch(ctx context.Context, bu store.BatchUpdater, fb *firings, due []store.Timer, now time.Time, cat *catalogSnapshot,
	pf *performer, note func(store.Timer, bool, error), down func() bool) (_ *catalogSnapshot, calls bool) {
	n := len(due)
	fs, ids := fb.ready(n)
	for i, t := range due {
		f := fs[i]
		ids[i] = t.PersonID
		f.t, f.now = t, now
		f.s = e.newSession(ctx, t.PersonID, f.fn, call{cat: cat, effects: &f.effects})
	}
	defer func() {
		for i := range fs {
			fs[i].s.release()
		}
	}()
	if n == 1 {
		pf.reserve()
	}
	errs, err := bu.UpdateBatch(ctx, ids, func(i int, tx store.Tx) error { return fs[i].s.inTx(tx) })
	if err == nil && slices.ContainsFunc(errs, func(err error) bool { return errors.Is(err, errStaleCatalog) }) {
		if fresh, ferr := e.flowStates(ctx); ferr == nil {
			cat = fresh
		}
	}
	for i, t := range due {
		if f := fs[i]; err == nil && errs[i] == nil {
			ferr := f.s.finish()
			calls = calls || len(f.effects) > 0
			pf.start(f.effects)
			note(t, f.fired, ferr)
			continue
		}
		if down() {
			continue // the store does not answer: leave the rest claimed
		}
		var alone []effect
		pf.reserve()
		ok, ferr := e.fire(ctx, t, now, cat, &alone)
		calls = calls || len(alone) > 0
		pf.start(alone)
		note(t, ok, ferr)
	}
	return cat, calls
}

// Participant returns one participant, with its journal. The host owns
// the copy.
func (e *Engine) Participant(ctx context.Context, id uuid.UUID) (*store.Participant, error) {
	p, err := e.store.Participant(ctx, id)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Participants returns the participants of a flow that q selects, in id
// order (descending when q.Descending is set). The host owns the copies.
func (e *Engine) Participants(ctx context.Context, q store.ParticipantQuery) ([]*store.Participant, error) {
	if err := e.cfg.Limits.checkPage(q.Limit); err != nil {
		return nil, err
	}
	ps, err := e.store.Participants(ctx, &q)
	return ps, err
}

// ElementStats are one element's statistics, over all versions of its
// flow.
type ElementStats struct {
	// Entered counts participants that reached the element.
	Entered int64 `json:"entered"`
	// Left counts participants that went on, by branch.
	Left map[string]int64 `json:"left"`
	// Waiting is how many participants wait at the element now.
	Waiting int64 `json:"waiting"`
	// Errors counts failed steps.
	Errors int64 `json:"errors"`
	// InFlight is how many participants are in a step that calls outside
	// the engine at the element now.
	InFlight int64 `json:"inFlight"`
	// ExitRules counts participants that exit rules took out of the flow
	// here, by rule.
	ExitRules map[string]int64 `json:"exitRules,omitempty"`
	// Conversions counts participants that reached the element and then
	// converted, by goal.
	Conversions map[string]int64 `json:"conversions,omitempty"`
	// BranchConversions counts participants that left the element by a
	// branch and then converted, by branch and goal: with Left, the
	// conversion rate of each variant of a Split Audience.
	BranchConversions map[string]map[string]int64 `json:"branchConversions,omitempty"`
	// Other counts kind-specific figures, such as sends.
	Other map[string]int64 `json:"other"`
}

// Stats returns per-element statistics of a flow, by element id.
func (e *Engine) Stats(ctx context.Context, flowID string) (map[string]*ElementStats, error) {
	counters, err := e.store.Counters(ctx, flowID)
	if err != nil {
		return nil, err
	}
	out := map[string]*ElementStats{}
	for _, c := range counters {
		st := out[c.Element]
		if st == nil {
			st = &ElementStats{Left: map[string]int64{}, Other: map[string]int64{}}
			out[c.Element] = st
		}
		addCounter(st, c)
	}
	return out, nil
}

// The counter keys.
const (
	keyEntered  = "entered"
	keyWaiting  = "waiting"
	keyErrors   = "errors"
	keyInFlight = "inflight"
	keyLeft     = "left:"
)

package element

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

// Ports are what the engine lends a step beyond the person and the
// variables: the host's ports (a Sender, an HTTP client, Conversations),
// a way to enter people into flows, the host's settings and its chooser
// of experiment variants. The engine sets them in Run.Ports for every
// step; a port the host has none of is nil. Ports are safe for concurrent
// use, as the host's must be.
type Ports struct {
	// Sender sends messages; nil when the host has none.
	Sender Sender
	// HTTP performs HTTP requests (Call API's); the engine's guards its
	// dials as the host configured.
	HTTP HTTPDoer
	// Conversations starts conversations with agents; nil when the host
	// has none.
	Conversations Conversations
	// Flows enters people into flows on behalf of the step.
	Flows Flows
	// Settings looks up the host settings that {{env.NAME}} placeholders
	// read; nil reads environment variables. Programs and templates call
	// it themselves when they are evaluated.
	Settings func(name string) (value string, ok bool)
	// Variants, when set, may choose a Split Audience's variant for a
	// person instead of the split's hash.
	Variants func(flowID, elementID string, person *store.Person) (variant string, ok bool)
	// Logger receives records of host code that failed badly, such as a
	// custom kind that panicked; nil records nothing.
	Logger *slog.Logger
	// Calling is the engine's: Run.Calling calls it when the step begins
	// its call outside. Nil outside the engine's External steps.
	Calling func()
}

// HTTPDoer performs HTTP requests; *http.Client implements it.
type HTTPDoer interface {
	Do(*http.Request) (*http.Response, error)
}

// Sender sends one message and returns the channel's message id. A send is
// at-least-once: Message.IdempotencyKey is stable across retries of a step.
type Sender interface {
	Send(ctx context.Context, m *Message) (messageID string, err error)
}

// Message is one message to send.
type Message struct {
	Channel        string // "sms", "email", "push", or another name
	To             string // phone number, email address or push token
	From           string
	Subject        string
	Body           string
	Data           map[string]any
	PersonID       uuid.UUID // uuid.Nil for internal recipients
	FlowID         string
	ElementID      string
	IdempotencyKey string
}

// Conversations starts a conversation between a person and live agents.
type Conversations interface {
	Start(ctx context.Context, c *Conversation) (id string, err error)
}

// Conversation is a request for a conversation with agents.
type Conversation struct {
	PersonID       uuid.UUID
	Tag            string // what it is about, for the agent
	Context        map[string]any
	FlowID         string
	IdempotencyKey string
}

// Flows enters people into flows on behalf of a step.
type Flows interface {
	// Enter enters the person (the step's own when who is the zero
	// PersonRef) into the flow's active version, with vars. It fails when
	// the flow is not active. Entering another person happens after the
	// step commits, keyed by key so that a retried step enters once.
	Enter(ctx context.Context, flowID string, who store.PersonRef, vars map[string]any, key string) error
}

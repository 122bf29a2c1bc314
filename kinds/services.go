package kinds

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

// Services are what the host and the engine lend to the built-in kinds:
// the engine puts them in element.Run.Services for every step.
type Services struct {
	// Logger receives the records of custom kinds that panicked.
	Logger *slog.Logger
	// Sender sends messages; nil when the host has none.
	Sender Sender
	// HTTP performs Call API requests.
	HTTP HTTPDoer
	// Conversations starts conversations with agents; nil when the host
	// has none.
	Conversations Conversations
	// Flows lets a step enter a person into another flow.
	Flows Flows
	// Options are the host's settings of the built-in kinds.
	Options Options
	// Variants, when set, may choose a Split Audience's variant for a
	// person instead of the split's hash (see SplitAudience).
	Variants func(flowID, elementID string, person *store.Person) (variant string, ok bool)
}

// servicesOf returns the services the engine lent to the step, nil when
// it lent none.
func servicesOf(r *element.Run) *Services {
	s, _ := r.Services.(*Services)
	return s
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

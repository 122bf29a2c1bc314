package kinds

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/internal/clone"
	"github.com/flowkit/flowkit/internal/values"
)

// StartConversation hands the person to live agents through the host's
// Conversations service, then goes on by "next".
//
// Tag (required, with placeholders) tells the agent what the conversation
// is about, such as "data-verification". The conversation's context holds
// the person ("person": id, external id, standard and custom attributes,
// phones, emails, tags) and the flow variables named in Variables
// ("variables": name to value). The conversation id the service returns
// is stored in ConversationIDVariable when set. The request carries the
// step's idempotency key, so a retried step can be recognised by the
// service; a service error fails the step.
type StartConversation struct {
	Tag                    string   `json:"tag"`
	Variables              []string `json:"variables,omitempty"`
	ConversationIDVariable string   `json:"conversationIdVariable,omitempty"`

	tag *element.Template
}

// Kind implements element.Element.
func (*StartConversation) Kind() string { return "startConversation" }

// External implements element.External: it starts a conversation through Conversations.
func (*StartConversation) External() bool { return true }

// HeldOutBranch implements element.ReachesPerson: a held-out participant
// goes on by "next" without a conversation.
func (*StartConversation) HeldOutBranch() (string, bool) { return element.BranchNext, true }

// Branches implements element.Element.
func (*StartConversation) Branches() []string { return []string{element.BranchNext} }

// Validate implements element.Element.
func (s *StartConversation) Validate(c *element.Compiler) (err error) {
	if s.tag, err = compileTag(c, s.Tag); err != nil {
		return err
	}
	seen := map[string]bool{}
	for i, v := range s.Variables {
		field := fmt.Sprintf("variables[%d]", i)
		if _, err := declaredVar(c, field, v); err != nil {
			return err
		}
		if seen[v] {
			return element.Errorf(field, "variable %q is named twice", v)
		}
		seen[v] = true
	}
	if v := s.ConversationIDVariable; v != "" {
		if err := textVar(c, "conversationIdVariable", v, "a conversation id"); err != nil {
			return err
		}
	}
	return nil
}

// Run implements element.Element.
func (s *StartConversation) Run(ctx context.Context, r *element.Run) (element.Outcome, error) {
	if r.Ports.Conversations == nil {
		return element.Outcome{}, errors.New("the engine has no Conversations service")
	}
	tag, err := renderTag(r, s.tag)
	if err != nil {
		return element.Outcome{}, err
	}
	vars := make(map[string]any, len(s.Variables))
	for _, v := range s.Variables {
		vars[v] = clone.Value(r.Vars[v])
	}
	person := values.Person(r.Person)
	person["externalId"] = r.Person.ExternalID
	conv := &element.Conversation{
		PersonID:       r.Person.ID,
		Tag:            tag,
		Context:        map[string]any{"person": clone.Map(person), "variables": vars},
		FlowID:         r.FlowID,
		IdempotencyKey: r.IdempotencyKey(),
	}
	r.Calling()
	id, err := r.Ports.Conversations.Start(ctx, conv)
	if err != nil {
		return element.Outcome{}, fmt.Errorf("start conversation %q: %w", tag, err)
	}
	if s.ConversationIDVariable != "" {
		r.Vars[s.ConversationIDVariable] = id
	}
	names := append([]string(nil), s.Variables...)
	sort.Strings(names)
	reason := fmt.Sprintf("started conversation %q tagged %q", id, tag)
	if len(names) > 0 {
		reason += " with " + strings.Join(names, ", ")
	}
	return element.Next(element.BranchNext, reason), nil
}

package ingest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/store"
)

// call is one parsed call, ready to apply.
type call struct {
	kind      string // "track" or "identify"
	messageID string
	ref       store.PersonRef
	event     *store.Event // track
	changes   flow.Changes // identify
	ignored   []string     // identify: traits that name no attribute
}

// segmentCall is a call as the Segment spec writes it; the fields flowkit
// does not use (context, integrations) are not read.
type segmentCall struct {
	Type              string         `json:"type"`
	UserID            idValue        `json:"userId"`
	AnonymousID       idValue        `json:"anonymousId"`
	MessageID         idValue        `json:"messageId"`
	Event             string         `json:"event"`
	Properties        map[string]any `json:"properties"`
	Traits            map[string]any `json:"traits"`
	Timestamp         string         `json:"timestamp"`
	OriginalTimestamp string         `json:"originalTimestamp"`
	SentAt            string         `json:"sentAt"`
}

// idValue is an id the spec gives as a string, which some clients send
// as a number.
type idValue string

func (v *idValue) UnmarshalJSON(b []byte) error {
	switch {
	case bytes.Equal(b, []byte("null")):
		*v = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*v = idValue(s)
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return errors.New("an id is a string or a number")
		}
		*v = idValue(n.String())
	}
	return nil
}

// fieldError is a problem with one field of a call.
type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string {
	if e.field == "" {
		return e.err.Error()
	}
	return e.field + ": " + e.err.Error()
}
func (e *fieldError) Unwrap() error { return e.err }

func bad(field, format string, args ...any) error {
	return &fieldError{field: field, err: fmt.Errorf(format, args...)}
}

// parse reads one call of a request to path kind ("track", "identify",
// or "batch" for a call of a batch, which names its type).
func (h *Handler) parse(raw json.RawMessage, kind string) (*call, error) {
	if len(raw) > h.o.MaxCallBytes {
		return nil, bad("", "the call is %d bytes, more than the limit of %d", len(raw), h.o.MaxCallBytes)
	}
	var sc segmentCall
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&sc); err != nil {
		return nil, bad("", "the call is not a JSON object of the tracking API: %v", err)
	}
	c := &call{kind: kind, messageID: string(sc.MessageID)}
	switch {
	case kind == "batch" || kind == "import":
		c.kind = sc.Type
	case sc.Type != "" && sc.Type != kind:
		return c, bad("type", "a %s call POSTed to /v1/%s", sc.Type, kind)
	}
	ref, err := h.o.Person(string(sc.UserID), string(sc.AnonymousID))
	if err != nil {
		return c, &fieldError{field: "userId", err: err}
	}
	c.ref = ref
	props, err := numbers(sc.Properties)
	if err != nil {
		return c, &fieldError{field: "properties", err: err}
	}
	traits, err := numbers(sc.Traits)
	if err != nil {
		return c, &fieldError{field: "traits", err: err}
	}
	switch c.kind {
	case "track":
		if sc.Event == "" {
			return c, bad("event", "a track call names its event")
		}
		at, err := h.callTime(&sc)
		if err != nil {
			return c, err
		}
		id := c.messageID
		if id == "" {
			// No messageId: the call's own bytes name it, so that the
			// same call sent again is the same event.
			sum := sha256.Sum256(raw)
			id = "sha256:" + hex.EncodeToString(sum[:16])
		}
		c.event = &store.Event{ID: id, Person: ref, Category: store.External, Name: sc.Event, Properties: props, Time: at}
	case "identify":
		c.changes, c.ignored = h.traits(traits)
	case "":
		return c, bad("type", "a call of a batch names its type")
	default:
		return c, bad("type", "%q calls are not taken: track and identify are", c.kind)
	}
	return c, nil
}

// callTime is when a track call happened: its timestamp; else
// originalTimestamp moved by the client's clock skew (sentAt against
// now), or as it is; else now.
func (h *Handler) callTime(sc *segmentCall) (time.Time, error) {
	parse := func(field, s string) (time.Time, error) {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, bad(field, "%q is not an ISO 8601 time with a zone", s)
		}
		return t, nil
	}
	switch {
	case sc.Timestamp != "":
		return parse("timestamp", sc.Timestamp)
	case sc.OriginalTimestamp != "":
		orig, err := parse("originalTimestamp", sc.OriginalTimestamp)
		if err != nil || sc.SentAt == "" {
			return orig, err
		}
		sent, err := parse("sentAt", sc.SentAt)
		if err != nil {
			return time.Time{}, err
		}
		return h.eng.Now().Add(-sent.Sub(orig)), nil
	}
	return h.eng.Now(), nil
}

// traits maps an identify's traits to profile changes, and returns the
// traits that name no attribute.
func (h *Handler) traits(traits map[string]any) (flow.Changes, []string) {
	var c flow.Changes
	set := func(name string, v any) {
		if c.Set == nil {
			c.Set = map[string]any{}
		}
		c.Set[name] = v
	}
	var ignored []string
	for name, v := range traits {
		switch name {
		case "email":
			if s, ok := v.(string); ok && s != "" {
				c.AddEmails = append(c.AddEmails, s)
				continue
			}
		case "phone":
			if s, ok := v.(string); ok && s != "" {
				c.AddPhones = append(c.AddPhones, s)
				continue
			}
		case "firstName", "lastName", "gender":
			set(name, v)
			continue
		case "birthday":
			set(store.AttrBirthDate, v)
			continue
		case "name":
			s, ok := v.(string)
			if !ok {
				break
			}
			first, last, _ := strings.Cut(strings.TrimSpace(s), " ")
			if _, given := traits["firstName"]; !given && first != "" {
				set(store.AttrFirstName, first)
			}
			if _, given := traits["lastName"]; !given && last != "" {
				set(store.AttrLastName, strings.TrimSpace(last))
			}
			continue
		case "address":
			if a, ok := v.(map[string]any); ok {
				for _, f := range []string{"city", "country"} {
					if x, ok := a[f]; ok {
						set(f, x)
					}
				}
				continue
			}
		default:
			// A standard attribute by its name, or a declared one.
			if _, ok := h.schema.TypeOf(name); ok && name != store.AttrExternalID {
				set(name, v)
				continue
			}
		}
		ignored = append(ignored, name)
	}
	slices.Sort(ignored)
	return c, ignored
}

// numbers turns the json.Numbers of a decoded tree into float64, the
// engine's numbers.
func numbers(m map[string]any) (map[string]any, error) {
	for k, v := range m {
		n, err := number(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		m[k] = n
	}
	return m, nil
}

func number(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return nil, fmt.Errorf("%s is not a number the engine keeps", x)
		}
		return f, nil
	case map[string]any:
		return numbers(x)
	case []any:
		for i, e := range x {
			n, err := number(e)
			if err != nil {
				return nil, err
			}
			x[i] = n
		}
	}
	return v, nil
}

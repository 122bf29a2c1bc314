package kinds

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/internal/wall"
	"github.com/flowkit/flowkit/store"
)

// The branches of Send Message.
const (
	// BranchBlocked is taken when the person is on the Do Not Contact
	// list or has no address for the channel (Send Message), or when no
	// recipient has an address (Notify).
	BranchBlocked = "blocked"
	// BranchCapped is taken when one of the engine's frequency caps
	// forbids another message to the person.
	BranchCapped = "capped"
)

// The channel names Send Message knows the recipient of. Any other name
// may be used with an explicit To.
const (
	ChannelSMS      = "sms"
	ChannelEmail    = "email"
	ChannelPush     = "push"
	ChannelWhatsApp = "whatsapp"
	ChannelViber    = "viber"
	ChannelMMS      = "mms"
	ChannelVoice    = "voice"
	ChannelRCS      = "rcs"
)

// phoneChannels reach a person at a phone number.
var phoneChannels = map[string]bool{ChannelSMS: true, ChannelWhatsApp: true, ChannelViber: true, ChannelMMS: true, ChannelVoice: true, ChannelRCS: true}

// FrequencyCap is a rule of the engine's "at most Messages messages per
// person within a period, across all flows": within any period of Within
// (a rolling window), or within the person's calendar day or week (Per).
// Messages counts the person's store.MessageSent channel events in the
// period before the send, so messages the host sent itself and delivered
// as MessageSent events count too. With Channel set, only messages on that
// channel count and only sends on it are capped; otherwise every channel
// counts. The zero value caps nothing.
type FrequencyCap struct {
	Messages int
	// Within is the length of a rolling window. Either Within or Per is
	// set.
	Within time.Duration
	// Per is a calendar period in the person's time zone (the flow's when
	// the person has none or an invalid one): CalendarDay counts from the
	// day's midnight, CalendarWeek from Monday's midnight.
	Per string
	// Channel, when set, is the one channel the cap counts and caps.
	Channel string
}

// The calendar periods of FrequencyCap.Per.
const (
	CalendarDay  = "day"
	CalendarWeek = "week"
)

// Validate checks that Messages and one period are set, or nothing is.
func (f FrequencyCap) Validate() error {
	switch {
	case f == FrequencyCap{}:
		return nil
	case f.Messages <= 0:
		return errors.New("frequency cap: Messages must be positive")
	case f.Within < 0:
		return errors.New("frequency cap: Within must be positive")
	case f.Within == 0 && f.Per == "":
		return errors.New("frequency cap: Within or Per is required")
	case f.Within != 0 && f.Per != "":
		return errors.New("frequency cap: Within and Per are exclusive")
	case f.Per != "" && f.Per != CalendarDay && f.Per != CalendarWeek:
		return fmt.Errorf("frequency cap: Per %q is not %q or %q", f.Per, CalendarDay, CalendarWeek)
	case f.Channel != "" && (strings.TrimSpace(f.Channel) != f.Channel || strings.ToLower(f.Channel) != f.Channel):
		return fmt.Errorf("frequency cap: Channel %q must be a lower-case name without spaces", f.Channel)
	}
	return nil
}

func (f FrequencyCap) enabled() bool { return f.Messages > 0 && (f.Within > 0 || f.Per != "") }

// since returns the start of the cap's period ending at now, in loc.
func (f FrequencyCap) since(now time.Time, loc *time.Location) time.Time {
	if f.Within > 0 {
		return now.Add(-f.Within)
	}
	local := now.In(loc)
	y, m, d := local.Date()
	if f.Per == CalendarWeek {
		d -= (int(local.Weekday()) + 6) % 7 // back to Monday
	}
	return wall.Local(y, m, d, 0, 0, loc)
}

// String describes the cap, such as "3 per calendar day on sms".
func (f FrequencyCap) String() string {
	s := fmt.Sprintf("%d within %s", f.Messages, f.Within)
	if f.Per != "" {
		s = fmt.Sprintf("%d per calendar %s", f.Messages, f.Per)
	}
	if f.Channel != "" {
		s += " on " + f.Channel
	}
	return s
}

// QuietHours are the hours of each day, in the person's time zone (the
// flow's when the person has none), when Send Message sends nothing: a
// message due then waits until they end. When End is before Start they
// span midnight (21:00 to 08:00). The zero value has none.
type QuietHours struct {
	Start TimeOfDay
	End   TimeOfDay
}

// Validate checks that both times are set and differ, or neither is set.
func (q QuietHours) Validate() error {
	if q.Start.IsZero() && q.End.IsZero() {
		return nil
	}
	w := TimeWindow{Start: q.Start, End: q.End}
	if err := w.validate("quietHours"); err != nil {
		return err
	}
	return nil
}

func (q QuietHours) enabled() bool { return !q.Start.IsZero() && !q.End.IsZero() }

// SendMessage sends a message to the person on a channel through the
// host's Sender, then goes on by "sent".
//
// The recipient comes from the person's contact information: the first
// phone number for SMS, MMS, WhatsApp, Viber, Voice and RCS, the first
// email address for email, the first push registration (of App, when set)
// for push. To, a text with placeholders, names the recipient instead, and
// is required for any other channel. Subject, Body, From and Data hold
// placeholders.
//
// A person on the Do Not Contact list (any address of theirs on it) is not
// sent to on any channel, and a person without an address for the channel
// (no phone number for SMS, no email address, no push registration of the
// app, or a To that renders empty) is not sent to: the step goes on by
// "blocked", its reason in the journal ("not sent on email: the person has
// no email address"), and the participant goes on instead of failing. The
// engine's frequency caps send a person over any of them by "capped";
// during the engine's QuietHours the participant waits until they end,
// then the checks run again. IgnoreFrequencyCap and IgnoreQuietHours
// exempt transactional messages.
//
// With Speed, the element's sends across all its participants are spaced
// out to at most Count per minute, hour or day, as Call API's calls are
// (see NewPacer): a participant over the rate waits for its slot, and the
// checks above run again when it comes.
//
// A send is at-least-once: Message.IdempotencyKey is stable across retries
// of the step, for the Sender to pass on. A successful send records a
// store.MessageSent channel event (properties "messageId", "channel",
// "flowId", "participantId", "elementId"), sets the person's
// LastContacted for the channel, and stores the message id in
// MessageIDVariable when set. A Sender error fails the step: the element's
// "error" branch when it has one, the participant's failure otherwise.
type SendMessage struct {
	Channel            string            `json:"channel"`
	To                 string            `json:"to,omitempty"`
	App                string            `json:"app,omitempty"`
	From               string            `json:"from,omitempty"`
	Subject            string            `json:"subject,omitempty"`
	Body               string            `json:"body"`
	Data               map[string]string `json:"data,omitempty"`
	MessageIDVariable  string            `json:"messageIdVariable,omitempty"`
	IgnoreFrequencyCap bool              `json:"ignoreFrequencyCap,omitempty"`
	IgnoreQuietHours   bool              `json:"ignoreQuietHours,omitempty"`
	Speed              *Speed            `json:"speed,omitempty"`

	to, from, subject, body *element.Template
	dataKeys                []string
	data                    []*element.Template
	opts                    SendMessageOptions // the engine's, see Options.Bind
	pacer                   Pacer              // the engine's, see Options.Bind
}

// Kind implements element.Element.
func (*SendMessage) Kind() string { return "sendMessage" }

// External implements element.External: it sends through the Sender.
func (*SendMessage) External() bool { return true }

// Sends implements element.Sends.
func (*SendMessage) Sends() bool { return true }

// HeldOutBranch implements element.ReachesPerson: a held-out participant
// goes on by "sent" without a message.
func (*SendMessage) HeldOutBranch() (string, bool) { return BranchSent, true }

// bind implements binder.
func (s *SendMessage) bind(o *Options) { s.opts, s.pacer = o.SendMessage, o.Pacer }

// Branches implements element.Element.
func (*SendMessage) Branches() []string { return []string{BranchSent, BranchBlocked, BranchCapped} }

// Validate implements element.Element.
func (s *SendMessage) Validate(c *element.Compiler) error {
	ch := strings.TrimSpace(s.Channel)
	if ch == "" {
		return element.Errorf("channel", "channel is missing")
	}
	if ch != s.Channel || strings.ToLower(ch) != ch {
		return element.Errorf("channel", "channel %q must be a lower-case name without spaces", s.Channel)
	}
	known := phoneChannels[ch] || ch == ChannelEmail || ch == ChannelPush
	if s.To == "" && !known {
		return element.Errorf("to", "channel %q has no recipient in the person's contact information: set to", ch)
	}
	if s.App != "" && ch != ChannelPush {
		return element.Errorf("app", "app selects a push registration; channel is %q", ch)
	}
	if strings.TrimSpace(s.Body) == "" {
		return element.Errorf("body", "message body is empty")
	}
	var err error
	for _, f := range []struct {
		name string
		text string
		dst  **element.Template
	}{{"to", s.To, &s.to}, {"from", s.From, &s.from}, {"subject", s.Subject, &s.subject}, {"body", s.Body, &s.body}} {
		*f.dst = nil
		if f.text == "" {
			continue
		}
		if *f.dst, err = c.Template(f.name, f.text); err != nil {
			return err
		}
	}
	s.dataKeys, s.data = nil, nil
	for k := range s.Data {
		s.dataKeys = append(s.dataKeys, k)
	}
	sort.Strings(s.dataKeys)
	for _, k := range s.dataKeys {
		t, err := c.Template("data."+k, s.Data[k])
		if err != nil {
			return err
		}
		s.data = append(s.data, t)
	}
	if v := s.MessageIDVariable; v != "" {
		if err := textVar(c, "messageIdVariable", v, "a message id"); err != nil {
			return err
		}
	}
	if s.Speed != nil {
		if err := s.Speed.validate("speed"); err != nil {
			return err
		}
	}
	return nil
}

// Run implements element.Element.
func (s *SendMessage) Run(ctx context.Context, r *element.Run) (element.Outcome, error) {
	return s.attempt(ctx, r)
}

// Resume implements element.Resumer: quiet hours ended, or the
// participant's sending slot came.
func (s *SendMessage) Resume(ctx context.Context, r *element.Run, w element.Wake) (element.Outcome, error) {
	if !w.Timer {
		return element.Hold(*r.Wait, ""), nil
	}
	return s.attempt(ctx, r)
}

func (s *SendMessage) attempt(ctx context.Context, r *element.Run) (element.Outcome, error) {
	if len(r.Person.DoNotContact) > 0 {
		return element.Next(BranchBlocked, fmt.Sprintf("not sent on %s: the person is on the Do Not Contact list", s.Channel)), nil
	}
	to, missing, err := s.recipient(r)
	if err != nil {
		return element.Outcome{}, err
	}
	if missing != "" {
		return element.Next(BranchBlocked, fmt.Sprintf("not sent on %s: %s", s.Channel, missing)), nil
	}
	if q := s.opts.QuietHours; q.enabled() && !s.IgnoreQuietHours {
		loc := r.TimeZone(true)
		w := TimeWindow{Start: q.Start, End: q.End}
		if quiet, ends := w.at(r.Now, loc); quiet {
			return element.Hold(element.Wait{Until: ends}, fmt.Sprintf("quiet hours %s-%s (%s): waits until %s", q.Start, q.End, loc, ends.In(loc).Format("Mon 2006-01-02 15:04 MST"))), nil
		}
	}
	if !s.IgnoreFrequencyCap {
		capped, err := s.capped(r)
		if err != nil {
			return element.Outcome{}, err
		}
		if capped != "" {
			return element.Next(BranchCapped, capped), nil
		}
	}
	hold, err := paceStep(ctx, r, s.pacer, s.Speed, nil, time.Time{}, slotOf(r.Wait), "send")
	if err != nil || hold != nil {
		return deref(hold), err
	}
	if r.Ports.Sender == nil {
		return element.Outcome{}, errors.New("the engine has no Sender")
	}
	m, err := s.message(r, to)
	if err != nil {
		return element.Outcome{}, err
	}
	r.Calling()
	id, err := r.Ports.Sender.Send(ctx, m)
	if err != nil {
		return element.Outcome{}, fmt.Errorf("send on %s: %w", s.Channel, err)
	}
	r.Emit(store.Channel, store.MessageSent, map[string]any{"messageId": id, "channel": s.Channel})
	p := r.Edit()
	if p.LastContacted == nil {
		p.LastContacted = map[string]time.Time{}
	}
	p.LastContacted[s.Channel] = r.Now
	if s.MessageIDVariable != "" {
		r.Vars[s.MessageIDVariable] = id
	}
	return element.Next(BranchSent, fmt.Sprintf("sent on %s, message id %q", s.Channel, id)), nil
}

// capped returns why a frequency cap of the engine forbids the send, ""
// when none does.
func (s *SendMessage) capped(r *element.Run) (string, error) {
	var caps []FrequencyCap
	for _, f := range append([]FrequencyCap{s.opts.FrequencyCap}, s.opts.FrequencyCaps...) {
		if f.enabled() && (f.Channel == "" || f.Channel == s.Channel) {
			caps = append(caps, f)
		}
	}
	if len(caps) == 0 {
		return "", nil
	}
	if r.History == nil {
		return "", errors.New("the engine lends no event history, which the frequency cap needs")
	}
	loc := r.TimeZone(true)
	earliest := r.Now
	for _, f := range caps {
		if t := f.since(r.Now, loc); t.Before(earliest) {
			earliest = t
		}
	}
	evs, err := r.History(&store.EventQuery{Name: store.MessageSent, Category: store.Channel, Since: earliest})
	if err != nil {
		return "", err
	}
	for _, f := range caps {
		since, n := f.since(r.Now, loc), 0
		for _, ev := range evs {
			if ev.Time.Before(since) || ev.Time.After(r.Now) {
				continue
			}
			if ch, _ := ev.Properties["channel"].(string); f.Channel == "" || ch == f.Channel {
				n++
			}
		}
		if n >= f.Messages {
			return fmt.Sprintf("not sent on %s: %d messages since %s reached the frequency cap of %s", s.Channel, n, since.In(loc).Format("Mon 2006-01-02 15:04 MST"), f), nil
		}
	}
	return "", nil
}

// message builds the message for the person.
func (s *SendMessage) message(r *element.Run, to string) (*element.Message, error) {
	var err error
	m := &element.Message{
		Channel: s.Channel, To: to, PersonID: r.Person.ID, FlowID: r.FlowID, ElementID: r.ElementID,
		IdempotencyKey: r.IdempotencyKey(),
	}
	for _, f := range []struct {
		name string
		t    *element.Template
		dst  *string
	}{{"from", s.from, &m.From}, {"subject", s.subject, &m.Subject}, {"body", s.body, &m.Body}} {
		if f.t == nil {
			continue
		}
		if *f.dst, err = f.t.Render(r, element.Plain); err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
	}
	if len(s.data) > 0 {
		m.Data = make(map[string]any, len(s.data))
		for i, k := range s.dataKeys {
			v, err := s.data[i].Render(r, element.Plain)
			if err != nil {
				return nil, fmt.Errorf("data.%s: %w", k, err)
			}
			m.Data[k] = v
		}
	}
	return m, nil
}

// recipient returns the person's address for the message, or, when
// they have none, why.
func (s *SendMessage) recipient(r *element.Run) (to, missing string, err error) {
	p := r.Person
	switch {
	case s.to != nil:
		to, err := s.to.Render(r, element.Plain)
		if err != nil {
			return "", "", fmt.Errorf("to: %w", err)
		}
		if to = strings.TrimSpace(to); to == "" {
			return "", fmt.Sprintf("to %q gives no recipient for this person", s.To), nil
		}
		return to, "", nil
	case phoneChannels[s.Channel]:
		if len(p.Phones) == 0 {
			return "", "the person has no phone number", nil
		}
		return p.Phones[0], "", nil
	case s.Channel == ChannelEmail:
		if len(p.Emails) == 0 {
			return "", "the person has no email address", nil
		}
		return p.Emails[0], "", nil
	default: // push
		for _, reg := range p.Push {
			if s.App == "" || reg.App == s.App {
				return reg.Token, "", nil
			}
		}
		if s.App != "" {
			return "", fmt.Sprintf("the person has no push registration for app %q", s.App), nil
		}
		return "", "the person has no push registration", nil
	}
}

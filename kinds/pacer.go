package kinds

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/internal/wall"
	"golang.org/x/time/rate"
)

// Pacer spaces out the actions of an element across all its participants,
// for elements with a sending speed (Call API, Send Message, Notify). The
// engine lends one to every step in Options.Pacer: by default one that keeps the budgets in
// the Store when it can (store.PaceKeeper), so that every process sharing
// the Store draws on one budget, else NewPacer's in-process one.
// Implementations are safe for concurrent use. An error (a Pacer that
// keeps its budgets in a database may fail to reach it) fails the step.
type Pacer interface {
	// Reserve books the earliest slot at or after now for key, under a
	// limit of n actions per period, and returns it. A slot that would
	// not come before notAfter (when notAfter is non-zero) is not booked:
	// Reserve then returns false and the budget is left as it was.
	Reserve(ctx context.Context, key string, n int, per time.Duration, now, notAfter time.Time) (slot time.Time, ok bool, err error)
	// Claim records an action under key at the time it is made, and
	// refuses it when the last action claimed under key was less than
	// per/n before: the caller then waits until retry. Slots booked by
	// Reserve space participants out; Claim keeps the actions themselves
	// that far apart when participants reach their slots late.
	Claim(ctx context.Context, key string, n int, per time.Duration, at time.Time) (ok bool, retry time.Time, err error)
}

// NewPacer returns a Pacer that keeps one token bucket per key in memory
// (golang.org/x/time/rate, run on the times it is given, so it follows the
// engine's clock, fake or real).
//
// Slots are spaced evenly, per/n apart, with a burst of one: no window of
// length per holds more than n slots, and a burst of entries spreads out
// instead of reaching the endpoint at once. Slots are rounded up to the
// millisecond so that floating-point rounding in the bucket never puts two
// slots closer than per/n.
//
// The budget lives in this process: several engine processes each given
// a NewPacer keep their own, so together they may go up to n per
// period each; and a restarted process starts with a fresh budget while
// slots booked before the restart are still held by waiting participants.
// The engine's default, on a Store that keeps budgets
// (store.PaceKeeper), has neither limit.
func NewPacer() Pacer { return &ratePacer{m: map[string]*pace{}} }

// ratePacer is the in-process Pacer NewPacer returns.
type ratePacer struct {
	mu sync.Mutex
	m  map[string]*pace
}

var _ Pacer = (*ratePacer)(nil)

type pace struct {
	lim     *rate.Limiter
	limit   rate.Limit
	last    time.Time // latest reservation time, so that reservations never go back in time
	claimed time.Time // latest action claimed
}

// Reserve implements Pacer.
func (p *ratePacer) Reserve(_ context.Context, key string, n int, per time.Duration, now, notAfter time.Time) (time.Time, bool, error) {
	if n <= 0 || per <= 0 {
		return time.Time{}, false, fmt.Errorf("pacer: %d per %v is not a speed", n, per)
	}
	limit := rate.Limit(float64(n) / per.Seconds())
	p.mu.Lock()
	defer p.mu.Unlock()
	pc := p.m[key]
	switch {
	case pc == nil:
		pc = &pace{lim: rate.NewLimiter(limit, 1), limit: limit}
		p.m[key] = pc
	case pc.limit != limit:
		// A new flow version changed the speed: keep the bucket, change
		// its rate from now on.
		pc.lim.SetLimitAt(now, limit)
		pc.limit = limit
	}
	// Steps of different processes, or one that started a moment earlier,
	// may come with a slightly earlier now; the bucket treats a time before
	// its last as no time passing but computes the slot from it, which
	// would bring two slots closer than per/n.
	if now.Before(pc.last) {
		now = pc.last
	}
	res := pc.lim.ReserveN(now, 1)
	if !res.OK() {
		return time.Time{}, false, nil
	}
	slot := ceilMillisecond(now.Add(res.DelayFrom(now)))
	if !notAfter.IsZero() && !slot.Before(notAfter) {
		// We hold the lock and this is the latest reservation, so
		// canceling gives its token back in full.
		res.CancelAt(now)
		return time.Time{}, false, nil
	}
	pc.last = now
	return slot, true, nil
}

// Claim implements Pacer.
func (p *ratePacer) Claim(_ context.Context, key string, n int, per time.Duration, at time.Time) (bool, time.Time, error) {
	if n <= 0 || per <= 0 {
		return false, time.Time{}, fmt.Errorf("pacer: %d per %v is not a speed", n, per)
	}
	gap := ceilDuration(per / time.Duration(n))
	p.mu.Lock()
	defer p.mu.Unlock()
	pc := p.m[key]
	if pc == nil {
		pc = &pace{lim: rate.NewLimiter(rate.Limit(float64(n)/per.Seconds()), 1), limit: rate.Limit(float64(n) / per.Seconds())}
		p.m[key] = pc
	}
	if !pc.claimed.IsZero() {
		if next := pc.claimed.Add(gap); at.Before(next) {
			return false, next, nil
		}
	}
	pc.claimed = at
	return true, time.Time{}, nil
}

// ceilDuration rounds d up to the millisecond, as slots are.
func ceilDuration(d time.Duration) time.Duration {
	if r := d.Truncate(time.Millisecond); r < d {
		return r + time.Millisecond
	}
	return d
}

func ceilMillisecond(t time.Time) time.Time {
	if r := t.Round(time.Millisecond); !r.Before(t) {
		return r
	}
	return t.Round(time.Millisecond).Add(time.Millisecond)
}

// Speed is a sending speed: at most Count actions per minute, hour or day,
// across all participants of the element.
type Speed struct {
	Count int    `json:"count"`
	Per   string `json:"per"` // "minute", "hour" or "day"
}

// The units of a Speed.
const (
	PerMinute = "minute"
	PerHour   = "hour"
	PerDay    = "day"
)

// validate checks the speed; field names it in errors.
func (s *Speed) validate(field string) error {
	d := s.period()
	if d == 0 {
		return element.Errorf(field+".per", "%q is not one of minute, hour, day", s.Per)
	}
	if s.Count <= 0 {
		return element.Errorf(field+".count", "count must be positive, got %d", s.Count)
	}
	if d/time.Duration(s.Count) < time.Millisecond {
		return element.Errorf(field+".count", "%d per %s is more than one a millisecond", s.Count, s.Per)
	}
	return nil
}

func (s *Speed) period() time.Duration {
	switch s.Per {
	case PerMinute:
		return time.Minute
	case PerHour:
		return time.Hour
	case PerDay:
		return 24 * time.Hour
	}
	return 0
}

// String returns the speed in words, such as "10 per minute".
func (s *Speed) String() string { return fmt.Sprintf("%d per %s", s.Count, s.Per) }

// TimeWindow is a daily time window: from Start to End in a time zone.
// When End is before Start the window spans midnight (22:00 to 06:00).
type TimeWindow struct {
	Start TimeOfDay `json:"start"`
	End   TimeOfDay `json:"end"`
	// TimeZone is an IANA name. Defaults to the flow's time zone.
	TimeZone string `json:"timeZone,omitempty"`

	loc *time.Location
}

// validate checks the window; field names it in errors.
func (w *TimeWindow) validate(field string) error {
	for name, c := range map[string]TimeOfDay{"start": w.Start, "end": w.End} {
		if c.IsZero() {
			return element.Errorf(field+"."+name, "time of day is missing")
		}
		if c.Hour < 0 || c.Hour > 23 || c.Minute < 0 || c.Minute > 59 {
			return element.Errorf(field+"."+name, "time of day %s is not between 00:00 and 23:59", c)
		}
	}
	if w.Start == w.End {
		return element.Errorf(field+".end", "window %s to %s is empty", w.Start, w.End)
	}
	if w.TimeZone != "" {
		loc, err := wall.LoadLocation(w.TimeZone)
		if err != nil {
			return element.Errorf(field+".timeZone", "%q is not an IANA time zone", w.TimeZone)
		}
		w.loc = loc
	}
	return nil
}

// location returns the window's time zone, or def when it has none.
func (w *TimeWindow) location(def *time.Location) *time.Location {
	if w.loc != nil {
		return w.loc
	}
	if def == nil {
		return time.UTC
	}
	return def
}

// at reports whether the window is open at now (in loc) and, when it is,
// when it closes; when it is not, when it next opens.
func (w *TimeWindow) at(now time.Time, loc *time.Location) (open bool, next time.Time) {
	start := w.Start.on(now, loc)
	end := w.End.on(now, loc)
	if w.Start.Hour*60+w.Start.Minute < w.End.Hour*60+w.End.Minute {
		if !now.Before(start) && now.Before(end) {
			return true, end
		}
		return false, w.Start.nextAt(now, loc)
	}
	// Across midnight: open from start to midnight and from midnight to end.
	switch {
	case now.Before(end):
		return true, end
	case !now.Before(start):
		return true, w.End.nextAt(now, loc)
	}
	return false, start
}

// String returns the window in words.
func (w *TimeWindow) String() string {
	s := w.Start.String() + "-" + w.End.String()
	if w.TimeZone != "" {
		s += " " + w.TimeZone
	}
	return s
}

// slotOf reads the slot a participant waits for from the state of its
// wait, the zero time when it waits for something else.
func slotOf(w *element.Wait) time.Time {
	if w == nil {
		return time.Time{}
	}
	s, _ := w.State["slot"].(string)
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// paceStep is the sending speed of every element that has one (Call API,
// Send Message, Notify): it books the participant's slot with the
// engine's Pacer and holds the participant until it comes, then claims
// the action. It returns nil when the action may be made now, else the
// wait. window, when not nil, is the element's delivery window, open at
// r.Now until closes: a slot that would not come before it closes is not
// booked, and the participant waits for the window's next opening. slot
// is the one the participant waited for, zero on arrival.
func paceStep(ctx context.Context, r *element.Run, p Pacer, sp *Speed, window *TimeWindow, closes, slot time.Time, action string) (*element.Outcome, error) {
	if sp == nil {
		return nil, nil
	}
	if p == nil {
		return nil, errors.New("the engine lends no Pacer, which a sending speed needs")
	}
	key := r.FlowID + "\x00" + r.ElementID
	// A slot the participant reached late (a tick that came after it by
	// more than one slot's spacing) is spent: acting on it would bunch
	// the late participants' actions together, so it books a new one
	// from now.
	if slot.IsZero() || r.Now.Before(slot) || r.Now.Sub(slot) > sp.period()/time.Duration(sp.Count) {
		s, ok, err := p.Reserve(ctx, key, sp.Count, sp.period(), r.Now, closes)
		if err != nil {
			return nil, fmt.Errorf("sending speed %s: %w", sp, err)
		}
		if !ok && window == nil {
			return nil, errors.New("the Pacer booked no slot")
		}
		if !ok {
			loc := window.location(r.Location)
			_, opens := window.at(closes, loc)
			out := element.Hold(element.Wait{Until: opens}, fmt.Sprintf("sending speed %s: no slot left before the delivery window closes; waits until %s", sp, opens.In(loc).Format("Mon 2006-01-02 15:04 MST")))
			return &out, nil
		}
		if s.After(r.Now) {
			out := element.Hold(element.Wait{Until: s, State: map[string]any{"slot": s.UTC().Format(time.RFC3339Nano)}},
				fmt.Sprintf("sending speed %s: waits for its slot at %s", sp, s.UTC().Format(time.RFC3339Nano)))
			return &out, nil
		}
	}
	// The slot has come: the action itself must also keep its distance
	// from the last one made, which a late step may be close to.
	ok, retry, err := p.Claim(ctx, key, sp.Count, sp.period(), r.Now)
	if err != nil {
		return nil, fmt.Errorf("sending speed %s: %w", sp, err)
	}
	if !ok {
		out := element.Hold(element.Wait{Until: retry, State: map[string]any{"slot": retry.UTC().Format(time.RFC3339Nano)}},
			fmt.Sprintf("sending speed %s: the last %s was made less than a slot ago; waits until %s", sp, action, retry.UTC().Format(time.RFC3339Nano)))
		return &out, nil
	}
	return nil, nil
}

// deref returns the outcome o points to, the zero Outcome for nil.
func deref(o *element.Outcome) element.Outcome {
	if o == nil {
		return element.Outcome{}
	}
	return *o
}

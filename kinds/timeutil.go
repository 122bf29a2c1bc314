package kinds

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/flowkit/flowkit/internal/wall"
)

// TimeOfDay is a time of day, written "HH:MM" in JSON.
type TimeOfDay struct {
	Hour, Minute int
	set          bool
}

// At returns a TimeOfDay reading hour:minute.
func At(hour, minute int) TimeOfDay { return TimeOfDay{Hour: hour, Minute: minute, set: true} }

// IsZero reports whether the time of day is unset.
func (c TimeOfDay) IsZero() bool { return !c.set }

// String returns the time of day as "HH:MM".
func (c TimeOfDay) String() string { return fmt.Sprintf("%02d:%02d", c.Hour, c.Minute) }

// MarshalJSON implements json.Marshaler.
func (c TimeOfDay) MarshalJSON() ([]byte, error) { return json.Marshal(c.String()) }

// UnmarshalJSON implements json.Unmarshaler.
func (c *TimeOfDay) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("time of day must be a string \"HH:MM\"")
	}
	t, err := time.Parse("15:04", s)
	if err != nil {
		return fmt.Errorf("time of day %q is not HH:MM", s)
	}
	*c = At(t.Hour(), t.Minute())
	return nil
}

// on returns the instant of this time of day on t's calendar day in loc. A
// time in a daylight-saving gap moves forward by the gap (02:30 on a
// spring-forward day reads 03:30); a time that occurs twice takes the first.
func (c TimeOfDay) on(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return wall.Local(y, m, d, c.Hour, c.Minute, loc)
}

// nextAt returns the first instant at or after t whose wall clock in loc
// reads c.
func (c TimeOfDay) nextAt(t time.Time, loc *time.Location) time.Time {
	at := c.on(t, loc)
	if at.Before(t) {
		y, m, d := t.In(loc).Date()
		at = wall.Local(y, m, d+1, c.Hour, c.Minute, loc)
	}
	return at
}

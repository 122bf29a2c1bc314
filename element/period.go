package element

import (
	"slices"

	"github.com/flowkit/flowkit/segment"
)

// periodUnits are the units of the periods elements wait.
var periodUnits = []segment.Unit{segment.Seconds, segment.Minutes, segment.Hours, segment.Days, segment.Weeks}

// CheckPeriod checks a period that an element or a flow setting waits,
// for field: a unit of seconds, minutes, hours, days or weeks and a
// positive amount of at most about 31 years. Errors are *FieldErrors
// naming field.unit or field.amount.
func CheckPeriod(p segment.Period, field string) error {
	if !slices.Contains(periodUnits, p.Unit) {
		return Errorf(field+".unit", "unit %q is not one of seconds, minutes, hours, days, weeks", p.Unit)
	}
	if p.Amount <= 0 {
		return Errorf(field+".amount", "amount must be positive, got %d", p.Amount)
	}
	if p.Amount > 1_000_000_000/secondsIn(p.Unit) {
		return Errorf(field+".amount", "amount %d %s is too long", p.Amount, p.Unit)
	}
	return nil
}

func secondsIn(u segment.Unit) int {
	switch u {
	case segment.Minutes:
		return 60
	case segment.Hours:
		return 3600
	case segment.Days:
		return 86400
	case segment.Weeks:
		return 7 * 86400
	}
	return 1
}

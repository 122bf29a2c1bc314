package store

// Type is the type of a person attribute, a flow variable or an event
// property.
type Type string

// The value types. Values are held in Go as: Text string, Number float64,
// Bool bool, Date time.Time at midnight UTC (only the calendar day counts),
// DateTime time.Time, List []any, Object map[string]any.
const (
	Text     Type = "text"
	Number   Type = "number"
	Bool     Type = "bool"
	Date     Type = "date"
	DateTime Type = "datetime"
	List     Type = "list"
	Object   Type = "object"
)

// Valid reports whether t is one of the defined types.
func (t Type) Valid() bool {
	switch t {
	case Text, Number, Bool, Date, DateTime, List, Object:
		return true
	}
	return false
}

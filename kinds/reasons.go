package kinds

import (
	"strings"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/segment"
)

// eventFields are the names an expression reads from an event itself;
// any other name under entry is one of the entry event's properties.
var eventFields = map[string]bool{"id": true, "name": true, "category": true, "time": true, "properties": true}

// shownValue compiles, for journal reasons, the placeholder that a
// condition's value is ("{{cartId}}", "{{entry.cartId}}"), so that a
// reason shows the participant's value. It returns nil for a constant, or
// for a placeholder that does not compile as an expression (the reason
// then shows it as written).
func shownValue(c *element.Compiler, value any) *element.Program {
	name, ok := placeholder(value)
	if !ok {
		return nil
	}
	if rest, ok := strings.CutPrefix(name, "entry."); ok {
		if field, _, _ := strings.Cut(rest, "."); !eventFields[field] {
			name = "entry.properties." + rest
		}
	}
	p, err := c.Expr("", name)
	if err != nil {
		return nil
	}
	return p
}

// describeShown writes a condition in words as describeCondition does,
// with the participant's value of a placeholder when shown compiled it:
// `cartId is "c-200"` rather than `cartId is {{cartId}}`.
func describeShown(name string, op segment.Op, value any, shown *element.Program, r *element.Run) string {
	if shown != nil && r != nil {
		if v, err := shown.Eval(r); err == nil {
			return name + " " + string(op) + " " + describeValue(v)
		}
	}
	return describeCondition(name, op, value)
}

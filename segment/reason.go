package segment

import (
	"strconv"
	"strings"
)

// explainNode evaluates n like eval and says why: a true group by the
// conditions that made it true, a false one by those that made it false.
func (c *evalCtx) explainNode(n *node) (bool, string, error) {
	switch n.kind {
	case nAll, nAny:
		if len(n.kids) == 0 {
			return n.kind == nAll, "no conditions", nil
		}
		// all: true needs every reason, false the first failing one;
		// any: the reverse.
		decisive := n.kind == nAny
		var parts []string
		for _, k := range n.kids {
			ok, r, err := c.explainNode(k)
			if err != nil {
				return false, "", err
			}
			if ok == decisive {
				return ok, r, nil
			}
			parts = append(parts, r)
		}
		return !decisive, strings.Join(parts, " and "), nil
	case nNot:
		ok, r, err := c.explainNode(n.kids[0])
		return !ok && err == nil, r, err
	}
	c.got, c.arg, c.argOK, c.count, c.capped, c.addr, c.addrs = val{}, val{}, false, 0, false, "", 0
	ok, err := c.leaf(n)
	if err != nil {
		return false, "", &ConditionError{Path: n.path, Err: err}
	}
	r := c.describe(n)
	if !ok {
		r += " is false"
	}
	return ok, r, nil
}

// describe renders the last evaluated leaf: what it read, the operator and
// the operand.
func (c *evalCtx) describe(n *node) string {
	var b strings.Builder
	b.WriteString(n.label)
	switch n.kind {
	case nTag:
		b.WriteString(" has")
		if n.neg {
			b.WriteString("Not")
		}
		return b.String()
	case nEvent:
		ec := n.ev
		if ec.where != nil {
			for i, pc := range ec.where.conds {
				if i == 0 {
					b.WriteString(" where ")
				} else {
					b.WriteString(" and ")
				}
				b.WriteString(pc.desc)
			}
		}
		if (ec.op == AtLeast || ec.op == AtMost) && c.count >= 0 {
			b.WriteString(" count ")
			b.WriteString(strconv.Itoa(c.count))
			if c.capped {
				b.WriteByte('+') // counting stopped there
			}
		}
		b.WriteByte(' ')
		b.WriteString(string(ec.op))
		if ec.op == AtLeast || ec.op == AtMost {
			b.WriteByte(' ')
			b.WriteString(strconv.Itoa(ec.count))
		}
		if ec.within != nil {
			b.WriteString(" within ")
			b.WriteString(ec.within.String())
		}
		if ec.sinceEntry {
			b.WriteString(" since entry")
		}
		return b.String()
	case nContact:
		b.WriteByte(' ')
		switch {
		case c.addr != "":
			b.WriteString(strconv.Quote(c.addr))
		case c.addrs == 0:
			b.WriteString("(empty)")
		case c.addrs == 1:
			b.WriteString("(1 address)")
		default:
			b.WriteString("(" + strconv.Itoa(c.addrs) + " addresses)")
		}
	default:
		b.WriteByte(' ')
		b.WriteString(c.got.format(c.zone(n.test.personTZ)))
	}
	t := &n.test
	b.WriteByte(' ')
	b.WriteString(string(t.op))
	switch {
	case relative(t.op):
		b.WriteByte(' ')
		b.WriteString(t.period.String())
	case t.op == IsEmpty || t.op == IsNotEmpty || t.op == WasToday:
	case t.arg.ph != nil:
		b.WriteByte(' ')
		b.WriteString(t.arg.ph.src)
		if c.argOK {
			b.WriteString(" (" + c.arg.format(c.zone(t.personTZ)) + ")")
		} else {
			b.WriteString(" (unresolved)")
		}
	default:
		b.WriteByte(' ')
		b.WriteString(t.arg.v.format(c.zone(t.personTZ)))
	}
	return b.String()
}

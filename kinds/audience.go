package kinds

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"strings"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/segment"
)

// SegmentAudience sends each participant down the branch of the first
// segment it matches, in order, or by "other" when it matches none. A
// segment combines attribute, tag, contact, channel and event conditions
// (see package segment); each segment's name is its branch.
type SegmentAudience struct {
	Segments []NamedSegment `json:"segments"`
}

// NamedSegment is one segment of a SegmentAudience.
type NamedSegment struct {
	Name      string            `json:"name"`
	Condition segment.Condition `json:"condition"`

	compiled *segment.Segment
}

// Kind implements element.Element.
func (*SegmentAudience) Kind() string { return "segmentAudience" }

// Branches implements element.Element: the segments' names, then "other".
func (s *SegmentAudience) Branches() []string {
	out := make([]string, 0, len(s.Segments)+1)
	for _, seg := range s.Segments {
		out = append(out, seg.Name)
	}
	return append(out, BranchOther)
}

// Validate implements element.Element.
func (s *SegmentAudience) Validate(c *element.Compiler) error {
	if len(s.Segments) == 0 {
		return element.Errorf("segments", "no segments")
	}
	names := map[string]bool{}
	for i := range s.Segments {
		seg := &s.Segments[i]
		field := fmt.Sprintf("segments[%d]", i)
		if err := checkBranchName(seg.Name, names); err != nil {
			return &element.FieldError{Field: field + ".name", Err: err}
		}
		compiled, err := segment.Compile(seg.Condition, c.SegmentOptions())
		if err != nil {
			return conditionErr(field+".condition", err)
		}
		seg.compiled = compiled
	}
	return nil
}

// Run implements element.Element.
func (s *SegmentAudience) Run(_ context.Context, r *element.Run) (element.Outcome, error) {
	sub := r.Subject()
	var missed []string
	for _, seg := range s.Segments {
		ok, why, err := seg.compiled.MatchReason(sub)
		if err != nil {
			return element.Outcome{}, fmt.Errorf("segment %q: %w", seg.Name, err)
		}
		if ok {
			return element.Next(seg.Name, fmt.Sprintf("segment %q matched: %s", seg.Name, why)), nil
		}
		missed = append(missed, fmt.Sprintf("%q: %s", seg.Name, why))
	}
	return element.Next(BranchOther, "no segment matched: "+strings.Join(missed, "; ")), nil
}

// SplitAudience divides participants among named variants by percentage,
// for experiments with content or channels; each variant's name is its
// branch. The assignment is a hash of the participant and element ids: the
// same participant always lands in the same variant, in any process, and
// large audiences land close to the percentages. When the engine's
// element.Ports.Variants chooses a variant for the person, the participant
// goes there instead (an experiment assigned elsewhere, or a test); a
// variant name the split lacks fails the step.
type SplitAudience struct {
	Variants []Variant `json:"variants"`
}

// Variant is one share of a SplitAudience.
type Variant struct {
	Name    string  `json:"name"`
	Percent float64 `json:"percent"`
}

// Kind implements element.Element.
func (*SplitAudience) Kind() string { return "splitAudience" }

// Branches implements element.Element: the variants' names.
func (s *SplitAudience) Branches() []string {
	out := make([]string, len(s.Variants))
	for i, v := range s.Variants {
		out[i] = v.Name
	}
	return out
}

// Validate implements element.Element.
func (s *SplitAudience) Validate(*element.Compiler) error {
	if len(s.Variants) < 2 {
		return element.Errorf("variants", "a split needs at least two variants, got %d", len(s.Variants))
	}
	names := map[string]bool{}
	total := 0.0
	for i, v := range s.Variants {
		field := fmt.Sprintf("variants[%d]", i)
		if err := checkBranchName(v.Name, names); err != nil {
			return &element.FieldError{Field: field + ".name", Err: err}
		}
		if !(v.Percent > 0 && v.Percent <= 100) {
			return element.Errorf(field+".percent", "percent must be above 0 and at most 100, got %v", v.Percent)
		}
		total += v.Percent
	}
	if math.Abs(total-100) > 1e-9 {
		return element.Errorf("variants", "percentages sum to %v, not 100", total)
	}
	return nil
}

// Run implements element.Element.
func (s *SplitAudience) Run(_ context.Context, r *element.Run) (element.Outcome, error) {
	if r.Ports.Variants != nil {
		if name, ok := r.Ports.Variants(r.FlowID, r.ElementID, r.Person); ok {
			for _, v := range s.Variants {
				if v.Name == name {
					return element.Next(v.Name, fmt.Sprintf("split: variant %q, chosen by the host", v.Name)), nil
				}
			}
			return element.Outcome{}, fmt.Errorf("the host chose variant %q, which the split does not have (it has %s)", name, strings.Join(s.Branches(), ", "))
		}
	}
	h := fnv.New64a()
	h.Write(r.Participant[:])
	h.Write([]byte(r.ElementID))
	// The top 53 bits give a uniform point in [0, 100).
	point := float64(h.Sum64()>>11) / float64(1<<53) * 100
	acc := 0.0
	for i, v := range s.Variants {
		acc += v.Percent
		if point < acc || i == len(s.Variants)-1 {
			return element.Next(v.Name, fmt.Sprintf("split: variant %q (%v%%)", v.Name, v.Percent)), nil
		}
	}
	return element.Outcome{}, errors.New("split has no variants")
}

// checkBranchName refuses empty, reserved and repeated branch names.
func checkBranchName(name string, seen map[string]bool) error {
	switch {
	case strings.TrimSpace(name) == "":
		return errors.New("name is empty")
	case name == BranchOther || name == element.BranchError:
		return fmt.Errorf("%q is a reserved branch name", name)
	case seen[name]:
		return fmt.Errorf("two branches are named %q", name)
	}
	seen[name] = true
	return nil
}

// conditionErr turns a segment compile error into a FieldError whose field
// ends with the condition's path.
func conditionErr(field string, err error) error {
	var ce *segment.ConditionError
	if errors.As(err, &ce) {
		if ce.Path != "" {
			field += "." + ce.Path
		}
		return &element.FieldError{Field: field, Err: ce.Err}
	}
	return &element.FieldError{Field: field, Err: err}
}

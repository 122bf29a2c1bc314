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
//
// One variant may be the control group (Control): its participants take
// its branch and may wait like the others, but the engine skips every
// step of theirs that would reach the person (element.ReachesPerson), and
// counts their conversions as it does the others'. Experiment names the
// goal the variants are compared on and, optionally, when the experiment
// ends: then every later participant takes the winning variant (the
// winning path), whatever element.Ports.Variants would choose.
type SplitAudience struct {
	Variants   []Variant        `json:"variants"`
	Experiment *SplitExperiment `json:"experiment,omitempty"`

	fallback string
}

// Variant is one share of a SplitAudience.
type Variant struct {
	Name    string  `json:"name"`
	Percent float64 `json:"percent"`
	// Control marks the control group: held out of every step that
	// would reach the person. At most one variant is the control.
	Control bool `json:"control,omitempty"`
}

// SplitExperiment says what a SplitAudience's variants are compared on
// and when the experiment ends.
type SplitExperiment struct {
	// Goal names the flow goal whose conversions compare the variants.
	// Defaults to the flow's first goal.
	Goal string `json:"goal,omitempty"`
	// EndAfter ends the experiment that long after the version's first
	// participant reached the split. Zero for no time limit.
	EndAfter segment.Period `json:"endAfter,omitzero"`
	// SamplePerVariant ends the experiment once every variant has had
	// that many participants. 0 for no sample limit.
	SamplePerVariant int64 `json:"samplePerVariant,omitempty"`
	// Confidence is the level (0.5 to 0.999) at which a variant's
	// difference from the control counts as significant. Defaults to
	// 0.95.
	Confidence float64 `json:"confidence,omitempty"`
	// Fallback is the variant later participants take when the
	// experiment ends with nothing significant. Defaults to the first
	// variant that is not the control (the message as it was before
	// the experiment, by convention).
	Fallback string `json:"fallback,omitempty"`
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

// SplitExperiment implements element.Experimenter: a split makes an
// experiment when it has a control variant or an Experiment.
func (s *SplitAudience) SplitExperiment() *element.Experiment {
	x := &element.Experiment{Confidence: 0.95, Fallback: s.fallback}
	control := false
	for _, v := range s.Variants {
		x.Variants = append(x.Variants, element.ExperimentVariant{Name: v.Name, Control: v.Control})
		control = control || v.Control
	}
	if s.Experiment == nil && !control {
		return nil
	}
	if e := s.Experiment; e != nil {
		x.Goal, x.EndAfter, x.SamplePerVariant = e.Goal, e.EndAfter, e.SamplePerVariant
		if e.Confidence != 0 {
			x.Confidence = e.Confidence
		}
	}
	return x
}

// Validate implements element.Element.
func (s *SplitAudience) Validate(*element.Compiler) error {
	if len(s.Variants) < 2 {
		return element.Errorf("variants", "a split needs at least two variants, got %d", len(s.Variants))
	}
	names := map[string]bool{}
	total := 0.0
	control := ""
	for i, v := range s.Variants {
		field := fmt.Sprintf("variants[%d]", i)
		if err := checkBranchName(v.Name, names); err != nil {
			return &element.FieldError{Field: field + ".name", Err: err}
		}
		if !(v.Percent > 0 && v.Percent <= 100) {
			return element.Errorf(field+".percent", "percent must be above 0 and at most 100, got %v", v.Percent)
		}
		if v.Control {
			if control != "" {
				return element.Errorf(field+".control", "variants %q and %q are both the control: a split has one control at most", control, v.Name)
			}
			control = v.Name
		}
		total += v.Percent
	}
	if math.Abs(total-100) > 1e-9 {
		return element.Errorf("variants", "percentages sum to %v, not 100", total)
	}
	for _, v := range s.Variants {
		if !v.Control {
			s.fallback = v.Name
			break
		}
	}
	if e := s.Experiment; e != nil {
		if e.SamplePerVariant < 0 {
			return element.Errorf("experiment.samplePerVariant", "samplePerVariant must not be negative, got %d", e.SamplePerVariant)
		}
		if !e.EndAfter.IsZero() {
			if err := element.CheckPeriod(e.EndAfter, "experiment.endAfter"); err != nil {
				return err
			}
		}
		if e.Confidence != 0 && !(e.Confidence >= 0.5 && e.Confidence <= 0.999) {
			return element.Errorf("experiment.confidence", "confidence must be from 0.5 to 0.999, got %v", e.Confidence)
		}
		if e.Fallback != "" {
			if !names[e.Fallback] {
				return element.Errorf("experiment.fallback", "fallback %q is not a variant (variants are %s)", e.Fallback, strings.Join(s.Branches(), ", "))
			}
			s.fallback = e.Fallback
		}
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

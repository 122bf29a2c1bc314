package flow

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/flowkit/flowkit/element"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

// Holdout is a flow's global control group: a share of people who go
// through the flow (they enter, wait and convert as the others do) but
// whom no step of it reaches: every message, conversation and call
// marked as messaging is skipped and journaled as held out (see
// element.ReachesPerson). Who is held out depends on the person alone,
// not on the flow: a person is in every flow's holdout whose Percent is
// above their point (a hash of their id, uniform in [0, 100)), so flows
// with the same Percent hold out the same people, as a global control
// group does, and a person stays in it across entries.
type Holdout struct {
	// Percent is the share of people held out, above 0 and below 100.
	Percent float64 `json:"percent"`
}

// HoldoutGroup is Participant.Holdout of a participant in its flow's
// holdout.
const HoldoutGroup = "flow"

// holdoutPoint is a person's point in [0, 100) for flow holdouts.
func holdoutPoint(person uuid.UUID) float64 {
	h := fnv.New64a()
	h.Write([]byte("flowkit holdout "))
	h.Write(person[:])
	// FNV mixes its last bytes into the high bits poorly: a finalizer
	// (splitmix64's) spreads them.
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x>>11) / float64(1<<53) * 100
}

// The counter keys of experiments, in ElementStats.Other.
const (
	// keyHeldOut counts the steps held-out participants skipped at an
	// element.
	keyHeldOut = "heldOut"
	// keyWinning counts, at a split, the participants the winning path
	// sent down a variant ("experiment:winning:<variant>"), and
	// keyWinningGoal their conversions ("...:<goal>|<variant>"): the
	// experiment's figures leave them out.
	keyWinning     = "experiment:winning:"
	keyWinningGoal = "experiment:winningGoal:"
	// keyHoldoutIn and keyHoldoutOut count, at a version's start element,
	// the participants that entered in and out of the flow's holdout;
	// with "|goal:<goal>" appended, their conversions.
	keyHoldoutIn  = "holdout:in"
	keyHoldoutOut = "holdout:out"
)

// winningPrefix starts the journal reason of a step the winning path
// took, which conversions look for.
const winningPrefix = "winning path: "

// compiledExperiment is a node's experiment, compiled.
type compiledExperiment struct {
	*element.Experiment
	goal    string // the goal measured; "" when the flow has none
	control string // the control variant's name; "" for none
	ends    bool   // EndAfter or SamplePerVariant is set
}

// compileOutcomes checks and compiles the experiments of c's elements and
// the flow's holdout. It runs after the elements' Validate.
func (c *compiled) compileOutcomes(f *Flow, bad *problems) {
	if h := f.Holdout; h != nil {
		if !(h.Percent > 0 && h.Percent < 100) {
			bad.addf("holdout.percent", "percent must be above 0 and below 100, got %v", h.Percent)
		} else {
			c.holdout = h.Percent
		}
	}
	goals := make([]string, 0, len(f.Goals))
	for _, g := range f.Goals {
		if g != nil && g.Name != "" {
			goals = append(goals, g.Name)
		}
	}
	for _, n := range f.Elements {
		if n == nil {
			continue
		}
		nd := c.nodes[n.ID]
		if nd == nil || nd.element != n.Element {
			continue
		}
		if r, ok := n.Element.(element.ReachesPerson); ok {
			nd.heldOut, nd.reaches = r.HeldOutBranch()
		}
		x, ok := n.Element.(element.Experimenter)
		if !ok {
			continue
		}
		spec := x.SplitExperiment()
		if spec == nil {
			continue
		}
		ce := &compiledExperiment{Experiment: spec, ends: !spec.EndAfter.IsZero() || spec.SamplePerVariant > 0}
		for _, v := range spec.Variants {
			if v.Control {
				ce.control = v.Name
			}
		}
		switch {
		case spec.Goal != "" && !slices.Contains(goals, spec.Goal):
			bad.add(n.ID, "experiment.goal", fmt.Errorf("goal %q is not one of the flow's goals (%s)", spec.Goal, strings.Join(goals, ", ")))
			continue
		case spec.Goal != "":
			ce.goal = spec.Goal
		case len(goals) > 0:
			ce.goal = goals[0]
		case ce.ends:
			bad.add(n.ID, "experiment", errors.New("an experiment that ends needs a goal to pick its winner, and the flow has none"))
			continue
		}
		nd.experiment = ce
		c.experiments = true
		c.endingExperiments = c.endingExperiments || ce.ends
	}
}

// ExperimentResult is an experiment's figures: a Split Audience's
// variants (or a flow's holdout against the rest), in one flow version,
// compared on a goal.
type ExperimentResult struct {
	// Element is the Split Audience element's id; "" for the flow's
	// holdout (Holdout set).
	Element string `json:"element"`
	// Version is the flow version.
	Version int `json:"version"`
	// Holdout is set for the flow's holdout, whose variants are
	// "holdout" (the control) and "treated".
	Holdout bool `json:"holdout,omitempty"`
	// Goal is the goal the variants are compared on.
	Goal string `json:"goal"`
	// Confidence is the level a difference must reach to be
	// significant.
	Confidence float64 `json:"confidence"`
	// Winner is the variant the experiment's decision chose; "" while it
	// runs (or when it never ends).
	Winner string `json:"winner"`
	// DecidedAt is when the decision was made; zero while it runs.
	DecidedAt time.Time `json:"decidedAt,omitzero"`
	// Reason says in words why the winner won.
	Reason string `json:"reason,omitempty"`
	// Variants are the figures, now, of the participants the split
	// assigned (those the winning path sent after the decision are left
	// out), in the split's order.
	Variants []VariantResult `json:"variants"`
	// Decided are the figures the decision was made on, as stored with
	// it; nil while the experiment runs.
	Decided []VariantResult `json:"decided,omitempty"`
}

// VariantResult is one variant's figures.
type VariantResult struct {
	// Name is the variant's name; Branch the element its branch leads
	// to ("" when the branch leaves the flow).
	Name   string `json:"name"`
	Branch string `json:"branch"`
	// Control is set for the control group, the baseline of Lift and
	// PValue.
	Control bool `json:"control"`
	// Participants took the variant; Conversions of them converted on
	// the goal.
	Participants int64 `json:"participants"`
	Conversions  int64 `json:"conversions"`
	// Rate is Conversions / Participants, with the Wilson score interval
	// [Low, High] at the experiment's confidence.
	Rate float64 `json:"rate"`
	Low  float64 `json:"low"`
	High float64 `json:"high"`
	// Lift is the rate's relative difference from the baseline's (the
	// control, or without one the first variant): 0.2 for 6% against
	// 5%. 0 for the baseline and when its rate is 0.
	Lift float64 `json:"lift"`
	// PValue is the two-sided p-value of a two-proportion z test against
	// the baseline (1 for the baseline itself); Significant is set when
	// it is below 1 - Confidence.
	PValue      float64 `json:"pValue"`
	Significant bool    `json:"significant"`
}

// variantCounts are a variant's participants and conversions.
type variantCounts struct {
	name         string
	control      bool
	participants int64
	conversions  int64
}

// figures computes the results of variants at a confidence level: the
// same counts give the same figures in every process.
func figures(vs []variantCounts, confidence float64) []VariantResult {
	base := slices.IndexFunc(vs, func(v variantCounts) bool { return v.control })
	if base < 0 {
		base = 0
	}
	z := zFor(confidence)
	out := make([]VariantResult, len(vs))
	b := vs[base]
	bRate := rate(b.conversions, b.participants)
	for i, v := range vs {
		r := VariantResult{Name: v.name, Control: v.control, Participants: v.participants, Conversions: v.conversions,
			Rate: rate(v.conversions, v.participants), PValue: 1}
		r.Low, r.High = wilson(v.conversions, v.participants, z)
		if i != base {
			if bRate > 0 {
				r.Lift = (r.Rate - bRate) / bRate
			}
			r.PValue = twoProportion(v.conversions, v.participants, b.conversions, b.participants)
			r.Significant = r.PValue < 1-confidence
		}
		out[i] = r
	}
	return out
}

func rate(x, n int64) float64 {
	if n <= 0 {
		return 0
	}
	return float64(x) / float64(n)
}

// decide picks an ended experiment's winner from its figures: the variant
// with the highest rate among those significantly better than the
// control; without a control, the variant with the highest rate when it
// is significantly better than the next best. Ties go to the variant
// first in the split's order. When nothing is significant, the winner is
// the fallback.
func decide(x *compiledExperiment, vs []VariantResult) (winner, reason string) {
	best := -1
	control := slices.IndexFunc(vs, func(v VariantResult) bool { return v.Control })
	for i, v := range vs {
		if control >= 0 && (i == control || !v.Significant || v.Rate <= vs[control].Rate) {
			continue
		}
		if best < 0 || v.Rate > vs[best].Rate {
			best = i
		}
	}
	if control < 0 && len(vs) > 1 {
		order := make([]int, len(vs))
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(vs[b].Rate, vs[a].Rate) })
		top, next := vs[order[0]], vs[order[1]]
		p := twoProportion(top.Conversions, top.Participants, next.Conversions, next.Participants)
		if top.Rate > next.Rate && p < 1-x.Confidence {
			return top.Name, fmt.Sprintf("%q converted %s, significantly more than the next best %q at %s (p = %.4g)",
				top.Name, pct(top.Rate), next.Name, pct(next.Rate), p)
		}
		return x.Fallback, fmt.Sprintf("no variant converted significantly more than the others at %s confidence (best %q at %s, next %q at %s, p = %.4g): the fallback %q",
			pct(x.Confidence), top.Name, pct(top.Rate), next.Name, pct(next.Rate), p, x.Fallback)
	}
	if best >= 0 {
		v := vs[best]
		return v.Name, fmt.Sprintf("%q converted %s against the control's %s (lift %+.1f%%, p = %.4g)",
			v.Name, pct(v.Rate), pct(vs[control].Rate), v.Lift*100, v.PValue)
	}
	if control >= 0 {
		return x.Fallback, fmt.Sprintf("no variant converted significantly more than the control (%s) at %s confidence: the fallback %q",
			pct(vs[control].Rate), pct(x.Confidence), x.Fallback)
	}
	return x.Fallback, "the fallback " + x.Fallback
}

func pct(r float64) string {
	s := fmt.Sprintf("%.2f", r*100)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s + "%"
}

// counts reads the figures of a node's experiment in one version from
// the flow's counters: the participants that left by each variant and
// their conversions on the goal, less those the winning path sent.
func (x *compiledExperiment) counts(counters []store.Counter, version int, elementID string) []variantCounts {
	out := make([]variantCounts, len(x.Variants))
	idx := make(map[string]int, len(x.Variants))
	for i, v := range x.Variants {
		out[i] = variantCounts{name: v.Name, control: v.Control}
		idx[v.Name] = i
	}
	goalKey := keyGoal + x.goal + "|"
	winGoal := keyWinningGoal + x.goal + "|"
	for _, c := range counters {
		if c.FlowVersion != version || c.Element != elementID {
			continue
		}
		k := c.Key
		var name string
		var part, conv int64
		switch {
		case strings.HasPrefix(k, keyLeft):
			name, part = k[len(keyLeft):], c.N
		case strings.HasPrefix(k, keyWinning):
			name, part = k[len(keyWinning):], -c.N
		case x.goal != "" && strings.HasPrefix(k, goalKey):
			name, conv = k[len(goalKey):], c.N
		case x.goal != "" && strings.HasPrefix(k, winGoal):
			name, conv = k[len(winGoal):], -c.N
		default:
			continue
		}
		if i, ok := idx[name]; ok {
			out[i].participants += part
			out[i].conversions += conv
		}
	}
	return out
}

// holdoutCounts reads the figures of a version's flow holdout: the
// participants in and out of it and their conversions on goal.
func (c *compiled) holdoutCounts(counters []store.Counter, version int, goal string) []variantCounts {
	out := []variantCounts{{name: "holdout", control: true}, {name: "treated"}}
	for _, k := range counters {
		if k.FlowVersion != version || k.Element != c.start.id {
			continue
		}
		switch k.Key {
		case keyHoldoutIn:
			out[0].participants += k.N
		case keyHoldoutOut:
			out[1].participants += k.N
		case keyHoldoutIn + "|" + keyGoal + goal:
			out[0].conversions += k.N
		case keyHoldoutOut + "|" + keyGoal + goal:
			out[1].conversions += k.N
		}
	}
	return out
}

// Experiments returns the experiments of a flow, in every version that
// has participants or a decision: each Split Audience with a control
// variant or an experiment, and the flow's holdout, with each variant's
// participants, conversions, rate and its confidence interval, and the
// lift and significance against the control; and, for an experiment
// that ended, its winner, when and on which figures it was decided.
// Ordered by version, then element (the flow's holdout first).
func (e *Engine) Experiments(ctx context.Context, flowID string) ([]ExperimentResult, error) {
	st, err := e.store.Flow(ctx, flowID)
	if err != nil {
		return nil, err
	}
	counters, err := e.store.Counters(ctx, flowID)
	if err != nil {
		return nil, err
	}
	decided := map[decisionKey]*store.Decision{}
	if k, ok := e.store.(store.ExperimentKeeper); ok {
		ds, err := k.Decisions(ctx)
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			if d.FlowID == flowID {
				decided[decisionKey{d.FlowID, d.FlowVersion, d.Element}] = d
			}
		}
	}
	versions := map[int]bool{st.Latest: true}
	for _, c := range counters {
		versions[c.FlowVersion] = true
	}
	for k := range decided {
		versions[k.version] = true
	}
	var out []ExperimentResult
	for _, v := range slices.Sorted(maps.Keys(versions)) {
		if v < 1 || v > st.Latest {
			continue
		}
		c, err := e.compiled(ctx, flowID, v)
		if err != nil {
			return nil, err
		}
		out = append(out, c.results(counters, decided)...)
	}
	return out, nil
}

// results are the experiments of one compiled version.
func (c *compiled) results(counters []store.Counter, decided map[decisionKey]*store.Decision) []ExperimentResult {
	var out []ExperimentResult
	v := c.flow.Version
	if c.holdout > 0 {
		goal := ""
		if len(c.journey.goals) > 0 {
			goal = c.journey.goals[0].name
		}
		r := ExperimentResult{Version: v, Holdout: true, Goal: goal, Confidence: 0.95,
			Variants: figures(c.holdoutCounts(counters, v, goal), 0.95)}
		r.Variants[0].Branch, r.Variants[1].Branch = c.start.id, c.start.id
		out = append(out, r)
	}
	for _, n := range c.flow.Elements {
		nd := c.nodes[n.ID]
		if nd == nil || nd.experiment == nil {
			continue
		}
		x := nd.experiment
		r := ExperimentResult{Element: nd.id, Version: v, Goal: x.goal, Confidence: x.Confidence,
			Variants: figures(x.counts(counters, v, nd.id), x.Confidence)}
		if d := decided[decisionKey{c.flow.ID, v, nd.id}]; d != nil {
			r.Winner, r.DecidedAt, r.Reason = d.Winner, d.DecidedAt, d.Reason
			r.Decided = figures(decisionCounts(x, d), x.Confidence)
		}
		for i := range r.Variants {
			if t := nd.next[r.Variants[i].Name]; t != nil {
				r.Variants[i].Branch = t.id
			}
		}
		for i := range r.Decided {
			if t := nd.next[r.Decided[i].Name]; t != nil {
				r.Decided[i].Branch = t.id
			}
		}
		out = append(out, r)
	}
	return out
}

// decisionCounts are the counts a decision was made on, in the split's
// order.
func decisionCounts(x *compiledExperiment, d *store.Decision) []variantCounts {
	out := make([]variantCounts, 0, len(d.Variants))
	for _, dv := range d.Variants {
		control := slices.ContainsFunc(x.Variants, func(v element.ExperimentVariant) bool { return v.Name == dv.Name && v.Control })
		out = append(out, variantCounts{name: dv.Name, control: control, participants: dv.Participants, conversions: dv.Conversions})
	}
	return out
}

// decisionKey names an experiment: a flow version's split.
type decisionKey struct {
	flowID  string
	version int
	element string
}

// experimentCheckEvery is how often, by the engine's clock, Tick looks
// at whether a flow's experiments have ended.
const experimentCheckEvery = time.Second

// decideExperiments ends the experiments whose sample or duration is
// reached: the first process to decide stores the decision, which every
// process then reads with the flows' states (store.ExperimentKeeper).
func (e *Engine) decideExperiments(ctx context.Context, now time.Time, cat *catalogSnapshot) error {
	k, ok := e.store.(store.ExperimentKeeper)
	if !ok {
		return nil
	}
	for _, c := range cat.experiments {
		id := c.flow.ID
		if last, ok := e.expChecked.Load(id); ok && now.Sub(last.(time.Time)) < experimentCheckEvery && !now.Before(last.(time.Time)) {
			continue
		}
		e.expChecked.Store(id, now)
		counters, err := e.store.Counters(ctx, id)
		if err != nil {
			return err
		}
		versions := map[int]bool{c.flow.Version: true}
		for _, k := range counters {
			versions[k.FlowVersion] = true
		}
		for _, v := range slices.Sorted(maps.Keys(versions)) {
			vc, err := e.compiled(ctx, id, v)
			if err != nil {
				return err
			}
			if !vc.endingExperiments {
				continue
			}
			for _, n := range vc.flow.Elements {
				nd := vc.nodes[n.ID]
				if nd == nil || nd.experiment == nil || !nd.experiment.ends || cat.decisions[decisionKey{id, v, nd.id}] != nil {
					continue
				}
				if err := e.decideOne(ctx, k, vc, nd, counters, now); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// decideOne decides one experiment when it has ended by now.
func (e *Engine) decideOne(ctx context.Context, k store.ExperimentKeeper, c *compiled, nd *node, counters []store.Counter, now time.Time) error {
	x := nd.experiment
	counts := x.counts(counters, c.flow.Version, nd.id)
	var why string
	if x.SamplePerVariant > 0 {
		reached := true
		for _, v := range counts {
			reached = reached && v.participants >= x.SamplePerVariant
		}
		if reached {
			why = fmt.Sprintf("every variant had %d participants", x.SamplePerVariant)
		}
	}
	if why == "" && !x.EndAfter.IsZero() && !c.publishedAt.IsZero() {
		if end := x.EndAfter.After(c.publishedAt, c.loc); !now.Before(end) {
			why = fmt.Sprintf("%s passed since version %d was published", x.EndAfter, c.flow.Version)
		}
	}
	if why == "" {
		return nil
	}
	vs := figures(counts, x.Confidence)
	winner, reason := decide(x, vs)
	d := &store.Decision{FlowID: c.flow.ID, FlowVersion: c.flow.Version, Element: nd.id, Winner: winner, DecidedAt: now,
		Reason: "the experiment ended (" + why + "): " + reason}
	for _, v := range counts {
		d.Variants = append(d.Variants, store.DecisionVariant{Name: v.name, Participants: v.participants, Conversions: v.conversions})
	}
	got, stored, err := k.Decide(ctx, d)
	if err != nil {
		return err
	}
	if stored {
		e.log.InfoContext(ctx, "flowkit: an experiment ended", "flow", c.flow.ID, "version", c.flow.Version, "element", nd.id,
			"winner", got.Winner, "reason", got.Reason)
	}
	return nil
}

// describeDecision is the journal reason of a step the winning path took.
func describeDecision(d *store.Decision) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%svariant %q, decided at %s: %s; figures:", winningPrefix, d.Winner, d.DecidedAt.UTC().Format(time.RFC3339), d.Reason)
	for i, v := range d.Variants {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, " %s %d of %d", v.Name, v.Conversions, v.Participants)
	}
	return b.String()
}

// holdOut takes a held-out participant past a step that would reach the
// person, by the branch the element names, without running it.
func (s *session) holdOut(c *compiled, p *store.Participant, n *node) error {
	who := "the flow's holdout (global control group)"
	if p.Holdout != HoldoutGroup {
		who = fmt.Sprintf("the control group of split %q", p.Holdout)
	}
	s.count(c, n.id, keyHeldOut)
	r := s.newRun(c, p, nil)
	return s.apply(c, p, n, r, element.Next(n.heldOut, fmt.Sprintf("held out: %s skipped, the participant is in %s", n.element.Kind(), who)), nil)
}

// takeWinner sends a participant down an ended experiment's winner.
func (s *session) takeWinner(c *compiled, p *store.Participant, n *node, d *store.Decision) error {
	s.count(c, n.id, keyWinning+d.Winner)
	r := s.newRun(c, p, nil)
	return s.apply(c, p, n, r, element.Next(d.Winner, describeDecision(d)), nil)
}

// enterHoldout puts a new participant in its flow's holdout when its
// person's point is below the flow's percent, and counts it.
func (s *session) enterHoldout(c *compiled, p *store.Participant) {
	if c.holdout <= 0 {
		return
	}
	if point := holdoutPoint(p.PersonID); point < c.holdout {
		p.Holdout = HoldoutGroup
		s.count(c, c.start.id, keyHoldoutIn)
		s.journal(p, c.start.id, "", fmt.Sprintf("in the flow's holdout (%v%% of people, a global control group): no message will reach the person", c.holdout))
		return
	}
	s.count(c, c.start.id, keyHoldoutOut)
}

// checkExperiments refuses a flow whose experiments end on a Store that
// keeps no decisions.
func (e *Engine) checkExperiments(c *compiled) error {
	if _, ok := e.store.(store.ExperimentKeeper); ok || !c.endingExperiments {
		return nil
	}
	var bad problems
	for _, n := range c.flow.Elements {
		if nd := c.nodes[n.ID]; nd != nil && nd.experiment != nil && nd.experiment.ends {
			bad.add(n.ID, "experiment", errors.New("an experiment that ends needs a Store that keeps decisions (store.ExperimentKeeper), which this one does not"))
		}
	}
	return errors.Join(bad...)
}

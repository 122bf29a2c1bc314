package flow

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/flowkit/flowkit/element"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// The statistics against values worked by hand (see the formulas in
// stats.go).
func TestStatsKnownValues(t *testing.T) {
	require.InDelta(t, 1.959964, zFor(0.95), 1e-6)
	require.InDelta(t, 2.575829, zFor(0.99), 1e-6)

	// 0 of 10 at 95%: center = (z²/20)/(1+z²/10) = 0.19207/1.38415 =
	// 0.13876, half the same: [0, 0.27753].
	low, high := wilson(0, 10, zFor(0.95))
	require.InDelta(t, 0, low, 1e-9)
	require.InDelta(t, 0.27753, high, 1e-5)
	// 50 of 100: [0.40383, 0.59617], symmetric about 0.5.
	low, high = wilson(50, 100, zFor(0.95))
	require.InDelta(t, 0.40383, low, 1e-5)
	require.InDelta(t, 0.59617, high, 1e-5)
	low, high = wilson(0, 0, 1.96)
	require.Zero(t, low)
	require.Zero(t, high)

	// 60 of 1000 against 50 of 1000: pool 0.055, se =
	// √(0.055·0.945·0.002) = 0.0101955, z = 0.98082, p = 0.32668.
	require.InDelta(t, 0.32668, twoProportion(60, 1000, 50, 1000), 1e-5)
	require.InDelta(t, 0.32668, twoProportion(50, 1000, 60, 1000), 1e-5, "two-sided")
	require.Equal(t, 1.0, twoProportion(0, 100, 0, 100), "no conversions at all: no evidence")
	require.Equal(t, 1.0, twoProportion(1, 0, 0, 10))
}

func experimentOf(fallback string, control bool, names ...string) *compiledExperiment {
	x := &element.Experiment{Confidence: 0.95, Fallback: fallback}
	for i, n := range names {
		x.Variants = append(x.Variants, element.ExperimentVariant{Name: n, Control: control && i == 0})
	}
	return &compiledExperiment{Experiment: x, ends: true}
}

// The winner is the best variant significantly better than the control;
// without one significant the fallback; without a control the best when
// it beats the next best; ties go to the first in order.
func TestDecideRules(t *testing.T) {
	x := experimentOf("a", true, "control", "a", "b")
	vs := figures([]variantCounts{{"control", true, 1000, 50}, {"a", false, 1000, 60}, {"b", false, 1000, 90}}, 0.95)
	w, why := decide(x, vs)
	require.Equal(t, "b", w)
	require.Contains(t, why, `"b" converted 9% against the control's 5%`)

	vs = figures([]variantCounts{{"control", true, 1000, 50}, {"a", false, 1000, 60}, {"b", false, 1000, 55}}, 0.95)
	w, why = decide(x, vs)
	require.Equal(t, "a", w, "nothing significant: the fallback")
	require.Contains(t, why, "no variant converted significantly more than the control")

	vs = figures([]variantCounts{{"control", true, 1000, 90}, {"a", false, 1000, 50}, {"b", false, 1000, 50}}, 0.95)
	w, _ = decide(x, vs)
	require.Equal(t, "a", w, "worse than the control is not a winner")

	y := experimentOf("a", false, "a", "b", "c")
	vs = figures([]variantCounts{{"a", false, 1000, 50}, {"b", false, 1000, 95}, {"c", false, 1000, 60}}, 0.95)
	w, why = decide(y, vs)
	require.Equal(t, "b", w)
	require.Contains(t, why, `significantly more than the next best "c"`)
	vs = figures([]variantCounts{{"a", false, 1000, 50}, {"b", false, 1000, 62}, {"c", false, 1000, 60}}, 0.95)
	w, _ = decide(y, vs)
	require.Equal(t, "a", w, "the best not significantly better than the next: the fallback")

	z := experimentOf("x", true, "control", "a", "b")
	vs = figures([]variantCounts{{"control", true, 1000, 50}, {"a", false, 1000, 90}, {"b", false, 1000, 90}}, 0.95)
	w, _ = decide(z, vs)
	require.Equal(t, "a", w, "a tie goes to the first")
}

// A flow holdout's share is close to its percent over many people, and
// a person's point never changes. The people's IDs are version 7 UUIDs
// drawn from a seeded source, so that the sample, and the test's outcome,
// is the same each run: the bound on the 50% share is about two standard
// deviations, which random IDs drawn anew miss once in some forty runs.
func TestHoldoutPointUniform(t *testing.T) {
	const n = 200_000
	rng := rand.New(rand.NewPCG(1, 2))
	below := map[float64]int{}
	for range n {
		var id uuid.UUID
		binary.BigEndian.PutUint64(id[:8], rng.Uint64())
		binary.BigEndian.PutUint64(id[8:], rng.Uint64())
		id[6] = id[6]&0x0f | 0x70 // version 7
		id[8] = id[8]&0x3f | 0x80 // RFC 4122 variant
		p := holdoutPoint(id)
		require.Equal(t, p, holdoutPoint(id))
		for _, pct := range []float64{1, 5, 10, 50} {
			if p < pct {
				below[pct]++
			}
		}
	}
	for _, pct := range []float64{1, 5, 10, 50} {
		require.InDelta(t, pct, float64(below[pct])/n*100, 0.25, "%v%%", pct)
	}
}

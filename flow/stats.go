package flow

import "math"

// The statistics of experiments.
//
// A variant's conversion rate comes with a Wilson score interval: unlike
// the normal ("Wald") interval it stays inside [0, 1] and keeps close to
// its nominal coverage for the small rates and small samples experiments
// start with (a 2% rate over 50 participants), where the Wald interval
// collapses to a point at 0 conversions.
//
// A variant is compared with the control by a two-proportion z test
// (pooled), two-sided: the p-value is the chance of a difference at
// least this large between the rates were the variants alike. It is the
// test marketers read in other tools, needs nothing but the counts, and
// is exact enough at the sample sizes an experiment ends on (hundreds of
// participants and more per variant). A Bayesian probability to beat
// the control would need a prior, which teams rarely agree on; the
// frequentist test with a fixed end (a sample size or a duration, set
// before the experiment starts) avoids the "peeking" error of testing
// until something looks significant.

// zFor returns the two-sided standard normal quantile of a confidence
// level: 1.96 for 0.95.
func zFor(confidence float64) float64 { return math.Sqrt2 * math.Erfinv(confidence) }

// wilson returns the Wilson score interval of x conversions among n
// participants at the two-sided quantile z; 0, 0 for n 0.
func wilson(x, n int64, z float64) (low, high float64) {
	if n <= 0 {
		return 0, 0
	}
	nf := float64(n)
	p := float64(x) / nf
	z2 := z * z
	den := 1 + z2/nf
	center := (p + z2/(2*nf)) / den
	half := z / den * math.Sqrt(p*(1-p)/nf+z2/(4*nf*nf))
	return math.Max(0, center-half), math.Min(1, center+half)
}

// twoProportion returns the two-sided p-value of the pooled two-proportion
// z test of x1 of n1 against x2 of n2: 1 when either sample is empty or
// the pooled rate is 0 or 1 (no variance: no evidence of a difference).
func twoProportion(x1, n1, x2, n2 int64) float64 {
	if n1 <= 0 || n2 <= 0 {
		return 1
	}
	p1, p2 := float64(x1)/float64(n1), float64(x2)/float64(n2)
	pool := float64(x1+x2) / float64(n1+n2)
	se := math.Sqrt(pool * (1 - pool) * (1/float64(n1) + 1/float64(n2)))
	if se == 0 {
		return 1
	}
	z := (p1 - p2) / se
	return math.Erfc(math.Abs(z) / math.Sqrt2)
}

package flow_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/store"
)

// experimentFlow is an A/B/control test over a welcome message: a
// third of the people each, ending once every variant has had sample
// participants.
func experimentFlow(sample int) *flow.Flow {
	f, err := flow.Parse(fmt.Appendf(nil, `{"id": "exp", "elements": [
		{"id": "split", "type": "splitAudience", "variants": [
			{"name": "control", "percent": 34, "control": true}, {"name": "a", "percent": 33}, {"name": "b", "percent": 33}],
		 "experiment": {"goal": "purchase", "samplePerVariant": %d}, "next": {"a": "a-tag", "b": "b-tag"}},
		{"id": "a-tag", "type": "addTag", "tag": "a"},
		{"id": "b-tag", "type": "addTag", "tag": "b"}],
	  "goals": [{"name": "purchase", "event": {"category": "external", "name": "Purchased"}, "within": {"amount": 7, "unit": "days"}}]}`, sample))
	if err != nil {
		panic(err)
	}
	return f
}

// BenchmarkExperiment simulates an A/B/control experiment over 100,000
// participants (10,000 with -short) whose variants convert at known
// rates: the control at 4.5%, a at 5% and b at 6%. Each person enters
// and takes a variant by the split's hash; the purchases of each
// variant's participants are spread evenly over them in entry order, so
// that it converts at exactly its rate (every 20th of a converts); a
// tick then ends the experiment on its sample. It fails unless every rate's 95% interval holds the true rate
// and b wins (with 100,000), and reports the rates, the p-values against
// the control and the simulated experiment's wall time.
func BenchmarkExperiment(b *testing.B) {
	people := 100_000
	if testing.Short() {
		people = 10_000
	}
	truth := map[string]float64{"control": 0.045, "a": 0.05, "b": 0.06}
	for range b.N {
		eng, clk := benchEngine(b)
		f := experimentFlow(people * 32 / 100)
		benchPublish(b, eng, f)
		ctx := context.Background()
		start := time.Now()
		entered, bought := map[string]int{}, map[string]int{}
		for i := range people {
			who := fmt.Sprint("person-", i)
			id, err := eng.Enter(ctx, "exp", store.PersonRef{ExternalID: who}, nil)
			if err != nil {
				b.Fatal(err)
			}
			p, err := eng.Participant(ctx, id)
			if err != nil {
				b.Fatal(err)
			}
			v := p.Journal[0].Branch
			k := entered[v]
			entered[v]++
			// The k-th participant of a variant converts when its rate
			// times k+1 reaches the next whole number: exactly the rate.
			if math.Floor(float64(k+1)*truth[v]) > math.Floor(float64(k)*truth[v]) {
				bought[v]++
				if err := eng.Deliver(ctx, &store.Event{ID: "buy-" + who, Person: store.PersonRef{ExternalID: who},
					Category: store.External, Name: "Purchased"}); err != nil {
					b.Fatal(err)
				}
			}
		}
		clk.Advance(time.Hour)
		if _, err := eng.Tick(ctx); err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		ex, err := eng.Experiments(ctx, "exp")
		if err != nil {
			b.Fatal(err)
		}
		r := ex[0]
		for _, v := range r.Variants {
			if t := truth[v.Name]; t < v.Low || t > v.High {
				b.Errorf("%s: the true rate %v is outside the interval [%v, %v]", v.Name, t, v.Low, v.High)
			}
			b.ReportMetric(v.Rate*100, "%-"+v.Name)
			b.ReportMetric(float64(v.Participants), "n-"+v.Name)
			if !v.Control {
				b.ReportMetric(v.PValue, "p-"+v.Name)
			}
		}
		if r.Winner == "" {
			b.Fatal("the experiment did not end on its sample")
		}
		if people >= 100_000 && r.Winner != "b" {
			b.Fatalf("winner %q, want b: %s", r.Winner, r.Reason)
		}
		b.ReportMetric(took.Seconds(), "s/experiment")
		for _, v := range r.Variants {
			b.Logf("%s: %d of %d, %.3f%% [%.3f%%, %.3f%%] (true %.1f%%), lift %+.1f%%, p = %.3g", v.Name, v.Conversions, v.Participants,
				v.Rate*100, v.Low*100, v.High*100, truth[v.Name]*100, v.Lift*100, v.PValue)
		}
		b.Logf("%d people in %s: winner %s: %s", people, took.Round(time.Millisecond), r.Winner, r.Reason)
	}
}

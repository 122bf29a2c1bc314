package flow_test

import (
	"context"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/flowkit/flowkit/segment"
)

func BenchmarkZZTimed(b *testing.B) {
	eng, clk := benchEngine(b)
	fillPaused(b, eng, population(), pauseFor(1, segment.Days))
	clk.Advance(25 * time.Hour)
	runtime.GC()
	f, _ := os.Create("/tmp/cpu-timed.prof")
	pprof.StartCPUProfile(f)
	start := time.Now()
	k, err := eng.Tick(context.Background())
	pprof.StopCPUProfile()
	f.Close()
	b.ReportMetric(float64(k)/time.Since(start).Seconds(), "timers/s")
	_ = err
}

func BenchmarkZZDeliver(b *testing.B) {
	eng, people := fillWaiting(b, waitPopulation())
	evs := orders(people)
	runtime.GC()
	f, _ := os.Create("/tmp/cpu-ev.prof")
	pprof.StartCPUProfile(f)
	start := time.Now()
	for _, ev := range evs {
		if err := eng.Deliver(context.Background(), ev); err != nil {
			b.Fatal(err)
		}
	}
	pprof.StopCPUProfile()
	f.Close()
	b.ReportMetric(float64(len(evs))/time.Since(start).Seconds(), "events/s")
}

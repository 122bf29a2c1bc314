package flow_test

import (
	"context"
	"fmt"
	"time"

	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
)

// A person waits two days for a reply; version 2 waits three days at a
// renamed element. A dry run says who would move, then the migration
// moves them, and the wait ends three days after the person arrived.
func ExampleEngine_Migrate() {
	ctx := context.Background()
	start := time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC)
	clk := clock.NewFake(start)
	eng, err := flow.NewEngine(flow.Config{Store: memory.New(), Clock: clk})
	if err != nil {
		panic(err)
	}
	version := func(wait string, days int) *flow.Flow {
		return flow.New("reply", "Reply").
			Add(wait, &kinds.Pause{Mode: kinds.PauseFor, Period: segment.Period{Amount: days, Unit: segment.Days}}, flow.Next{"next": "done"}).
			Add("done", &kinds.Exit{}, nil)
	}
	if _, err := eng.Publish(ctx, version("wait", 2)); err != nil {
		panic(err)
	}
	if err := eng.Activate(ctx, "reply"); err != nil {
		panic(err)
	}
	id, err := eng.Enter(ctx, "reply", store.PersonRef{ExternalID: "ana"}, nil)
	if err != nil {
		panic(err)
	}
	if _, err := eng.Publish(ctx, version("wait-2", 3)); err != nil {
		panic(err)
	}
	clk.Advance(24 * time.Hour)

	m := flow.Migration{FlowID: "reply", From: 1, To: 2, Map: map[string]string{"wait": "wait-2"}, DryRun: true}
	dry, err := eng.Migrate(ctx, m)
	if err != nil {
		panic(err)
	}
	fmt.Println("dry run:", dry.Moves)
	m.DryRun = false
	if _, err := eng.Migrate(ctx, m); err != nil {
		panic(err)
	}
	p, err := eng.Participant(ctx, id)
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Journal[len(p.Journal)-1].Reason)
	fmt.Println("waits until", p.Wait.Until.Format(time.RFC3339))

	m.Map = map[string]string{"wait": "wiat"}
	_, err = eng.Migrate(ctx, m)
	fmt.Println(err)
	// Output:
	// dry run: map[{wait wait-2}:1]
	// migrated from version 1 element wait to version 2 element wait-2
	// waits until 2026-11-28T15:00:00Z
	// migration: Map["wait"]: element "wiat" is not in version 2
}

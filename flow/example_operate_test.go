package flow_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
)

// Three people wait for a reply; a bulk operation cancels those at the
// wait, after a dry run. Run again by its name it changes nothing; a
// retry of waiting participants is refused, naming the field.
func ExampleEngine_Operate() {
	ctx := context.Background()
	eng, err := flow.NewEngine(flow.Config{Store: memory.New()})
	if err != nil {
		panic(err)
	}
	f := flow.New("reply", "Reply").
		Add("wait", &kinds.Pause{Mode: kinds.PauseFor, Period: segment.Period{Amount: 2, Unit: segment.Days}}, flow.Next{"next": "done"}).
		Add("done", &kinds.Exit{}, nil)
	if _, _, err := eng.Deploy(ctx, f); err != nil {
		panic(err)
	}
	for _, who := range []string{"ana", "ben", "cy"} {
		if _, err := eng.Enter(ctx, "reply", store.PersonRef{ExternalID: who}, nil); err != nil {
			panic(err)
		}
	}
	op := flow.Operation{Name: "stop-replies", FlowID: "reply", Action: flow.Cancel,
		Select: flow.Selection{Element: "wait"}, DryRun: true}
	rep, err := eng.Operate(ctx, op)
	if err != nil {
		panic(err)
	}
	fmt.Println("dry run:", rep.Changed, "would be canceled")
	op.DryRun = false
	rep, err = eng.Operate(ctx, op)
	if err != nil {
		panic(err)
	}
	fmt.Println("canceled:", rep.Changed, "of", rep.Total)
	p, err := eng.Participant(ctx, rep.Rows[0].Participant)
	if err != nil {
		panic(err)
	}
	fmt.Println("reason:", p.Reason)
	rep, err = eng.Operate(ctx, op)
	if err != nil {
		panic(err)
	}
	fmt.Println("again: resumed", rep.Resumed, "rows", len(rep.Rows))

	_, err = eng.Operate(ctx, flow.Operation{Name: "retry", FlowID: "reply", Action: flow.Retry,
		Select: flow.Selection{Statuses: []store.Status{store.Waiting}}})
	var oe *flow.OperationError
	fmt.Println(errors.As(err, &oe), err)
	// Output:
	// dry run: 3 would be canceled
	// canceled: 3 of 3
	// reason: canceled by operation "stop-replies"
	// again: resumed true rows 0
	// true operation: Select.Statuses: retry cannot act on waiting participants (it acts on failed)
}

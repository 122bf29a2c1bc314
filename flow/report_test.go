package flow_test

import (
	"testing"

	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/segment"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// Enter and Deliver report whom they entered where, whom they woke, and
// which entries were refused and why.
func TestCallReports(t *testing.T) {
	h := newHarness(t, flow.Config{})
	ctx := h.ctx
	wait := flow.New("wait", "Wait").
		Add("w", &kinds.WaitForEvent{Event: segment.EventSpec{Category: store.External, Name: "Paid"}}, nil)
	h.publish(t, wait)
	trig := flow.New("trig", "Triggered").Add("t", tag("paid"), nil)
	trig.Entries = []*flow.Entry{{Type: flow.EntryEvent, Event: &segment.EventSpec{Category: store.External, Name: "Paid"}}}
	trig.Reentry = &flow.Reentry{Rule: flow.ReenterOnce}
	h.publish(t, trig)
	ana := store.PersonRef{ExternalID: "ana"}

	var rep flow.Report
	id, err := h.eng.Enter(ctx, "wait", ana, nil, flow.ReportTo(&rep))
	require.NoError(t, err)
	require.Equal(t, []flow.Entrant{{FlowID: "wait", Participant: id, By: "the API"}}, rep.Entered)

	_, err = h.eng.Enter(ctx, "wait", ana, nil, flow.ReportTo(&rep))
	require.ErrorIs(t, err, flow.ErrAlreadyInFlow)
	require.Len(t, rep.Refused, 1)
	require.Equal(t, "wait", rep.Refused[0].FlowID)
	require.ErrorIs(t, rep.Refused[0].Err, flow.ErrAlreadyInFlow)
	require.Empty(t, rep.Entered)

	paid := &store.Event{ID: "p1", Person: ana, Category: store.External, Name: "Paid"}
	require.NoError(t, h.eng.Deliver(ctx, paid, flow.ReportTo(&rep)))
	require.Equal(t, []uuid.UUID{id}, rep.Woken)
	require.Len(t, rep.Entered, 1)
	require.Equal(t, "trig", rep.Entered[0].FlowID)
	require.Equal(t, "event Paid", rep.Entered[0].By)
	require.False(t, rep.Duplicate)

	require.NoError(t, h.eng.Deliver(ctx, paid, flow.ReportTo(&rep)))
	require.True(t, rep.Duplicate, "a redelivery changes nothing")
	require.Empty(t, rep.Entered)

	second := &store.Event{ID: "p2", Person: ana, Category: store.External, Name: "Paid"}
	require.NoError(t, h.eng.Deliver(ctx, second, flow.ReportTo(&rep)))
	require.Len(t, rep.Refused, 1, "the once-only flow refuses a second entry")
	require.Equal(t, "trig", rep.Refused[0].FlowID)
	require.ErrorContains(t, rep.Refused[0].Err, "re-entry rule once")
}

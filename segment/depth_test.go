package segment_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flowkit/flowkit/segment"
)

// nested returns a condition of depth levels: "all" groups of one
// condition each, then a leaf.
func nested(depth int) segment.Condition {
	c := segment.Condition{Tag: "vip", Op: segment.Has}
	for range depth - 1 {
		c = segment.Condition{All: []segment.Condition{c}}
	}
	return c
}

func TestDepthIsBounded(t *testing.T) {
	// MaxDepth round-trips and compiles.
	data, err := json.Marshal(nested(segment.MaxDepth))
	require.NoError(t, err)
	back, err := segment.Parse(data)
	require.NoError(t, err)
	require.Equal(t, nested(segment.MaxDepth), back)
	_, err = segment.Compile(back, segment.Options{})
	require.NoError(t, err)

	tooDeep := fmt.Sprintf("conditions are nested more than %d deep", segment.MaxDepth)
	var ce *segment.ConditionError

	// One more is refused by MarshalJSON, Parse and Compile, at its path.
	path := strings.TrimSuffix(strings.Repeat("all[0].", segment.MaxDepth), ".")
	_, err = json.Marshal(nested(segment.MaxDepth + 1))
	require.ErrorAs(t, err, &ce)
	require.Equal(t, path, ce.Path)
	require.ErrorContains(t, err, tooDeep)

	doc := strings.Repeat(`{"all":[`, segment.MaxDepth) + `{"tag":"vip","op":"has"}` + strings.Repeat(`]}`, segment.MaxDepth)
	_, err = segment.Parse([]byte(doc))
	require.ErrorAs(t, err, &ce)
	require.Equal(t, path, ce.Path)
	require.ErrorContains(t, err, tooDeep)

	// Far deeper JSON is refused before it is decoded.
	doc = strings.Repeat(`{"not":`, 9000) + `{"tag":"vip","op":"has"}` + strings.Repeat(`}`, 9000)
	_, err = segment.Parse([]byte(doc))
	require.ErrorAs(t, err, &ce)
	require.ErrorContains(t, err, tooDeep)

	// A cycle built in Go is refused, not followed forever.
	cyclic := segment.Condition{}
	cyclic.Any = []segment.Condition{{Not: &cyclic}}
	_, err = json.Marshal(cyclic)
	require.True(t, errors.As(err, &ce), "%v", err)
	require.ErrorContains(t, err, tooDeep)
}

// BenchmarkMarshalNested encodes conditions nested 10 and 100 deep: the
// time per level stays flat (see ns/level), where returning each level
// from its own MarshalJSON made it grow with the depth.
func BenchmarkMarshalNested(b *testing.B) {
	for _, depth := range []int{10, segment.MaxDepth} {
		c := nested(depth)
		b.Run(fmt.Sprint("depth=", depth), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := json.Marshal(c); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(depth), "ns/level")
		})
	}
}

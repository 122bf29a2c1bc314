package wall_test

import (
	"testing"

	"github.com/flowkit/flowkit/internal/wall"
	"github.com/stretchr/testify/require"
)

func TestLoadLocation(t *testing.T) {
	a, err := wall.LoadLocation("America/New_York")
	require.NoError(t, err)
	b, err := wall.LoadLocation("America/New_York")
	require.NoError(t, err)
	require.Same(t, a, b, "locations are cached")
	_, err = wall.LoadLocation("Mars/Olympus_Mons")
	require.Error(t, err)
}

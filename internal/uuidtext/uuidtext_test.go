package uuidtext_test

import (
	"testing"

	"github.com/flowkit/flowkit/internal/uuidtext"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

func TestAppendIsString(t *testing.T) {
	for range 100 {
		id := uuid.New()
		require.Equal(t, "x:"+id.String(), string(uuidtext.Append([]byte("x:"), id)))
	}
	require.Zero(t, testing.AllocsPerRun(100, func() {
		var buf [36]byte
		_ = uuidtext.Append(buf[:0], uuid.Nil)
	}))
}

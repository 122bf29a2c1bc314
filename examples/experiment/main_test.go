package main

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The test runs to a winner: the story email, significantly better than
// the control; every later sign-up takes it; the control group got no
// email. The split is by participant id, so the exact counts vary from
// run to run.
func TestExperiment(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out))
	text := out.String()
	t.Log("\n" + text)
	require.Contains(t, text, ": story wins\n")
	require.Contains(t, text, "(every variant had 600 participants)")
	require.Contains(t, text, "Later sign-ups: 20 of 20 took story\n")
	require.Regexp(t, `Control group: [1-9]\d* people, 0 emails\n`, text)
	m := regexp.MustCompile(`story +(\d+) people, +(\d+) bought: +([\d.]+)% \[ *([\d.]+)%, +([\d.]+)%\], lift \+\d+%, p = [\d.]+, significant`).FindStringSubmatch(text)
	require.NotNil(t, m, "story's figures")
	low, _ := strconv.ParseFloat(m[4], 64)
	high, _ := strconv.ParseFloat(m[5], 64)
	require.True(t, low <= 12 && 12 <= high, "the true 12%% inside [%v, %v]", low, high)
	require.True(t, strings.Contains(text, "control (control)"))
}

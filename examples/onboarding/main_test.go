package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// benTimeline is what happens to Ben, who signs up in New York on the
// Friday before the US moves its clocks forward: his "1 day, until 09:00"
// pause ends at 09:00 daylight time on the Sunday of the switch.
const benTimeline = `
Ben Carter (America/New_York)
  Fri 06 Mar 23:15 EST  tag-signup       -> next  tagged "new-signup"
  Fri 06 Mar 23:15 EST  remember-plan    -> next  set plan = "starter", welcomePoints = "100"
  Fri 06 Mar 23:15 EST  welcome-profile  -> next  profile plan = "starter", onboardingStage = "welcome", points = "100"
  Fri 06 Mar 23:15 EST  next-morning     waits    pause 1 day, until 09:00: until Sun 2026-03-08 09:00 EDT
  Sun 08 Mar 09:00 EDT  next-morning     -> next  pause over: 1 day, until 09:00
  Sun 08 Mar 09:00 EDT  day-one          -> next  profile onboardingStage = "day-1"
  Sun 08 Mar 09:00 EDT  untag-signup     -> next  removed tag "new-signup"
  Sun 08 Mar 09:00 EDT  tag-onboarding   -> next  tagged "onboarding-starter"
  Sun 08 Mar 09:00 EDT  a-week-later     waits    pause 7 days, until 09:00: until Sun 2026-03-15 09:00 EDT
  Sun 15 Mar 09:00 EDT  a-week-later     -> next  pause over: 7 days, until 09:00
  Sun 15 Mar 09:00 EDT  score            -> next  set activationScore = "1"
  Sun 15 Mar 09:00 EDT  week-one         -> next  profile onboardingStage = "week-1", points = "110"
  Sun 15 Mar 09:00 EDT  monday           waits    pause Monday 10:00: until Mon 2026-03-16 10:00 EDT
  Mon 16 Mar 10:00 EDT  monday           -> next  pause over: Monday 10:00
  Mon 16 Mar 10:00 EDT  graduate         -> next  profile onboardingStage = "onboarded", onboardedAt = "2026-03-16T14:00:00Z"
  Mon 16 Mar 10:00 EDT  untag-onboarding -> next  removed tag "onboarding-starter"
  Mon 16 Mar 10:00 EDT  tag-onboarded    -> next  tagged "onboarded"
  Mon 16 Mar 10:00 EDT  done             leaves   onboarding complete
  now: completed; stage onboarded, 110 points, tags [onboarded]
`

// chenEnd is where Chen, who signs up late in March in Tokyo, stands when
// the 30 days are over: no plan on her sign-up, so the formula's default.
const chenEnd = `
  Fri 27 Mar 09:00 JST  a-week-later     waits    pause 7 days, until 09:00: until Fri 2026-04-03 09:00 JST
  now: waiting at a-week-later until Fri 03 Apr 09:00 JST; stage day-1, 100 points, tags [onboarding-free]
`

func TestRun(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(&out))
	got := out.String()
	t.Log("\n" + got)

	require.True(t, strings.HasPrefix(got, "Onboarding, 1 Mar to 31 Mar 2026: 7 timers fired\n"), got)
	require.Contains(t, got, benTimeline)
	require.Contains(t, got, chenEnd)
	// Ana, in Zagreb, is a pro: more points, and her pauses keep to her
	// own mornings.
	require.Contains(t, got, "\nAna Horvat (Europe/Zagreb)\n  Mon 02 Mar 18:40 CET  tag-signup ")
	require.Contains(t, got, "  Wed 04 Mar 09:00 CET  next-morning     -> next  pause over: 1 day, until 09:00\n")
	require.Contains(t, got, "  now: completed; stage onboarded, 650 points, tags [onboarded]\n")

	// The simulation is deterministic: a second run prints the same.
	var again bytes.Buffer
	require.NoError(t, run(&again))
	require.Equal(t, got, again.String())
}

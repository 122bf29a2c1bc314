package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/flowkit/flowkit/internal/browsertest"
	"github.com/stretchr/testify/require"
)

func TestBrowserShowsCountsAndJourney(t *testing.T) {
	s, srv := newTestShop(t, 200)
	ctx := browsertest.Start(t)
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

	var st stats
	getJSON(t, srv.URL+"/console/api/flows/abandoned-cart/versions/1/stats", &st)
	entered, waiting, left := st.of("wait-order")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/"), // redirects to /console/
		chromedp.WaitVisible(chromedp.CSS(`#graph[data-loaded="1"]`)),
	))
	count := func(element, key string) int64 {
		t.Helper()
		text, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(`.node[data-element="`+element+`"] [data-count="`+key+`"]`)))
		require.NoError(t, err)
		n, err := strconv.ParseInt(strings.ReplaceAll(text, ",", ""), 10, 64)
		require.NoError(t, err, "count %q", text)
		return n
	}
	require.Equal(t, entered, count("wait-order", "entered"), "the page shows the server's count")
	require.Equal(t, waiting, count("wait-order", "waiting"))
	require.EqualValues(t, s.n, count("wait-order", "entered"), "every shopper")
	label, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(`[data-left="wait-order:timeout"]`)))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(label, "timeout"+strconv.FormatInt(left["timeout"], 10)+" ("), "left by branch on the edge, with its share: %q", label)

	// Ben's journey: found by email, told in words.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#search-key"), "email"),
		chromedp.SendKeys(chromedp.CSS("#search-value"), "ben@example.com"),
		chromedp.Click(chromedp.CSS(`#search button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#timeline li")),
	))
	journey, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#timeline")))
	require.NoError(t, err)
	for _, want := range []string{"wait-order → timeout", "within 4 hours", "remind → sent", "wait-again → occurred", "came back after the reminder"} {
		require.Contains(t, journey, want)
	}
	name, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#person h3")))
	require.NoError(t, err)
	require.Equal(t, "Ben", name)

	// Clicking an element lists the participants there.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`.node[data-element="lost"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#participants[data-element="lost"] tr[data-participant]`)),
	))
	filter, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#participants-filter")))
	require.NoError(t, err)
	require.Equal(t, "at lost · all versions", filter)

	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(shot, []byte("\x89PNG")), "a PNG")
	file := filepath.Join(t.TempDir(), "console.png")
	if dir := os.Getenv("FLOWKIT_SCREENSHOT_DIR"); dir != "" {
		file = filepath.Join(dir, "console.png")
	}
	require.NoError(t, os.WriteFile(file, shot, 0o644))
	t.Logf("screenshot: %s (%d bytes)", file, len(shot))
}

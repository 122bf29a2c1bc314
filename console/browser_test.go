package console_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
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

// TestBrowserLargeFlow loads the page of a 100-element flow with 100,000
// participants (10,000 with -short), reads an element's counts and a
// participant's journey, and logs how long the page took to show its
// counts.
func TestBrowserLargeFlow(t *testing.T) {
	n := bigPopulation()
	h, _ := bigFlow(t, n)
	srv := httptest.NewServer(h)
	defer srv.Close()
	ctx := browsertest.Start(t)
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	start := time.Now()
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/?flow=big"),
		chromedp.WaitVisible(chromedp.CSS(`#graph[data-loaded="1"]`)),
	))
	loaded := time.Since(start)
	t.Logf("page of %d elements and %d participants showed its counts in %v", bigElements, n, loaded)
	require.Less(t, loaded, 10*time.Second, "a generous bound: the machine is shared")

	nodes, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#graph .node").length`))
	require.NoError(t, err)
	require.Equal(t, bigElements, nodes, "every element drawn")

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, newRequest("GET", "/api/flows/big/versions/1/stats"))
	var st struct {
		Elements []struct {
			ID               string
			Entered, Waiting int64
		}
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &st))
	count := func(element, key string) int64 {
		t.Helper()
		text, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(`.node[data-element="`+element+`"] [data-count="`+key+`"]`)))
		require.NoError(t, err)
		v, err := strconv.ParseInt(strings.ReplaceAll(text, ",", ""), 10, 64)
		require.NoError(t, err, "count %q", text)
		return v
	}
	require.EqualValues(t, n, count("split", "entered"))
	var sum int64
	for _, e := range st.Elements {
		if e.ID == "hold-42" {
			require.Positive(t, e.Waiting)
			require.Equal(t, e.Entered, count("hold-42", "entered"))
			require.Equal(t, e.Waiting, count("hold-42", "waiting"))
		}
		sum += e.Waiting
	}
	require.EqualValues(t, n, sum, "everyone waits somewhere")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`.node[data-element="hold-42"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#participants[data-element="hold-42"] li[data-participant]`)),
		chromedp.Click(chromedp.CSS(`#participants[data-element="hold-42"] li[data-participant]`)),
		// The list refreshes live: wait for the journey of a participant
		// at hold-42, not for whichever timeline shows first.
		chromedp.Poll[chromedp.Void](`((document.querySelector("#timeline") || {}).textContent || "").includes("hold-42")`, chromedp.WithPollingTimeout(30*time.Second)),
	))
	journey, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#timeline")))
	require.NoError(t, err)
	require.Contains(t, journey, "split → v42")
	require.Contains(t, journey, "hold-42")

	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "large-flow.png")
	if dir := os.Getenv("FLOWKIT_SCREENSHOT_DIR"); dir != "" {
		file = filepath.Join(dir, "large-flow.png")
	}
	require.NoError(t, os.WriteFile(file, shot, 0o644))
	t.Logf("screenshot: %s (%d bytes)", file, len(shot))
}

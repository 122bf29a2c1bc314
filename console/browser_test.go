package console_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/flowkit/flowkit/console"
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
		chromedp.WaitVisible(chromedp.CSS(`#participants[data-element="hold-42"] tr[data-participant]`)),
		chromedp.Click(chromedp.CSS(`#participants[data-element="hold-42"] tr[data-participant]`)),
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

// serveConsole serves h under /console/ with a sign-in page at /login, as
// a host does.
func serveConsole(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/console/", http.StripPrefix("/console", h))
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, `<!doctype html><title>Sign in</title><h1 id="login">Sign in to the shop</h1>`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// TestBrowserAccess drives the page as users the host lets do different
// things: the page shows each only what they may see and use.
func TestBrowserAccess(t *testing.T) {
	browser := browsertest.Start(t)
	open := func(t *testing.T, url string) context.Context {
		t.Helper()
		ctx, cancel := context.WithTimeout(browser, 60*time.Second)
		t.Cleanup(cancel)
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Navigate(url),
			chromedp.WaitVisible(chromedp.CSS(`#graph[data-loaded="1"]`)),
		))
		return ctx
	}
	eval := func(t *testing.T, ctx context.Context, js string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		require.NoError(t, err, js)
		return v
	}
	const buttons = `[...document.querySelectorAll("#actions button")].filter((b) => b.offsetParent !== null).map((b) => b.dataset.action).join()`

	t.Run("a read-only user sees no lifecycle buttons", func(t *testing.T) {
		reader := console.Options{Authorize: func(_ *http.Request, a console.Access) bool {
			return a.Action == console.Read || a.Action == console.ReadPeople
		}}
		srv := serveConsole(t, twoFlows(t, reader).h)
		ctx := open(t, srv.URL+"/console/?flow=cart")
		require.Equal(t, "", eval(t, ctx, buttons))
		require.Equal(t, "active", eval(t, ctx, `document.querySelector("#status").textContent`))
		require.Equal(t, "true", eval(t, ctx, `String(!document.querySelector("#search-panel").hidden)`), "people may be looked up")
	})

	t.Run("an operator sees only the buttons of their actions", func(t *testing.T) {
		operator := console.Options{Authorize: func(_ *http.Request, a console.Access) bool {
			return a.Action == console.Read || a.FlowID == "cart" && (a.Action == console.Pause || a.Action == console.Resume)
		}}
		fx := twoFlows(t, operator)
		srv := serveConsole(t, fx.h)
		ctx := open(t, srv.URL+"/console/?flow=cart")
		require.Equal(t, "pause", eval(t, ctx, buttons), "no Resume on an active flow")
		eval(t, ctx, `window.confirm = () => true; "answered"`) // every action asks first
		require.Equal(t, "false", eval(t, ctx, `String(!document.querySelector("#search-panel").hidden)`), "no person search without readPeople")
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS(`#actions button[data-action="pause"]`)),
			chromedp.Poll[chromedp.Void](`document.querySelector("#status").textContent === "paused"`, chromedp.WithPollingTimeout(10*time.Second)),
		))
		info, err := fx.eng.Flow(context.Background(), "cart")
		require.NoError(t, err)
		require.Equal(t, "paused", string(info.Status), "the button paused the flow")
		require.Equal(t, "resume", eval(t, ctx, buttons), "a paused flow offers Resume")

		ctx = open(t, srv.URL+"/console/?flow=vip")
		require.Equal(t, "vip", eval(t, ctx, `document.querySelector("#flow").value`))
		require.Equal(t, "", eval(t, ctx, buttons), "no actions on vip")
	})

	t.Run("a user allowed one flow sees only that flow", func(t *testing.T) {
		srv := serveConsole(t, twoFlows(t, cartReader).h)
		ctx := open(t, srv.URL+"/console/?flow=vip")
		require.Equal(t, "cart", eval(t, ctx, `[...document.querySelectorAll("#flow option")].map((o) => o.value).join()`))
		require.Equal(t, "cart", eval(t, ctx, `document.querySelector("#flow").value`), "asking for vip shows cart")
		require.Equal(t, "wait-order,remind,bought,lost", eval(t, ctx, `[...document.querySelectorAll("#graph .node")].map((n) => n.dataset.element).join()`))

		require.NoError(t, chromedp.Do(ctx,
			chromedp.SetValue(chromedp.CSS("#search-key"), "externalId"),
			chromedp.SendKeys(chromedp.CSS("#search-value"), "shopper-1"),
			chromedp.Click(chromedp.CSS(`#search button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS("#person li[data-participation]")),
			chromedp.Poll[chromedp.Void](`document.querySelectorAll("#history tbody tr").length > 0`, chromedp.WithPollingTimeout(10*time.Second)),
		))
		parts := eval(t, ctx, `[...document.querySelectorAll("#person li[data-participation]")].map((li) => li.textContent).join("\n")`)
		require.Equal(t, 2, strings.Count(parts, "cart v"), parts)
		require.NotContains(t, parts, "vip")
		history := eval(t, ctx, `document.querySelector("#history").textContent`)
		require.Contains(t, history, "VipSignup", "the person's own events")
		require.NotContains(t, history, `"vip"`, "no events of vip")
	})

	t.Run("a signed-out user gets a sign-in link", func(t *testing.T) {
		var signedIn atomic.Bool
		signedIn.Store(true)
		srv := serveConsole(t, newFixture(t, console.Options{
			SignedIn:  func(*http.Request) bool { return signedIn.Load() },
			LoginURL:  "/login",
			Authorize: func(*http.Request, console.Access) bool { return true },
		}).h)
		ctx := open(t, srv.URL+"/console/")
		signedIn.Store(false) // the session ends while the page is open
		require.NoError(t, chromedp.Do(ctx,
			chromedp.WaitVisible(chromedp.CSS("#message a#sign-in")),
		))
		require.Equal(t, srv.URL+"/login", eval(t, ctx, `document.querySelector("#sign-in").href`))
		require.Contains(t, eval(t, ctx, `document.querySelector("#message").textContent`), "not signed in")
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS("#sign-in")),
			chromedp.WaitVisible(chromedp.CSS("#login")),
		))

		// Coming to the page signed out leads to the sign-in page.
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Navigate(srv.URL+"/console/"),
			chromedp.WaitVisible(chromedp.CSS("#login")),
		))
		require.Equal(t, srv.URL+"/login", eval(t, ctx, `location.href`))

		// Signed in again, the page works and the link goes away.
		signedIn.Store(true)
		ctx = open(t, srv.URL+"/console/")
		require.Equal(t, "true", eval(t, ctx, `String(document.querySelector("#message").hidden)`))
	})
}

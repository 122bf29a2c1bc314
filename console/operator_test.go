package console_test

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/flowkit/flowkit/clock"
	"github.com/flowkit/flowkit/console"
	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/internal/browsertest"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	"github.com/stretchr/testify/require"
)

// promoFlow has every part the canvas draws: two entries, an exit rule,
// a goal, a Split Audience and a Call API that reads a host setting.
const promoFlow = `{
  "id": "promo", "name": "Spring promo", "timezone": "Europe/Zagreb",
  "entries": [{"type": "api"}, {"type": "event", "event": {"category": "external", "name": "SignedUp"}}],
  "exitRules": [{"name": "unsubscribed", "event": {"category": "external", "name": "Unsubscribed"}}],
  "goals": [{"name": "purchase", "event": {"category": "external", "name": "Purchased"}}],
  "elements": [
    {"id": "split", "type": "splitAudience", "variants": [{"name": "a", "percent": 50}, {"name": "b", "percent": 50}], "next": {"a": "hold", "b": "notify"}},
    {"id": "hold", "type": "pause", "mode": "for", "period": {"amount": 1, "unit": "days"}, "next": {"next": "done"}},
    {"id": "notify", "type": "callApi", "url": "https://api.example.com/notify", "headers": {"X-Api-Key": "{{env.API_TOKEN}}"}, "next": {"2xx": "done"}},
    {"id": "done", "type": "exit"}
  ]
}`

// secretToken is the host setting the promo flow reads: it never reaches
// the page.
const secretToken = "s3cr3t-token-4711"

// xssName is a stored first name that must show as text.
const xssName = `<img src=x onerror="window.__xss=1">`

// failingAPI cannot be reached, so the promo's Call API fails its
// participants with the reason recorded.
type failingAPI struct{}

func (failingAPI) Do(*http.Request) (*http.Response, error) {
	return nil, errors.New("dial tcp: connection refused")
}

// promoPeople is how many people enter the promo.
const promoPeople = 30

// newPromo returns an engine with the promo flow: promoPeople people
// entered, even members waiting at hold, odd ones failed at notify (the
// API cannot be reached); members 0 to 4 bought (the three still in the
// flow converted) and member 6 unsubscribed.
func newPromo(t testing.TB, s store.Store) *flow.Engine {
	t.Helper()
	ctx := context.Background()
	clk := clock.NewFake(t0)
	eng, err := flow.NewEngine(flow.Config{Store: s, Clock: clk, Schema: store.Schema{"plan": store.Text}, Ports: flow.Ports{HTTP: failingAPI{},
		Settings: func(name string) (string, bool) { return secretToken, name == "API_TOKEN" },
		// Even members wait at hold, odd ones call notify.
		Variants: func(_, _ string, p *store.Person) (string, bool) {
			var i int
			fmt.Sscanf(p.ExternalID, "member-%d", &i)
			return []string{"a", "b"}[i%2], true
		}}})
	require.NoError(t, err)
	f, err := flow.Parse([]byte(promoFlow))
	require.NoError(t, err)
	_, err = eng.Publish(ctx, f)
	require.NoError(t, err)
	require.NoError(t, eng.Activate(ctx, "promo"))
	for i := range promoPeople {
		who := store.PersonRef{ExternalID: fmt.Sprintf("member-%02d", i)}
		_, err := eng.UpdatePerson(ctx, who, func(p *store.Person) error {
			p.FirstName, p.LastName = fmt.Sprint("Member ", i), "Horvat"
			if i == 7 {
				p.FirstName = xssName
			}
			p.Emails = []string{fmt.Sprintf("m%02d@example.com", i)}
			p.Attributes = map[string]any{"plan": []string{"gold", "free"}[i%2]}
			return nil
		})
		require.NoError(t, err)
		_, err = eng.Enter(ctx, "promo", who, nil)
		require.NoError(t, err)
	}
	deliver := func(i int, name string) {
		require.NoError(t, eng.Deliver(ctx, &store.Event{ID: fmt.Sprintf("%s-%d", name, i), Person: store.PersonRef{ExternalID: fmt.Sprintf("member-%02d", i)},
			Category: store.External, Name: name}))
	}
	for i := range 5 {
		deliver(i, "Purchased")
	}
	deliver(6, "Unsubscribed")
	return eng
}

//go:embed testdata/experiments.json
var experimentsFixture []byte

// withExperiments adds the experiment results of testdata/experiments.json
// to the console's statistics, as the engine's experiments provide them.
func withExperiments(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/stats") {
			h.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		var st map[string]any
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &st) != nil {
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
			return
		}
		var xs []any
		if err := json.Unmarshal(experimentsFixture, &xs); err != nil {
			panic(err)
		}
		st["experiments"] = xs
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(st)
	})
}

// page is one open console page in the test's browser.
type consolePage struct {
	t   *testing.T
	ctx context.Context
}

// openPage opens url in a new tab and waits for the counts.
func openPage(t *testing.T, browser context.Context, url string) *consolePage {
	t.Helper()
	tab, cancelTab := chromedp.NewContext(browser)
	ctx, cancel := context.WithTimeout(tab, 90*time.Second)
	t.Cleanup(func() { cancel(); cancelTab() })
	require.NoError(t, chromedp.Do(ctx,
		chromedp.EmulateViewport(1400, 1000),
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS(`#graph[data-loaded="1"]`)),
	))
	return &consolePage{t: t, ctx: ctx}
}

func (p *consolePage) eval(js string) string {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](js))
	require.NoError(p.t, err, js)
	return v
}

func (p *consolePage) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	require.NoError(p.t, chromedp.Do(p.ctx, actions...))
}

func (p *consolePage) until(js string) {
	p.t.Helper()
	p.do(chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(20*time.Second)))
}

// answerConfirms makes the page's confirm questions answer accept from
// now on, and keeps their texts for asked.
func (p *consolePage) answerConfirms(accept bool) {
	p.t.Helper()
	p.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`window.__asked = []; window.confirm = (m) => { window.__asked.push(m); return %v; }`, accept)))
}

// asked returns the confirm questions the page asked.
func (p *consolePage) asked() string { return p.eval(`window.__asked.join("\n")`) }

// screenshot writes the page to console/testdata/<name> when
// FLOWKIT_SCREENSHOTS is set (see the package's README section), else to
// the test's temporary directory.
func (p *consolePage) screenshot(name string) {
	p.t.Helper()
	shot, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	require.NoError(p.t, err)
	dir := p.t.TempDir()
	if os.Getenv("FLOWKIT_SCREENSHOTS") != "" {
		dir = "testdata"
	}
	require.NoError(p.t, os.WriteFile(filepath.Join(dir, name), shot, 0o644))
}

func (p *consolePage) count(element, key string) string {
	return p.eval(`document.querySelector('.node[data-element="` + element + `"] [data-count="` + key + `"]').textContent`)
}

// operator may do everything and is named in the audit trail.
var operator = console.Options{
	Authorize: func(*http.Request, console.Access) bool { return true },
	User:      func(*http.Request) string { return "ops@example.com" },
}

// reader may read flows and people and do nothing else.
var reader = console.Options{Authorize: func(_ *http.Request, a console.Access) bool {
	return a.Action == console.Read || a.Action == console.ReadPeople
}}

// TestBrowserOperator drives the console as an operator would, on the
// memory store and, when FLOWKIT_TEST_POSTGRES names a database, on
// PostgreSQL.
func TestBrowserOperator(t *testing.T) {
	browser := browsertest.Start(t)
	stores := []struct {
		name string
		mk   storeMaker
	}{{"memory", func(testing.TB) store.Store { return memory.New() }}, {"postgres", postgresStore}}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			t.Run("AllVersionsByDefault", func(t *testing.T) { testAllVersions(t, browser, st.mk) })
			t.Run("OutcomesOnTheCanvas", func(t *testing.T) { testOutcomes(t, browser, st.mk, st.name == "memory") })
			t.Run("PeopleByName", func(t *testing.T) { testPeople(t, browser, st.mk, st.name == "memory") })
			t.Run("ActionsByStatusAndRights", func(t *testing.T) { testActions(t, browser, st.mk) })
			t.Run("Migration", func(t *testing.T) { testMigration(t, browser, st.mk) })
		})
	}
}

// The page opens on every version at once; picking a version filters the
// counts and the list, and the link keeps it.
func testAllVersions(t *testing.T, browser context.Context, mk storeMaker) {
	fx := newFixtureOn(t, mk(t), readAll)
	srv := serveConsole(t, fx.h)
	p := openPage(t, browser, srv.URL+"/console/?flow=cart")
	require.Equal(t, "0", p.eval(`document.querySelector("#version").value`), "every version by default")
	require.Contains(t, p.eval(`document.querySelector("#version").selectedOptions[0].textContent`), "All versions · 4 in flow")
	require.Equal(t, "14", p.count("wait-order", "entered"), "10 on v1 and 4 on v2")
	require.Equal(t, "4", p.count("wait-order", "waiting"), "the 4 waiting on v2 show")
	p.until(`document.querySelector("#participants-total").textContent === "14 participants"`)
	p.screenshot("overview.png")

	p.do(chromedp.SetValue(chromedp.CSS("#version"), "1"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#version").dispatchEvent(new Event("change"))`))
	p.until(`document.querySelector("#participants").dataset.version === "1" && document.querySelector("#participants-total").textContent === "10 participants"`)
	p.until(`document.querySelector('.node[data-element="wait-order"] [data-count="entered"]').textContent === "10"`)
	require.Equal(t, "0", p.count("wait-order", "waiting"))
	versions := p.eval(`[...new Set([...document.querySelectorAll("#participants tr[data-participant] .version")].map((s) => s.textContent.trim()))].join()`)
	require.Equal(t, "v1", versions, "the list shows v1's participants only")
	require.Contains(t, p.eval(`location.search`), "version=1", "the link names the version")

	// A deep link to an element of a version opens it.
	p = openPage(t, browser, srv.URL+"/console/?flow=cart&version=2&element=wait-order")
	require.Equal(t, "2", p.eval(`document.querySelector("#version").value`))
	p.until(`!document.querySelector("#element-panel").hidden && document.querySelector("#participants-total").textContent === "4 participants at wait-order"`)
}

// The canvas shows entries, exit rules and goals, counts with
// conversions and percentages, an experiment's results, and an element's
// configuration with settings as placeholders.
func testOutcomes(t *testing.T, browser context.Context, mk storeMaker, shots bool) {
	eng := newPromo(t, mk(t))
	srv := serveConsole(t, withExperiments(console.Handler(eng, operator)))
	p := openPage(t, browser, srv.URL+"/console/?flow=promo")
	require.Equal(t, "enter: api,enter: event: SignedUp", p.eval(`[...document.querySelectorAll("#graph .entry text")].map((x) => x.textContent).join()`))
	// Those who bought while in the flow converted: those sent to notify
	// had left it by then.
	st, err := eng.Stats(t.Context(), "promo")
	require.NoError(t, err)
	var exits int64
	for _, es := range st {
		exits += es.ExitRules["unsubscribed"]
	}
	require.Equal(t, fmt.Sprintf("%d exits", exits), p.eval(`document.querySelector('[data-rule-count="unsubscribed"]').textContent`))
	conv := st["split"].Conversions["purchase"]
	require.Positive(t, conv)
	share := fmt.Sprintf("%.1f%%", 100*float64(conv)/promoPeople)
	require.Equal(t, fmt.Sprintf("%d conversions (%s)", conv, share), p.eval(`document.querySelector('[data-goal-count="purchase"]').textContent`))
	require.Equal(t, fmt.Sprint(promoPeople), p.count("split", "entered"))
	require.Contains(t, p.count("split", "outcomes"), fmt.Sprintf("conv %d (%s)", conv, share))
	require.Contains(t, p.eval(`document.querySelector('[data-left="split:a"] .edge-count').textContent`),
		fmt.Sprintf("conv %.1f%%", 100*float64(st["split"].BranchConversions["a"]["purchase"])/float64(st["split"].Left["a"])), "a branch's conversion rate")
	a := p.eval(`document.querySelector('[data-left="split:a"] .edge-count').textContent`)
	b := p.eval(`document.querySelector('[data-left="split:b"] .edge-count').textContent`)
	require.Regexp(t, `^\d+ \(\d+(\.\d)?%\)`, a, "each branch shows how many and what share")
	require.Regexp(t, `^\d+ \(\d+(\.\d)?%\)`, b)
	require.NotEqual(t, "0", p.count("notify", "errors"), "the calls fail at notify")
	require.Contains(t, p.count("notify", "outcomes"), "drop 100%", "no one goes on from notify")

	// The Split Audience's experiment, on the node and in its panel.
	require.Equal(t, "A/B v1: winner b", p.count("split", "experiment"))
	p.do(chromedp.Click(chromedp.CSS(`.node[data-element="split"]`)))
	p.until(`!!document.querySelector('#element-body table.experiment tr[data-variant="b"]')`)
	row := p.eval(`document.querySelector('#element-body table.experiment tr[data-variant="b"]').textContent`)
	require.Contains(t, row, "12.5%", "rate")
	require.Contains(t, row, "9.1% – 16.8%", "interval")
	require.Contains(t, row, "+56.3%", "lift")
	require.Contains(t, row, "significant")
	require.Contains(t, p.eval(`document.querySelector('#element-body table.experiment caption').textContent`), "winner b")
	require.Equal(t, "winner", p.eval(`document.querySelector('#element-body table.experiment tr[data-variant="b"]').className`))
	if shots {
		p.screenshot("experiment.png")
	}

	// The Call API's configuration names its setting, never its value.
	p.do(chromedp.Click(chromedp.CSS(`.node[data-element="notify"]`)))
	p.until(`(document.querySelector("#element-config") || {}).textContent?.includes("api.example.com")`)
	require.Equal(t, "{{env.API_TOKEN}}", p.eval(`document.querySelector("#element-config mark.setting").textContent`))
	require.NotContains(t, p.eval(`document.documentElement.outerHTML`), secretToken)
	require.Equal(t, "true", p.eval(`String(document.querySelector("#minimap").hasAttribute("hidden"))`), "a small flow needs no minimap")
}

// Lists show who each participant is, a total, pages both ways, failure
// reasons; the journey opens in view; the person page has every
// attribute; times carry the flow's zone; stored markup stays text.
func testPeople(t *testing.T, browser context.Context, mk storeMaker, shots bool) {
	eng := newPromo(t, mk(t))
	srv := serveConsole(t, console.Handler(eng, operator))
	p := openPage(t, browser, srv.URL+"/console/?flow=promo")
	p.until(`document.querySelector("#participants-total").textContent === "30 participants"`)
	first := p.eval(`[...document.querySelectorAll("#participants tr[data-participant]")].map((r) => r.dataset.participant).join()`)
	require.Len(t, strings.Split(first, ","), 25)
	require.Equal(t, "member-00", p.eval(`document.querySelector("#participants tr[data-participant] .who").textContent`))
	require.Contains(t, p.eval(`document.querySelector("#participants tr[data-participant] .contact").textContent`), "m00@example.com")
	require.Contains(t, p.eval(`document.querySelector("#participants tr[data-participant] .since").textContent`), "Europe/Zagreb", "times carry the flow's zone")
	require.Equal(t, "true", p.eval(`String(document.querySelector("#participants-prev").disabled)`))

	p.do(chromedp.Click(chromedp.CSS("#participants-next")))
	p.until(`document.querySelectorAll("#participants tr[data-participant]").length === 5`)
	p.do(chromedp.Click(chromedp.CSS("#participants-prev")))
	p.until(`document.querySelectorAll("#participants tr[data-participant]").length === 25`)
	require.Equal(t, first, p.eval(`[...document.querySelectorAll("#participants tr[data-participant]")].map((r) => r.dataset.participant).join()`), "back to the first page")

	p.do(chromedp.SetValue(chromedp.CSS("#participants-sort"), "newest"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#participants-sort").dispatchEvent(new Event("change"))`))
	p.until(`document.querySelector("#participants tr[data-participant] .who").textContent === "member-29"`)

	p.do(chromedp.SetValue(chromedp.CSS("#participants-status"), "failed"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#participants-status").dispatchEvent(new Event("change"))`))
	p.until(`document.querySelectorAll("#participants tr[data-participant]").length > 0 && [...document.querySelectorAll("#participants tr[data-participant]")].every((r) => r.querySelector(".badge").textContent === "failed")`)
	require.Contains(t, p.eval(`document.querySelector("#participants [data-reason]").textContent`), "connection refused", "a failed row says why")

	// Stored markup is text.
	require.Equal(t, "undefined", p.eval(`String(window.__xss)`))
	require.Equal(t, "0", p.eval(`String(document.querySelectorAll("#participants img, #person img").length)`))

	// The journey opens in view.
	p.do(chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0); document.querySelector("aside").scrollTop = 400`),
		chromedp.Click(chromedp.CSS("#participants tr[data-participant]")))
	p.until(`!!document.querySelector("#timeline [data-step]")`)
	p.until(`(() => { const r = document.querySelector("#journey-panel").getBoundingClientRect(); return r.top >= 0 && r.top < innerHeight - 100; })()`)
	require.Contains(t, p.eval(`document.querySelector("#journey").textContent`), "Europe/Zagreb")
	require.Contains(t, p.eval(`location.search`), "participant=", "the link names the participant")
	if shots {
		p.screenshot("journey.png")
	}

	// The person page: every attribute, custom ones included, and events
	// as a table.
	p.do(chromedp.SendKeys(chromedp.CSS("#search-value"), "member-07"), chromedp.Click(chromedp.CSS(`#search button[type="submit"]`)))
	p.until(`!!document.querySelector('#person-attributes tr[data-attribute="plan"]')`)
	require.Equal(t, "planfree", p.eval(`document.querySelector('#person-attributes tr[data-attribute="plan"]').textContent`))
	require.Equal(t, "first name"+xssName, p.eval(`document.querySelector('#person-attributes tr[data-attribute="first name"]').textContent`))
	require.Equal(t, "undefined", p.eval(`String(window.__xss)`))
	p.until(`document.querySelectorAll("#history tbody tr").length > 0`)
	require.Contains(t, p.eval(`document.querySelector("#history tbody").textContent`), "entered")
	require.Contains(t, p.eval(`location.search`), "person=")
}

// Actions show by status and right, ask before acting, and land in the
// audit trail; participants are canceled and retried one by one.
func testActions(t *testing.T, browser context.Context, mk storeMaker) {
	s := mk(t)
	eng := newPromo(t, s)
	srv := serveConsole(t, console.Handler(eng, reader))
	const visible = `[...document.querySelectorAll("#actions button, #participants button, #bulk button, #open-migration")].filter((b) => b.offsetParent !== null && !b.hidden).map((b) => b.dataset.action || b.dataset.rowAction || b.id).join()`
	p := openPage(t, browser, srv.URL+"/console/?flow=promo")
	p.until(`document.querySelectorAll("#participants tr[data-participant]").length > 0`)
	require.Equal(t, "", p.eval(visible), "a reader sees no button that changes anything")

	srv = serveConsole(t, console.Handler(eng, operator))
	p = openPage(t, browser, srv.URL+"/console/?flow=promo")
	p.until(`document.querySelectorAll("#participants tr[data-participant]").length > 0`)
	require.Equal(t, "pause,finish,cancel", p.eval(`[...document.querySelectorAll("#actions button")].map((b) => b.dataset.action).join()`),
		"no Activate on an active flow")

	p.answerConfirms(false)
	p.do(chromedp.Click(chromedp.CSS(`#actions button[data-action="finish"]`)))
	p.until(`window.__asked.length === 1`)
	require.Contains(t, p.asked(), "Finish the flow?", "Finish asks first")
	info, err := eng.Flow(t.Context(), "promo")
	require.NoError(t, err)
	require.Equal(t, store.FlowActive, info.Status, "a dismissed Finish does nothing")

	// Cancel one waiting participant.
	p = openPage(t, browser, srv.URL+"/console/?flow=promo&element=hold")
	p.answerConfirms(true)
	p.until(`!!document.querySelector('#participants tr[data-participant] button[data-row-action="cancel"]')`)
	target := p.eval(`document.querySelector('#participants tr[data-participant]').dataset.participant`)
	p.do(chromedp.Click(chromedp.CSS(`#participants tr[data-participant] button[data-row-action="cancel"]`)))
	p.until(`(document.querySelector("[data-journey-status]") || {}).dataset?.journeyStatus === "canceled"`)
	ps, err := eng.Participants(t.Context(), store.ParticipantQuery{FlowID: "promo", Statuses: []store.Status{store.Canceled}})
	require.NoError(t, err)
	require.Len(t, ps, 1)
	require.Equal(t, target, ps[0].ID.String(), "that participant alone")

	// Retry a failed one: the API still fails, and it is failed again,
	// once more in its journal.
	p.do(chromedp.Click(chromedp.CSS(`.node[data-element="notify"]`)))
	p.until(`!!document.querySelector('#participants tr[data-participant] button[data-row-action="retry"]')`)
	p.do(chromedp.Click(chromedp.CSS(`#participants tr[data-participant] button[data-row-action="retry"]`)))
	p.until(`[...document.querySelectorAll("#audit tbody tr")].some((r) => r.textContent.includes("retry:"))`)

	// Pause asks too; dismissed, nothing happens.
	p.answerConfirms(false)
	p.do(chromedp.Click(chromedp.CSS(`#actions button[data-action="pause"]`)))
	p.until(`window.__asked.length === 1`)
	require.Contains(t, p.asked(), "Pause the flow?")
	info, err = eng.Flow(t.Context(), "promo")
	require.NoError(t, err)
	require.Equal(t, store.FlowActive, info.Status)
	p.answerConfirms(true)

	// Finish, confirmed.
	p.do(chromedp.Click(chromedp.CSS(`#actions button[data-action="finish"]`)))
	p.until(`document.querySelector("#status").textContent === "finished"`)
	require.Equal(t, "cancel", p.eval(`[...document.querySelectorAll("#actions button")].map((b) => b.dataset.action).join()`))
	p.until(`[...document.querySelectorAll("#audit tbody tr")].some((r) => r.dataset.audit === "finish")`)
	audit := p.eval(`[...document.querySelectorAll("#audit tbody tr")].map((r) => r.textContent).join("\n")`)
	require.Contains(t, audit, "ops@example.com")
	require.Contains(t, audit, "canceled")
	require.Contains(t, audit, "Europe/Zagreb")
}

// The migration screen shows the dry run's moves and refusals, then
// applies them, for a user who may migrate.
func testMigration(t *testing.T, browser context.Context, mk storeMaker) {
	fx := newFixtureOn(t, mk(t), operator)
	ctx := t.Context()
	f, err := flow.Parse([]byte(strings.Replace(cartFlow, `"id": "wait-order"`, `"id": "wait-purchase"`, 1)))
	require.NoError(t, err)
	f.Elements[0].Next = flow.Next{"occurred": "bought", "timeout": "remind"}
	_, err = fx.eng.Publish(ctx, f)
	require.NoError(t, err)

	srv := serveConsole(t, console.Handler(fx.eng, reader))
	p := openPage(t, browser, srv.URL+"/console/?flow=cart")
	require.Equal(t, "true", p.eval(`String(document.querySelector("#open-migration").hidden)`), "a reader may not migrate")

	srv = serveConsole(t, fx.h)
	p = openPage(t, browser, srv.URL+"/console/?flow=cart")
	p.answerConfirms(true)
	p.do(chromedp.Click(chromedp.CSS("#open-migration")))
	p.until(`document.querySelector("#migration").open && document.querySelectorAll("#migrate-map select").length === 4`)
	require.Equal(t, "2", p.eval(`document.querySelector("#migrate-from").value`), "from the version people are on")
	require.Equal(t, "3", p.eval(`document.querySelector("#migrate-to").value`))
	require.Equal(t, "", p.eval(`document.querySelector('#migrate-map select[data-map="wait-order"]').value`), "no element of that id in v3")

	p.do(chromedp.Click(chromedp.CSS("#migrate-dry")))
	p.until(`!!document.querySelector("#migrate-summary")`)
	require.Equal(t, "Dry run: would move 0, refuse 4, exit 0.", p.eval(`document.querySelector("#migrate-summary").textContent`))
	require.Contains(t, p.eval(`document.querySelector("#migrate-refusals").textContent`), "4")

	p.do(chromedp.SetValue(chromedp.CSS(`#migrate-map select[data-map="wait-order"]`), "wait-purchase"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#migrate-map select[data-map="wait-order"]').dispatchEvent(new Event("change"))`),
		chromedp.Click(chromedp.CSS("#migrate-dry")))
	p.until(`document.querySelector("#migrate-summary").textContent === "Dry run: would move 4, refuse 0, exit 0."`)
	require.Contains(t, p.eval(`document.querySelector("#migrate-moves").textContent`), "wait-orderwait-purchase4")
	p.do(chromedp.Click(chromedp.CSS("#migrate-apply")))
	p.until(`document.querySelector("#migrate-summary").textContent === "Moved 4, refuse 0, exit 0."`)
	ps, err := fx.eng.Participants(ctx, store.ParticipantQuery{FlowID: "cart", Version: 3})
	require.NoError(t, err)
	require.Len(t, ps, 4)
	for _, part := range ps {
		require.Equal(t, "wait-purchase", part.Element)
	}
	p.do(chromedp.Click(chromedp.CSS("#migrate-close")))
	p.until(`[...document.querySelectorAll("#audit tbody tr")].some((r) => r.dataset.audit === "migrate" && r.textContent.includes("v2 → v3"))`)
}

// A 100-element flow is laid out in layers and fits the screen; zoom,
// pan and the minimap move the view; edges stay clear of nodes.
func TestBrowserLargeFlowFits(t *testing.T) {
	h, _ := bigFlow(t, 2_000)
	srv := httptest.NewServer(h)
	defer srv.Close()
	browser := browsertest.Start(t)
	p := openPage(t, browser, srv.URL+"/?flow=big")
	require.Equal(t, "100", p.eval(`String(document.querySelectorAll("#graph .node").length)`))
	inside := `(() => { const g = document.querySelector("#graph").getBoundingClientRect(); const b = document.querySelector("#viewport").getBoundingClientRect();
		return b.left >= g.left - 1 && b.top >= g.top - 1 && b.right <= g.right + 1 && b.bottom <= g.bottom + 1; })()`
	p.until(inside)
	require.Equal(t, "false", p.eval(`String(document.querySelector("#minimap").hasAttribute("hidden"))`), "a large flow has a minimap")
	require.Equal(t, "180", p.eval(`String(document.querySelector("#minimap").getBoundingClientRect().width)`))
	p.screenshot("large-flow.png")

	// No edge passes through a node it does not join.
	crossings := p.eval(`(() => {
		const boxes = [...document.querySelectorAll("#graph .node")].map((n) => ({ id: n.dataset.element, r: n.querySelector("rect").getBBox(), t: n.transform.baseVal.consolidate().matrix }));
		let bad = [];
		for (const e of document.querySelectorAll("#graph path.edge[data-edge]")) {
			const from = e.dataset.edge.split(":")[0];
			const len = e.getTotalLength();
			for (let s = 0; s <= len; s += 6) {
				const pt = e.getPointAtLength(s);
				for (const b of boxes) {
					if (b.id === from) continue;
					const x = pt.x - b.t.e, y = pt.y - b.t.f;
					if (x > 2 && y > 2 && x < b.r.width - 2 && y < b.r.height - 2) bad.push(e.dataset.edge + " through " + b.id);
				}
			}
		}
		return [...new Set(bad)].slice(0, 5).join("; ");
	})()`)
	require.Empty(t, crossings)

	before := p.eval(`document.querySelector("#graph").dataset.zoom`)
	p.do(chromedp.Click(chromedp.CSS("#zoom-in")), chromedp.Click(chromedp.CSS("#zoom-in")))
	require.NotEqual(t, before, p.eval(`document.querySelector("#graph").dataset.zoom`))
	require.Equal(t, "false", p.eval("String("+inside+")"), "zoomed in, the graph is larger than the view")
	p.do(chromedp.Click(chromedp.CSS("#zoom-fit")))
	p.until(inside)
	moved := p.eval(`document.querySelector("#viewport").getAttribute("transform")`)
	p.do(chromedp.MouseClickXY(1380-20, 900)) // no-op click keeps focus on the page
	p.do(chromedp.Evaluate[chromedp.Void](`(() => { const mm = document.querySelector("#minimap").getBoundingClientRect();
		document.querySelector("#minimap").dispatchEvent(new MouseEvent("click", { clientX: mm.left + 5, clientY: mm.top + 5, bubbles: true })); })()`))
	require.NotEqual(t, moved, p.eval(`document.querySelector("#viewport").getAttribute("transform")`), "the minimap moves the view")
}

// Accessibility basics: every control has a name, the keyboard reaches
// the graph's elements in order and opens one, and the status colours
// have a contrast of at least 4.5:1.
func TestBrowserAccessibility(t *testing.T) {
	eng := newPromo(t, memory.New())
	srv := serveConsole(t, console.Handler(eng, operator))
	browser := browsertest.Start(t)
	p := openPage(t, browser, srv.URL+"/console/?flow=promo")
	p.until(`document.querySelectorAll("#participants tr[data-participant]").length > 0`)
	unnamed := p.eval(`[...document.querySelectorAll("input, select, button, [role=button]")].filter((e) => {
		if (e.closest("[hidden]") || e.closest("dialog:not([open])")) return false;
		const label = e.getAttribute("aria-label") || (e.labels && [...e.labels].map((l) => l.textContent).join("")) || e.textContent;
		return !label || !label.trim();
	}).map((e) => e.outerHTML.slice(0, 80)).join("\n")`)
	require.Empty(t, unnamed)

	// Tab from the fit button reaches the graph's elements in document
	// order; Enter opens one.
	p.do(chromedp.Focus(chromedp.CSS("#zoom-fit")))
	var order []string
	for range 8 {
		p.do(chromedp.KeyEvent("\t"))
		if id := p.eval(`document.activeElement.dataset.element || ""`); id != "" {
			order = append(order, id)
		}
	}
	require.Equal(t, []string{"split", "hold", "notify", "done"}, order[:4])
	p.do(chromedp.Focus(chromedp.CSS(`.node[data-element="hold"]`)), chromedp.KeyEvent("\r"))
	p.until(`document.querySelector("#element-title").textContent === "hold"`)

	contrast := p.eval(`(() => {
		const rgb = (s) => s.match(/\d+(\.\d+)?/g).slice(0, 3).map(Number);
		const lum = (c) => { const [r, g, b] = c.map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
		const out = [];
		for (const s of ["active", "waiting", "inflight", "completed", "failed", "canceled", "paused", "draft", "finished"]) {
			const b = document.createElement("span"); b.className = "badge " + s; b.textContent = s; document.body.append(b);
			const cs = getComputedStyle(b); const a = lum(rgb(cs.color)), c = lum(rgb(cs.backgroundColor));
			const ratio = (Math.max(a, c) + 0.05) / (Math.min(a, c) + 0.05);
			if (ratio < 4.5) out.push(s + " " + ratio.toFixed(2)); b.remove();
		}
		return out.join(", ");
	})()`)
	require.Empty(t, contrast, "status colours below 4.5:1")
}

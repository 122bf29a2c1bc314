package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// newTestShop is a shop after steps steps, served by an httptest server.
func newTestShop(t *testing.T, steps int) (*shop, *httptest.Server) {
	t.Helper()
	ctx := context.Background()
	s, err := newShop(ctx, 1)
	require.NoError(t, err)
	for range steps {
		require.NoError(t, s.Step(ctx))
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return s, srv
}

func getJSON(t *testing.T, url string, out any) {
	t.Helper()
	res, err := http.Get(url)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode, "%s: %s", url, body)
	require.NoError(t, json.Unmarshal(body, out))
}

type stats struct {
	Elements []struct {
		ID               string
		Entered, Waiting int64
		Left             map[string]int64
	}
}

func (st stats) of(id string) (entered, waiting int64, left map[string]int64) {
	for _, e := range st.Elements {
		if e.ID == id {
			return e.Entered, e.Waiting, e.Left
		}
	}
	return 0, 0, nil
}

func TestShopThroughTheConsole(t *testing.T) {
	s, srv := newTestShop(t, 200) // 33 simulated hours
	api := srv.URL + "/console/api/"

	var st stats
	getJSON(t, api+"flows/abandoned-cart/versions/1/stats", &st)
	entered, waiting, left := st.of("wait-order")
	require.EqualValues(t, s.n, entered, "every shopper entered")
	require.EqualValues(t, entered, waiting+left["occurred"]+left["timeout"])
	for _, exit := range []string{"bought", "won-back", "lost"} {
		n, _, _ := st.of(exit)
		require.Positive(t, n, "someone reached %s", exit)
	}
	require.Positive(t, s.out.sent)

	journey := map[string]string{
		"ana@example.com": "bought without a reminder",
		"ben@example.com": "came back after the reminder",
		"cid@example.com": "never came back",
	}
	for email, reason := range journey {
		var page struct {
			Person         struct{ FirstName string }
			Participations []struct {
				Status, Reason string
				Journal        []struct{ Element, Reason string }
			}
		}
		getJSON(t, api+"person?email="+email, &page)
		require.Len(t, page.Participations, 1, email)
		p := page.Participations[0]
		require.Equal(t, "completed", p.Status, email)
		require.Equal(t, reason, p.Reason, email)
		require.Equal(t, reason, p.Journal[len(p.Journal)-1].Reason, email)
	}
}

// lines hands what run prints to the test, a line at a time.
type lines chan string

func (l lines) Write(p []byte) (int, error) {
	for line := range strings.Lines(string(p)) {
		l <- line
	}
	return len(p), nil
}

func TestRunServesThePrintedAddress(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	out := make(lines, 10)
	done := make(chan error, 1)
	go func() { done <- run(ctx, "127.0.0.1:0", out) }()

	var line string
	select {
	case line = <-out:
	case err := <-done:
		t.Fatalf("run ended before printing its address: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("run printed no address")
	}
	_, rest, ok := strings.Cut(line, "http://")
	require.True(t, ok, line)
	url := "http://" + strings.Fields(rest)[0]
	res, err := http.Get(url)
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, 200, res.StatusCode)
	require.Contains(t, string(body), "flowkit console")

	// The shop moves on its own: more shoppers show up within seconds.
	var before, after stats
	getJSON(t, url+"api/flows/abandoned-cart/versions/1/stats", &before)
	require.Eventually(t, func() bool {
		res, err := http.Get(url + "api/flows/abandoned-cart/versions/1/stats")
		if err != nil {
			return false
		}
		defer res.Body.Close()
		if json.NewDecoder(res.Body).Decode(&after) != nil {
			return false
		}
		a, _, _ := after.of("wait-order")
		b, _, _ := before.of("wait-order")
		return a > b
	}, 20*time.Second, 100*time.Millisecond)

	cancel()
	require.NoError(t, <-done)
}

func TestOtherHostsAreRefused(t *testing.T) {
	_, srv := newTestShop(t, 1)
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/console/api/flows/abandoned-cart/pause", nil)
	require.NoError(t, err)
	req.Host = "shop.attacker.example" // a name rebound to the example's address
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusForbidden, res.StatusCode)

	var flow struct{ Status string }
	getJSON(t, srv.URL+"/console/api/flows/abandoned-cart", &flow)
	require.Equal(t, "active", flow.Status, "still running")
}

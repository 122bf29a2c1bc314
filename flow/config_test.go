package flow_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/kinds"
	"github.com/flowkit/flowkit/store"
	"github.com/flowkit/flowkit/store/memory"
	"github.com/stretchr/testify/require"
)

// Each negative limit is refused by an error naming its field and value.
func TestConfigErrorsNameTheirField(t *testing.T) {
	for want, cfg := range map[string]flow.Config{
		"flow: Config.MaxSteps is -1: must not be negative":                                {MaxSteps: -1},
		"flow: Config.JournalLimit is -2: must not be negative":                            {JournalLimit: -2},
		"flow: Config.FinishedJournalLimit is -1: must not be negative":                    {FinishedJournalLimit: -1},
		"flow: Config.InactivityLimit is -1h0m0s: must not be negative":                    {InactivityLimit: -time.Hour},
		"flow: Config.TimerLease is -1s: must not be negative":                             {TimerLease: -time.Second},
		"flow: Config.TickBatch is -1: must not be negative":                               {TickBatch: -1},
		"flow: Config.EffectLease is -1m0s: must not be negative":                          {EffectLease: -time.Minute},
		"flow: Config.EffectConcurrency is -3: must not be negative":                       {EffectConcurrency: -3},
		"flow: Config.AudiencePage is -1: must not be negative":                            {AudiencePage: -1},
		"flow: Config.AudiencePagesPerTick is -1: must not be negative":                    {AudiencePagesPerTick: -1},
		"flow: Config.HistoryRetention is -24h0m0s: must not be negative":                  {HistoryRetention: -24 * time.Hour},
		"flow: Config.ElementOptions.CallAPI.Timeout is -1s: must not be negative":         {ElementOptions: kinds.Options{CallAPI: kinds.CallAPIOptions{Timeout: -time.Second}}},
		"flow: Config.ElementOptions.CallAPI.MaxResponseBytes is -1: must not be negative": {ElementOptions: kinds.Options{CallAPI: kinds.CallAPIOptions{MaxResponseBytes: -1}}},
	} {
		cfg.Store = memory.New()
		_, err := flow.NewEngine(cfg)
		require.EqualError(t, err, want)
	}
	// Several at once: each is named.
	_, err := flow.NewEngine(flow.Config{Store: memory.New(), TickBatch: -1, MaxSteps: -5})
	require.ErrorContains(t, err, "Config.TickBatch is -1")
	require.ErrorContains(t, err, "Config.MaxSteps is -5")
}

// rivalStore lets a rival lifecycle call change a flow's status between
// an engine's reading it and setting it, once.
type rivalStore struct {
	store.Store
	once  sync.Once
	rival func()
}

func (s *rivalStore) SetFlowStatus(ctx context.Context, flowID string, from, to store.FlowStatus, at time.Time) error {
	s.once.Do(s.rival)
	return s.Store.SetFlowStatus(ctx, flowID, from, to, at)
}

// A lifecycle call that loses a race answers as if it came second:
// ErrBadTransition for a move the status found does not allow, the move
// itself when it does; never the store's ErrConflict.
func TestLifecycleRaces(t *testing.T) {
	ctx := context.Background()
	setup := func(t *testing.T, rival func(eng *flow.Engine)) (*flow.Engine, *rivalStore) {
		st := &rivalStore{Store: memory.New()}
		eng, err := flow.NewEngine(flow.Config{Store: st})
		require.NoError(t, err)
		_, err = eng.Publish(ctx, flow.New("race", "").Add("x", &kinds.Exit{}, nil))
		require.NoError(t, err)
		rivalEng, err := flow.NewEngine(flow.Config{Store: st.Store})
		require.NoError(t, err)
		st.rival = func() { rival(rivalEng) }
		return eng, st
	}
	status := func(t *testing.T, eng *flow.Engine) store.FlowStatus {
		info, err := eng.Flow(ctx, "race")
		require.NoError(t, err)
		return info.Status
	}

	t.Run("activate twice", func(t *testing.T) {
		eng, _ := setup(t, func(r *flow.Engine) { require.NoError(t, r.Activate(ctx, "race")) })
		err := eng.Activate(ctx, "race")
		require.ErrorIs(t, err, flow.ErrBadTransition)
		require.NotErrorIs(t, err, store.ErrConflict)
		require.ErrorContains(t, err, `flow "race" is active, cannot become active`)
		require.Equal(t, store.FlowActive, status(t, eng))
	})
	t.Run("cancel after a rival's activation", func(t *testing.T) {
		eng, _ := setup(t, func(r *flow.Engine) { require.NoError(t, r.Activate(ctx, "race")) })
		require.NoError(t, eng.Cancel(ctx, "race"), "active may be canceled too")
		require.Equal(t, store.FlowCanceled, status(t, eng))
	})

	t.Run("goroutines", func(t *testing.T) {
		eng, _ := setup(t, func(*flow.Engine) {})
		require.NoError(t, eng.Activate(ctx, "race"))
		var pauses, resumes atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, 8*50)
		for g := range 8 {
			wg.Go(func() {
				for i := range 50 {
					var err error
					if (g+i)%2 == 0 {
						if err = eng.Pause(ctx, "race"); err == nil {
							pauses.Add(1)
						}
					} else if err = eng.Resume(ctx, "race"); err == nil {
						resumes.Add(1)
					}
					if err != nil && !errors.Is(err, flow.ErrBadTransition) {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("a racing lifecycle call returned %v, not ErrBadTransition", err)
		}
		// Moves alternate, so the count of each tells the status.
		p, r := pauses.Load(), resumes.Load()
		require.Contains(t, []int64{r, r + 1}, p)
		want := store.FlowActive
		if p == r+1 {
			want = store.FlowPaused
		}
		require.Equal(t, want, status(t, eng))
	})
}

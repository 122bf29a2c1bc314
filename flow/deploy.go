package flow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/flowkit/flowkit/store"
)

// maxDeployRounds bounds how often Deploy starts over after losing a race
// to another publisher of the same flow.
const maxDeployRounds = 10

// DeployOptions adjust what DeployWith does besides publishing. The zero
// value is Deploy's behaviour.
type DeployOptions struct {
	// Republish publishes the flow as a new version when an earlier
	// version, not the latest, has its document: a deliberate rollback.
	// Defaults to false: such a deploy publishes nothing and the latest
	// version stays what new participants enter, so that an older process
	// restarting during a rolling deploy does not take them back to its
	// document.
	Republish bool
	// Waiting says what becomes of the participants of earlier versions
	// once the deployed document is the latest version. Defaults to
	// LeaveWaiting.
	Waiting WaitingPolicy
	// Map and ExitUnmapped are Migration's, for MigrateWaiting: element
	// ids of earlier versions mapped to ids of the new one (others keep
	// their id; a version without an element of Map ignores that entry),
	// and whether participants at an element with no place in the new
	// version leave the flow instead of staying where they are.
	Map          map[string]string
	ExitUnmapped bool
}

// WaitingPolicy says what a deploy does with the participants of earlier
// versions of the flow.
type WaitingPolicy string

// The waiting policies.
const (
	// LeaveWaiting leaves participants on the version they entered, as
	// Publish does.
	LeaveWaiting WaitingPolicy = ""
	// MigrateWaiting migrates the participants of every earlier version
	// to the latest by element id, as Migrate does with its rules and
	// report: those in flight, or at an element the new version lacks,
	// are refused and stay (see DeployOptions.ExitUnmapped).
	MigrateWaiting WaitingPolicy = "migrate"
)

// DeployResult is what DeployWith did.
type DeployResult struct {
	// Version is the flow's latest version, which new participants enter.
	Version int
	// Published is set when this call published Version.
	Published bool
	// Matched is the version whose document is the deployed one: Version,
	// or an earlier version that the call did not publish again (see
	// DeployOptions.Republish).
	Matched int
	// Migrations are the reports of the migrations MigrateWaiting made,
	// one per earlier version that had participants in the flow, oldest
	// first.
	Migrations []*MigrationReport
}

// Deploy makes f the flow's latest version and lets people in: it
// publishes f only when no version of the flow has its document yet
// (compared as canonical JSON, so spacing and key order do not count),
// then activates the flow if it is a draft. A paused, finished or
// canceled flow keeps its status. It returns the latest version and
// whether Deploy published it.
//
// Deploy compares f with every version, not only the latest: a document
// an earlier version had is not published again, so a rolling deploy in
// which a process of the old release restarts after the new one deployed
// (A, B, A again) publishes two versions, and new participants stay on B.
// DeployWith's Republish publishes such a document again, for a rollback.
//
// Deploy is idempotent and safe to call from every process at start-up:
// processes deploying the same document at once publish it once (the
// store refuses a version number taken meanwhile, and Deploy then
// compares again with the version that won). A flow that does not
// validate is refused as Publish refuses it. Participants stay on their
// versions (see DeployWith to migrate them).
func (e *Engine) Deploy(ctx context.Context, f *Flow) (version int, changed bool, err error) {
	r, err := e.DeployWith(ctx, f, DeployOptions{})
	if err != nil {
		return 0, false, err
	}
	return r.Version, r.Published, nil
}

// DeployWith is Deploy with options: it can publish a document an earlier
// version had (Republish) and migrate the participants of earlier
// versions to the latest (MigrateWaiting).
//
// With MigrateWaiting, every DeployWith whose document is the latest
// version migrates what is left on earlier versions, so a migration that
// a crash or a refusal (a participant in flight) left unfinished goes on
// at the next process's start. Versions with no participant waiting or in
// flight, by the flow's statistics, are not read. Options that Migrate
// would refuse (a Map naming an element a version lacks) make DeployWith
// return the *MigrationError after publishing. A deploy whose document
// is not the latest migrates nothing: participants never move back.
func (e *Engine) DeployWith(ctx context.Context, f *Flow, o DeployOptions) (*DeployResult, error) {
	if o.Waiting != LeaveWaiting && o.Waiting != MigrateWaiting {
		return nil, fmt.Errorf("flow: DeployOptions.Waiting: unknown policy %q (use LeaveWaiting or MigrateWaiting)", o.Waiting)
	}
	p, err := e.prepare(ctx, f)
	if err != nil {
		return nil, err
	}
	want, err := canonicalJSON(p.doc)
	if err != nil {
		return nil, err
	}
	id := p.flow.ID
	res := &DeployResult{}
	for round := 0; ; round++ {
		latest := 0
		st, err := e.store.Flow(ctx, id)
		switch {
		case err == nil:
			latest = st.Latest
		case !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
		matched, err := e.findDocument(ctx, id, latest, want, !o.Republish)
		if err != nil {
			return nil, err
		}
		if matched > 0 {
			res.Version, res.Matched = latest, matched
			break
		}
		v, err := e.publish(ctx, p, latest+1)
		if errors.Is(err, store.ErrConflict) && round < maxDeployRounds {
			continue // another process published: compare with its version
		}
		if err != nil {
			return nil, err
		}
		res.Version, res.Matched, res.Published = v, v, true
		break
	}
	if err := e.activateDraft(ctx, id); err != nil {
		return res, err
	}
	if o.Waiting == MigrateWaiting && res.Matched == res.Version {
		reps, err := e.migrateEarlier(ctx, id, res.Version, o)
		res.Migrations = reps
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// findDocument returns the version of a flow, up to latest, whose
// document is want, or 0: the latest, or with history set any earlier
// one, newest first.
func (e *Engine) findDocument(ctx context.Context, flowID string, latest int, want []byte, history bool) (int, error) {
	for v := latest; v >= 1; v-- {
		same, err := e.sameDocument(ctx, flowID, v, want)
		switch {
		case err != nil:
			return 0, err
		case same:
			return v, nil
		case !history:
			return 0, nil
		}
	}
	return 0, nil
}

// migrateEarlier migrates the participants of the versions before to that
// the flow's statistics show waiting, in flight or active, to version to.
func (e *Engine) migrateEarlier(ctx context.Context, flowID string, to int, o DeployOptions) ([]*MigrationReport, error) {
	counters, err := e.store.Counters(ctx, flowID)
	if err != nil {
		return nil, err
	}
	live := map[int]int64{}
	for _, c := range counters {
		if c.FlowVersion < to && (c.Key == keyWaiting || c.Key == keyInFlight) {
			live[c.FlowVersion] += c.N
		}
	}
	var reps []*MigrationReport
	for v := 1; v < to; v++ {
		if live[v] <= 0 {
			continue
		}
		from, err := e.compiled(ctx, flowID, v)
		if err != nil {
			return reps, err
		}
		// Map names elements of some versions: each migration takes
		// those of its own.
		m := map[string]string{}
		for k, t := range o.Map {
			if from.nodes[k] != nil {
				m[k] = t
			}
		}
		rep, err := e.Migrate(ctx, Migration{FlowID: flowID, From: v, To: to, Map: m, ExitUnmapped: o.ExitUnmapped})
		if rep != nil {
			reps = append(reps, rep)
		}
		if err != nil {
			return reps, err
		}
	}
	return reps, nil
}

// sameDocument reports whether a stored version's document is want, a
// canonical document: as stored, or as this engine writes the flow it
// holds (a version published by an older release may spell it otherwise).
func (e *Engine) sameDocument(ctx context.Context, flowID string, version int, want []byte) (bool, error) {
	fv, err := e.store.FlowVersion(ctx, flowID, version)
	if err != nil {
		return false, err
	}
	if got, err := canonicalJSON(fv.Document); err == nil && bytes.Equal(got, want) {
		return true, nil
	}
	f, err := ParseWith(fv.Document, e.cfg.Elements)
	if err != nil {
		return false, nil // a document this engine cannot read is not f's
	}
	f.Version = 0
	doc, err := json.Marshal(f)
	if err != nil {
		return false, nil
	}
	got, err := canonicalJSON(doc)
	return err == nil && bytes.Equal(got, want), nil
}

// activateDraft activates a flow that is a draft; a flow another process
// activated meanwhile is fine.
func (e *Engine) activateDraft(ctx context.Context, flowID string) error {
	st, err := e.store.Flow(ctx, flowID)
	if err != nil {
		return err
	}
	if st.Status != store.FlowDraft {
		return nil
	}
	err = e.store.SetFlowStatus(ctx, flowID, store.FlowDraft, store.FlowActive, e.Now())
	if errors.Is(err, store.ErrConflict) {
		if st, err = e.store.Flow(ctx, flowID); err == nil && st.Status == store.FlowDraft {
			return fmt.Errorf("flow %q: activation lost a race and the flow is still a draft: %w", flowID, store.ErrConflict)
		}
	}
	return err
}

// canonicalJSON writes a JSON document with sorted keys and no spacing,
// numbers as written.
func canonicalJSON(doc []byte) ([]byte, error) {
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

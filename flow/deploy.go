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

// Deploy makes f the flow's latest version and lets people in: it
// publishes f only when its document differs from the latest version's
// (compared as canonical JSON, so spacing and key order do not count),
// then activates the flow if it is a draft. A paused, finished or
// canceled flow keeps its status. It returns the latest version and
// whether Deploy published it.
//
// Deploy is idempotent and safe to call from every process at start-up:
// processes deploying the same document at once publish it once (the
// store refuses a version number taken meanwhile, and Deploy then
// compares again with the version that won). A flow that does not
// validate is refused as Publish refuses it.
func (e *Engine) Deploy(ctx context.Context, f *Flow) (version int, changed bool, err error) {
	p, err := e.prepare(ctx, f)
	if err != nil {
		return 0, false, err
	}
	want, err := canonicalJSON(p.doc)
	if err != nil {
		return 0, false, err
	}
	id := p.flow.ID
	for round := 0; ; round++ {
		latest := 0
		st, err := e.store.Flow(ctx, id)
		switch {
		case err == nil:
			latest = st.Latest
		case !errors.Is(err, store.ErrNotFound):
			return 0, false, err
		}
		if latest > 0 {
			same, err := e.sameDocument(ctx, id, latest, want)
			if err != nil {
				return 0, false, err
			}
			if same {
				version = latest
				break
			}
		}
		v, err := e.publish(ctx, p, latest+1)
		if errors.Is(err, store.ErrConflict) && round < maxDeployRounds {
			continue // another process published: compare with its version
		}
		if err != nil {
			return 0, false, err
		}
		version, changed = v, true
		break
	}
	return version, changed, e.activateDraft(ctx, id)
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

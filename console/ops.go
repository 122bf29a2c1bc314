package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/flowkit/flowkit/flow"
	"github.com/flowkit/flowkit/store"
	"github.com/google/uuid"
)

// AuditEntry is one action taken through the console.
type AuditEntry struct {
	// At is the engine's time of the action.
	At time.Time `json:"at"`
	// User is who took it, as Options.User names them; "anonymous"
	// without one.
	User   string `json:"user"`
	Action Action `json:"action"`
	FlowID string `json:"flowId"`
	// Target is what the action was on: "flow", a participant's id, an
	// operation's name or a migration's versions ("v1 → v2").
	Target string `json:"target"`
	// Outcome says what came of it: counts of what it did, or the error.
	Outcome string `json:"outcome"`
	// OK is false when the action failed.
	OK bool `json:"ok"`
}

// AuditLog keeps the console's audit trail. A host keeps it where it
// keeps its own records by implementing it; NewMemoryAudit keeps it in
// memory. Its methods are called concurrently.
type AuditLog interface {
	// Record adds an entry.
	Record(ctx context.Context, e AuditEntry) error
	// Entries returns up to limit entries of a flow, newest first.
	Entries(ctx context.Context, flowID string, limit int) ([]AuditEntry, error)
}

// MemoryAudit is an AuditLog in memory that keeps the latest entries, up
// to a bound. It is safe for concurrent use.
type MemoryAudit struct {
	mu      sync.Mutex
	max     int
	entries []AuditEntry
}

// NewMemoryAudit returns an AuditLog in memory that keeps the latest n
// entries (at least 1).
func NewMemoryAudit(n int) *MemoryAudit { return &MemoryAudit{max: max(n, 1)} }

// Record implements AuditLog.
func (m *MemoryAudit) Record(_ context.Context, e AuditEntry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.entries) >= m.max {
		m.entries = slices.Delete(m.entries, 0, len(m.entries)-m.max+1)
	}
	m.entries = append(m.entries, e)
	return nil
}

// Entries implements AuditLog.
func (m *MemoryAudit) Entries(_ context.Context, flowID string, limit int) ([]AuditEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []AuditEntry
	for i := len(m.entries) - 1; i >= 0 && len(out) < limit; i-- {
		if m.entries[i].FlowID == flowID {
			out = append(out, m.entries[i])
		}
	}
	return out, nil
}

// record writes an action to the audit trail; a trail that cannot be
// written is logged, as the action is done.
func (a *api) record(r *http.Request, act Action, flowID, target, outcome string, err error) {
	e := AuditEntry{At: a.eng.Now(), User: "anonymous", Action: act, FlowID: flowID, Target: target, Outcome: outcome, OK: err == nil}
	if a.opts.User != nil {
		if u := a.opts.User(r); u != "" {
			e.User = u
		}
	}
	if err != nil {
		e.Outcome = err.Error()
	} else if e.Outcome == "" {
		e.Outcome = "done"
	}
	if werr := a.opts.Audit.Record(context.WithoutCancel(r.Context()), e); werr != nil {
		a.opts.Logger.ErrorContext(r.Context(), "console audit trail not written", "action", act, "flow", flowID, "target", target, "err", werr)
	}
}

// GET /api/flows/{flow}/audit?limit=: the flow's audit trail, newest
// first.
func (a *api) audit(r *http.Request, q url.Values) (any, error) {
	flowID := r.PathValue("flow")
	if _, err := a.eng.Versions(r.Context(), flowID); err != nil {
		return nil, err
	}
	n, err := limit(q)
	if err != nil {
		return nil, err
	}
	es, err := a.opts.Audit.Entries(r.Context(), flowID, n)
	if err != nil {
		return nil, err
	}
	if es == nil {
		es = []AuditEntry{}
	}
	return struct {
		Entries []AuditEntry `json:"entries"`
	}{es}, nil
}

// errNothingToDo is an action on a participant that its state leaves
// nothing to do for: a 409.
var errNothingToDo = errors.New("nothing to do")

// maxBody bounds the JSON body of a POST.
const maxBody = 64 << 10

// readBody decodes a POST's JSON body into v, refusing unknown fields.
func readBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badParam("body", "%v", err)
	}
	return nil
}

type (
	operationRequest struct {
		Action string `json:"action"`
		// Version, Element, Status and Reason select as the list's
		// filters do.
		Version int    `json:"version"`
		Element string `json:"element"`
		Status  string `json:"status"`
		Reason  string `json:"reason"`
		DryRun  bool   `json:"dryRun"`
	}
	operationJSON struct {
		Name     string         `json:"name"`
		Action   string         `json:"action"`
		DryRun   bool           `json:"dryRun"`
		Total    int64          `json:"total"`
		Changed  int64          `json:"changed"`
		Refused  int64          `json:"refused"`
		Done     bool           `json:"done"`
		Refusals map[string]int `json:"refusals"`
	}
	operationRunJSON struct {
		Name       string          `json:"name"`
		Spec       json.RawMessage `json:"spec"`
		StartedAt  time.Time       `json:"startedAt"`
		FinishedAt *time.Time      `json:"finishedAt,omitempty"`
		Total      int64           `json:"total"`
		Changed    int64           `json:"changed"`
		Refused    int64           `json:"refused"`
		Done       bool            `json:"done"`
	}
	migrationRequest struct {
		From         int               `json:"from"`
		To           int               `json:"to"`
		Map          map[string]string `json:"map"`
		ExitUnmapped bool              `json:"exitUnmapped"`
	}
	moveJSON struct {
		From  string `json:"from"`
		To    string `json:"to"`
		Count int    `json:"count"`
	}
	migrationRowJSON struct {
		Participant string `json:"participant"`
		Outcome     string `json:"outcome"`
		From        string `json:"from"`
		To          string `json:"to,omitempty"`
		Reason      string `json:"reason,omitempty"`
	}
	migrationJSON struct {
		DryRun    bool               `json:"dryRun"`
		From      int                `json:"from"`
		To        int                `json:"to"`
		Moved     int                `json:"moved"`
		Refused   int                `json:"refused"`
		Exited    int                `json:"exited"`
		Skipped   int                `json:"skipped"`
		Moves     []moveJSON         `json:"moves"`
		Refusals  map[string]int     `json:"refusals"`
		Exits     map[string]int     `json:"exits"`
		Rows      []migrationRowJSON `json:"rows"`
		Truncated bool               `json:"truncated"`
	}
)

// operationName names an operation the console starts: unique, and
// telling when and what.
func (a *api) operationName(act flow.Action, target string) string {
	return fmt.Sprintf("console %s %s %s", act, target, uuid.Must(uuid.NewV7()))
}

// POST /api/flows/{flow}/operations: cancel or retry the participants a
// selection picks, or, with dryRun, say what that would do.
func (a *api) operate(r *http.Request, _ url.Values) (any, error) {
	flowID := r.PathValue("flow")
	var req operationRequest
	if err := readBody(r, &req); err != nil {
		return nil, err
	}
	act := flow.Action(req.Action)
	if act != flow.Cancel && act != flow.Retry {
		return nil, badParam("action", "must be cancel or retry, got %q", req.Action)
	}
	sts, err := statusList(req.Status)
	if err != nil {
		return nil, err
	}
	sel := flow.Selection{Version: req.Version, Element: req.Element, Statuses: sts, Reason: req.Reason}
	op := flow.Operation{FlowID: flowID, Action: act, Select: sel, DryRun: req.DryRun, MaxRows: -1}
	target, _ := json.Marshal(sel)
	if !req.DryRun {
		op.Name = a.operationName(act, "bulk")
	}
	rep, err := a.eng.Operate(r.Context(), op)
	if !req.DryRun {
		outcome := ""
		if rep != nil {
			outcome = fmt.Sprintf("%s %d, refused %d of %d", act, rep.Changed, rep.Refused, rep.Total)
		}
		a.record(r, Operate, flowID, op.Name+" "+string(target), outcome, err)
	}
	if err != nil {
		return nil, err
	}
	return operationOf(rep), nil
}

func operationOf(rep *flow.OperationReport) operationJSON {
	out := operationJSON{Name: rep.Name, Action: string(rep.Action), DryRun: rep.DryRun, Total: rep.Total,
		Changed: rep.Changed, Refused: rep.Refused, Done: rep.Done, Refusals: rep.Refusals}
	if out.Refusals == nil {
		out.Refusals = map[string]int{}
	}
	return out
}

// GET /api/flows/{flow}/operations: the flow's bulk operations.
func (a *api) operations(r *http.Request, _ url.Values) (any, error) {
	flowID := r.PathValue("flow")
	if _, err := a.eng.Versions(r.Context(), flowID); err != nil {
		return nil, err
	}
	runs, err := a.eng.Operations(r.Context(), flowID)
	if err != nil {
		return nil, err
	}
	out := make([]operationRunJSON, 0, len(runs))
	for _, run := range runs {
		out = append(out, operationRunJSON{Name: run.Name, Spec: run.Spec, StartedAt: run.StartedAt, FinishedAt: timeOrNil(run.FinishedAt),
			Total: run.Total, Changed: run.Changed, Refused: run.Refused, Done: run.Done})
	}
	return struct {
		Operations []operationRunJSON `json:"operations"`
	}{out}, nil
}

// participantAction returns the handler of POST
// /api/participants/{id}/{cancel|retry}: it acts on that participant
// alone, once Authorize lets the user Operate on its flow. A participant
// of a flow the user may not read is not found.
func (a *api) participantAction(act flow.Action) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !a.allow(w, r, Access{Action: Read}) {
			return
		}
		if _, err := query(r.URL); err != nil {
			a.fail(w, r, err)
			return
		}
		pid, err := id("id", r.PathValue("id"))
		if err != nil {
			a.fail(w, r, err)
			return
		}
		p, err := a.eng.Participant(r.Context(), pid)
		if err == nil && !a.may(r, Access{Action: Read, FlowID: p.FlowID}) {
			err = fmt.Errorf("participant %s: %w", pid, store.ErrNotFound)
		}
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if !a.allow(w, r, Access{Action: Operate, FlowID: p.FlowID}) {
			return
		}
		op := flow.Operation{Name: a.operationName(act, pid.String()), FlowID: p.FlowID, Action: act,
			Select: flow.Selection{Participant: pid}, MaxRows: 1}
		rep, err := a.eng.Operate(r.Context(), op)
		outcome := "canceled"
		if act == flow.Retry {
			outcome = "retried"
		}
		if err == nil && rep.Changed == 0 {
			why := "the participant is " + string(p.Status)
			for reason := range rep.Refusals {
				why = reason
			}
			err = fmt.Errorf("%w: %s", errNothingToDo, why)
		}
		a.record(r, Operate, p.FlowID, pid.String(), string(act)+": "+outcome, err)
		if err != nil {
			a.fail(w, r, fmt.Errorf("%s participant %s: %w", act, pid, err))
			return
		}
		np, err := a.eng.Participant(r.Context(), pid)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		writeJSON(w, participantOf(np, true))
	}
}

// migrate returns the endpoint of POST /api/flows/{flow}/migrations
// (and, with dryRun, .../migrations/preview): the participants of one
// version moved to another by an element mapping, or what that would do.
func (a *api) migrate(dryRun bool) endpoint {
	return func(r *http.Request, _ url.Values) (any, error) {
		flowID := r.PathValue("flow")
		var req migrationRequest
		if err := readBody(r, &req); err != nil {
			return nil, err
		}
		m := flow.Migration{FlowID: flowID, From: req.From, To: req.To, Map: req.Map, ExitUnmapped: req.ExitUnmapped, DryRun: dryRun, MaxRows: 200}
		rep, err := a.eng.Migrate(r.Context(), m)
		if !dryRun {
			outcome := ""
			if rep != nil {
				outcome = fmt.Sprintf("moved %d, refused %d, exited %d", rep.Moved, rep.Refused, rep.Exited)
			}
			a.record(r, Migrate, flowID, fmt.Sprintf("v%d → v%d", req.From, req.To), outcome, err)
		}
		if err != nil {
			return nil, err
		}
		out := migrationJSON{DryRun: rep.DryRun, From: req.From, To: req.To, Moved: rep.Moved, Refused: rep.Refused, Exited: rep.Exited,
			Skipped: rep.Skipped, Moves: []moveJSON{}, Refusals: rep.Refusals, Exits: rep.Exits, Rows: []migrationRowJSON{}, Truncated: rep.Truncated}
		for mv, n := range rep.Moves {
			out.Moves = append(out.Moves, moveJSON{From: mv.From, To: mv.To, Count: n})
		}
		slices.SortFunc(out.Moves, func(x, y moveJSON) int {
			if x.From != y.From {
				return cmpString(x.From, y.From)
			}
			return cmpString(x.To, y.To)
		})
		for _, row := range rep.Rows {
			out.Rows = append(out.Rows, migrationRowJSON{Participant: row.Participant.String(), Outcome: string(row.Outcome), From: row.From, To: row.To, Reason: row.Reason})
		}
		return out, nil
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

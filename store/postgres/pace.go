package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/flowkit/flowkit/store"
	"github.com/jackc/pgx/v5"
)

var _ store.PaceKeeper = (*Store)(nil)

// paceQueries are the statements of store.PaceKeeper. The paces table
// keeps times as nanoseconds since 1970 (bigint), so that one statement
// adds the interval and compares exactly.
type paceQueries struct {
	reserve, claim string
}

func newPaceQueries(r *strings.Replacer) paceQueries {
	return paceQueries{
		// $1 key, $2 now, $3 interval, $4 notAfter or NULL; a new key
		// books now (ReservePace checked it is before notAfter). No row
		// returned: refused.
		reserve: r.Replace(`
INSERT INTO {{s}}.paces AS p (key, booked) VALUES ($1, $2)
ON CONFLICT (key) DO UPDATE SET booked = greatest(p.booked + $3, $2)
WHERE $4::bigint IS NULL OR greatest(p.booked + $3, $2) < $4
RETURNING booked`),
		// $1 key, $2 at, $3 interval. SET reads the row as it was, so
		// claim_ok says whether this claim was accepted and claimed is
		// the claim in force.
		claim: r.Replace(`
INSERT INTO {{s}}.paces AS p (key, claimed, claim_ok) VALUES ($1, $2, true)
ON CONFLICT (key) DO UPDATE SET
	claim_ok = p.claimed IS NULL OR p.claimed + $3 <= $2,
	claimed = CASE WHEN p.claimed IS NULL OR p.claimed + $3 <= $2 THEN $2 ELSE p.claimed END
RETURNING claim_ok, claimed`),
	}
}

// paceNanos returns t as nanoseconds since 1970, for the years 1678 to
// 2261 that an int64 holds.
func paceNanos(what string, t time.Time) (int64, error) {
	if t.Year() < 1678 || t.Year() > 2261 {
		return 0, fmt.Errorf("postgres: pace %s %v is outside the years 1678 to 2261", what, t)
	}
	return t.UnixNano(), nil
}

// ReservePace implements store.PaceKeeper in one statement: the row of
// the key is locked by the upsert, so processes reserving at once book
// slots one after the other.
func (s *Store) ReservePace(ctx context.Context, p *store.PaceReserveParams) (time.Time, bool, error) {
	if p.Interval <= 0 {
		return time.Time{}, false, fmt.Errorf("postgres: reserve pace %q: interval %v is not positive", p.Key, p.Interval)
	}
	if !p.NotAfter.IsZero() && !p.Now.Before(p.NotAfter) {
		return time.Time{}, false, nil // no slot comes before now
	}
	now, err := paceNanos("now", p.Now)
	if err != nil {
		return time.Time{}, false, err
	}
	var notAfter *int64
	if !p.NotAfter.IsZero() {
		n, err := paceNanos("notAfter", p.NotAfter)
		if err != nil {
			return time.Time{}, false, err
		}
		notAfter = &n
	}
	var slot int64
	err = s.pool.QueryRow(ctx, s.sql.pace.reserve, []byte(p.Key), now, int64(p.Interval), notAfter).Scan(&slot)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return time.Time{}, false, nil
	case err != nil:
		return time.Time{}, false, fmt.Errorf("postgres: reserve pace %q: %w", p.Key, err)
	}
	return time.Unix(0, slot).UTC(), true, nil
}

// ClaimPace implements store.PaceKeeper in one statement, as ReservePace.
func (s *Store) ClaimPace(ctx context.Context, p *store.PaceClaimParams) (bool, time.Time, error) {
	if p.Interval <= 0 {
		return false, time.Time{}, fmt.Errorf("postgres: claim pace %q: interval %v is not positive", p.Key, p.Interval)
	}
	at, err := paceNanos("time", p.At)
	if err != nil {
		return false, time.Time{}, err
	}
	var ok bool
	var claimed int64
	if err := s.pool.QueryRow(ctx, s.sql.pace.claim, []byte(p.Key), at, int64(p.Interval)).Scan(&ok, &claimed); err != nil {
		return false, time.Time{}, fmt.Errorf("postgres: claim pace %q: %w", p.Key, err)
	}
	if ok {
		return true, time.Time{}, nil
	}
	if claimed > math.MaxInt64-int64(p.Interval) {
		return false, time.Time{}, fmt.Errorf("postgres: claim pace %q: retry time out of range", p.Key)
	}
	return false, time.Unix(0, claimed+int64(p.Interval)).UTC(), nil
}

package schedules

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// Who writes Rapport's schedules. Every worker starts with a journey
// folder; a folder is identified by the plans of all its journeys
// (CatalogHash), and the database records when each was first seen. The
// newest seen owns the schedules: a worker writes or deletes them only if
// its folder is the newest (a folder never seen before is, so a release
// that adds, edits or removes a journey takes over when its first worker
// starts); an older folder (a pod rolled back by hand, an old pod
// crash-looping mid-rollout) leaves them alone. `rapport schedules sync`,
// which the deploy runs, claims its folder as the newest and writes,
// whatever was seen before: that is how a rollback on purpose takes the
// schedules back.

// CatalogHash identifies a journey folder by the plans of all its
// journeys: the first 16 hex digits of the SHA-256 of each journey's name
// and plan hash, in name order. A journey added, edited or removed makes
// another hash.
func CatalogHash(cat *journey.Catalog) string {
	h := sha256.New()
	for _, p := range cat.Plans() { // sorted by name
		fmt.Fprintf(h, "%s\t%s\n", p.Journey, p.Hash)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// catalogPlans maps each journey of cat to its plan hash.
func catalogPlans(cat *journey.Catalog) map[string]string {
	plans := map[string]string{}
	for _, p := range cat.Plans() {
		plans[p.Journey] = p.Hash
	}
	return plans
}

// Owned says what SyncOwned did.
type Owned struct {
	// Owner says the folder was the newest seen (or claimed), so it wrote
	// the schedules; otherwise it left them alone.
	Owner bool `json:"owner"`
	// Catalog is the folder's hash; Newest the newest seen's and
	// NewestSince when it became the newest.
	Catalog     string    `json:"catalog"`
	Newest      string    `json:"newest"`
	NewestSince time.Time `json:"newest_since"`
	// TookOver is the folder that was the newest before this one took the
	// schedules from it, as a newer release or by a claim ("" when it was
	// this one, or none was seen).
	TookOver      string    `json:"took_over,omitempty"`
	TookOverSince time.Time `json:"took_over_since,omitzero"`
	// Missing lists the journeys the newest has and this folder lacks,
	// Extra those it has and the newest lacks, Changed those whose plans
	// differ: what an older folder would have undone.
	Missing []string `json:"missing,omitempty"`
	Extra   []string `json:"extra,omitempty"`
	Changed []string `json:"changed,omitempty"`
	// Audience is what was done to the audience schedules (when Owner).
	Audience Report `json:"audience"`
	// Retention is what was done to the retention schedule (when Owner
	// and asked): created, updated, unchanged, deleted or none.
	Retention string `json:"retention,omitempty"`
}

// OwnOptions say how SyncOwned writes.
type OwnOptions struct {
	// Claim makes the folder the newest from now on, whatever was seen
	// before: `rapport schedules sync` (run by the deploy) and dev mode.
	// Without it, a worker writes only if its folder is the newest seen.
	Claim bool
	// Retention, when set, is the retention schedule to keep too
	// (SyncRetention); nil leaves it alone.
	Retention *workflows.RetentionInput
	// DataConverter is the client's (nil: Temporal's default).
	DataConverter converter.DataConverter
}

// SyncOwned records the folder cat as seen and, if it owns the schedules
// (see CatalogHash: it is the newest seen, or o.Claim), makes them match
// it (Sync, and SyncRetention when o.Retention is set) while holding the
// schedules' lock, so two owners never write at once. Otherwise it
// touches nothing and says why.
func SyncOwned(ctx context.Context, c client.Client, st *store.Store, cat *journey.Catalog, o OwnOptions) (Owned, error) {
	out := Owned{Catalog: CatalogHash(cat)}
	mine := catalogPlans(cat)
	own, err := st.OwnSchedules(ctx, out.Catalog, mine, o.Claim, func(ctx context.Context) error {
		rep, err := Sync(ctx, c, cat, o.DataConverter)
		out.Audience = rep
		if o.Retention != nil { // kept even when the audiences failed
			var rerr error
			out.Retention, rerr = SyncRetention(ctx, c, *o.Retention, o.DataConverter)
			err = errors.Join(err, rerr)
		}
		return err
	})
	out.Owner = own.Owner
	out.Newest, out.NewestSince = own.Newest.Hash, own.Newest.NewestAt
	if own.Owner && own.Before.Hash != "" && own.Before.Hash != out.Catalog {
		out.TookOver, out.TookOverSince = own.Before.Hash, own.Before.NewestAt
	}
	if !own.Owner && own.Newest.Hash != "" {
		out.Missing, out.Extra, out.Changed = diffPlans(mine, own.Newest.Plans)
	}
	return out, err
}

// diffPlans compares a folder's plans with the newest's.
func diffPlans(mine, newest map[string]string) (missing, extra, changed []string) {
	for _, j := range slices.Sorted(maps.Keys(newest)) {
		switch p, ok := mine[j]; {
		case !ok:
			missing = append(missing, j)
		case p != newest[j]:
			changed = append(changed, j)
		}
	}
	for _, j := range slices.Sorted(maps.Keys(mine)) {
		if _, ok := newest[j]; !ok {
			extra = append(extra, j)
		}
	}
	return missing, extra, changed
}

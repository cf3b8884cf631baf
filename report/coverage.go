package report

import (
	"slices"
	"sort"
	"strconv"

	"github.com/zabcheck/zabcheck/checker"
)

// coverageCounters orders the counters the report knows and says what each
// means; a counter a target adds that is not listed follows, by name. The
// first four are the paths every target reports: a zero there is shown as
// a path the run never reached.
var coverageCounters = []struct{ key, note string }{
	{"elections", "leader elections started (each entry into LOOKING)"},
	{"diff", "syncs by DIFF, counted on the learner"},
	{"trunc", "syncs by TRUNC, counted on the learner"},
	{"snap", "syncs by SNAP, counted on the learner"},
	{"elections_won", "elections the node won"},
	{"epochs_led", "epochs established as leader"},
	{"epochs_joined", "epochs joined as learner (UPTODATE)"},
	{"diff_sent", "DIFFs sent as leader"},
	{"trunc_sent", "TRUNCs sent as leader"},
	{"snap_sent", "SNAPs sent as leader"},
	{"sync_aborted", "syncs abandoned before broadcast (back to LOOKING, or restarted)"},
	{"proposals_dropped", "logged txns a TRUNC or SNAP discarded"},
	{"starts", "process starts"},
	{"sessions_expired", "sessions expired by the leader"},
	{"snapshots_taken", "snapshots written"},
	{"snapshots_loaded", "snapshots loaded at start-up"},
	{"disk_truncations", "truncations of the on-disk log"},
	{"cross_epoch_elections", "elections with a vote of the same currentEpoch but a last zxid of another epoch"},
	{"trunc_then_restart", "restarts of a node whose previous process applied a TRUNC"},
}

// requiredCoverage are the counters whose zero the report flags.
var requiredCoverage = []string{"elections", "diff", "trunc", "snap"}

type coverageView struct {
	Nodes []string
	Rows  []coverageRow
	Error string
}

type coverageRow struct {
	Key, Note string
	Counts    []string // per node, "–" when the node's target does not count it
	Total     int64
	Missed    bool // a required path the run never took
}

// newCoverageView lays out results.json's coverage as a table: one row per
// counter, one column per node, then the total.
func newCoverageView(c *checker.Coverage) *coverageView {
	if c == nil || len(c.Nodes) == 0 {
		return nil
	}
	v := &coverageView{Error: c.Error}
	for n := range c.Nodes {
		v.Nodes = append(v.Nodes, n)
	}
	sort.Strings(v.Nodes)
	keys := map[string]bool{}
	for _, counts := range c.Nodes {
		for k := range counts {
			keys[k] = true
		}
	}
	var order []string
	notes := map[string]string{}
	for _, kc := range coverageCounters {
		notes[kc.key] = kc.note
		if keys[kc.key] || slices.Contains(requiredCoverage, kc.key) {
			order = append(order, kc.key)
			delete(keys, kc.key)
		}
	}
	var rest []string
	for k := range keys {
		rest = append(rest, k)
	}
	sort.Strings(rest)
	for _, k := range append(order, rest...) {
		row := coverageRow{Key: k, Note: notes[k]}
		for _, n := range v.Nodes {
			cnt, ok := c.Nodes[n][k]
			if !ok {
				row.Counts = append(row.Counts, "–")
				continue
			}
			row.Counts = append(row.Counts, strconv.FormatInt(cnt, 10))
			row.Total += cnt
		}
		row.Missed = row.Total == 0 && slices.Contains(requiredCoverage, k)
		v.Rows = append(v.Rows, row)
	}
	return v
}

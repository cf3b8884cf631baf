package bench

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/zabcheck/zabcheck/docker"
)

// Settings is the Config as bench.json records it.
type Settings struct {
	DBs             []string          `json:"dbs"`
	Nodes           []int             `json:"nodes"`
	Clients         int               `json:"clients"`
	Duration        string            `json:"duration"`
	ValueSize       int               `json:"value_size"`
	FailoverTrials  int               `json:"failover_trials"`
	Rounds          int               `json:"rounds"`
	OpTimeout       string            `json:"op_timeout"`
	SessionTimeout  string            `json:"session_timeout"`
	FailoverTimeout string            `json:"failover_timeout"`
	ReconnectPause  string            `json:"reconnect_backoff"`
	MaxOpsPerPhase  int               `json:"max_ops_per_phase"`
	TickTime        int               `json:"tick_time"`
	InitLimit       int               `json:"init_limit"`
	SyncLimit       int               `json:"sync_limit"`
	Durability      map[string]string `json:"durability"`
	Order           string            `json:"order"`
}

func settingsOf(c Config) Settings {
	or := func(v, def int) int {
		if v == 0 {
			return def
		}
		return v
	}
	d := map[string]string{}
	for _, db := range c.DBs {
		if t, err := docker.LookupTarget(db); err == nil {
			d[db] = t.Durable.Note
			if c.LazyFS {
				d[db] += ", data on lazyfs"
			}
		}
	}
	return Settings{
		DBs: c.DBs, Nodes: c.Nodes, Clients: c.Clients, Duration: c.Duration.String(),
		ValueSize: c.ValueSize, FailoverTrials: c.FailoverTrials, Rounds: c.Rounds,
		OpTimeout: c.OpTimeout.String(), SessionTimeout: c.SessionTimeout.String(),
		FailoverTimeout: c.FailoverTimeout.String(), MaxOpsPerPhase: c.MaxOpsPerPhase,
		ReconnectPause: c.ReconnectBackoff.String(),
		TickTime:       or(c.TickTime, docker.DefaultTickTime),
		InitLimit:      or(c.InitLimit, docker.DefaultInitLimit),
		SyncLimit:      or(c.SyncLimit, docker.DefaultSyncLimit),
		Durability:     d,
		Order:          "per round: for each cluster size, each target in --dbs order; a fresh cluster per target run",
	}
}

// Result is one benchmark invocation; bench.json is its JSON.
type Result struct {
	Settings Settings        `json:"settings"`
	Start    time.Time       `json:"start"`
	End      time.Time       `json:"end"`
	Version  string          `json:"version,omitempty"`
	Runs     []RunResult     `json:"runs"`
	Targets  []TargetSummary `json:"targets"`
	Rows     []Row           `json:"rows"`
	Errors   []string        `json:"errors,omitempty"`
}

// TargetSummary pools every round of one target on one cluster size.
// Throughputs are the mean over rounds; latency quantiles pool all
// samples; failover figures pool all measured trials.
type TargetSummary struct {
	DB                string     `json:"db"`
	Nodes             int        `json:"nodes"`
	Runs              int        `json:"runs"`
	FailedRuns        int        `json:"failed_runs"`
	WriteOpsPerSec    *float64   `json:"write_ops_per_sec"`
	ReadOpsPerSec     *float64   `json:"read_ops_per_sec"`
	WriteErrors       int        `json:"write_errors"`
	ReadErrors        int        `json:"read_errors"`
	WriteLatency      Latency    `json:"write_latency"`
	ReadLatency       Latency    `json:"read_latency"`
	WriteCDF          []CDFPoint `json:"write_cdf,omitempty"`
	ReadCDF           []CDFPoint `json:"read_cdf,omitempty"`
	FailoverMs        []float64  `json:"failover_ms"`
	FailoverFailed    int        `json:"failover_failed"`
	FailoverMedianMs  *float64   `json:"failover_median_ms"`
	FailoverMaxMs     *float64   `json:"failover_max_ms"`
	ColdStartMs       []float64  `json:"cold_start_ms"`
	ColdStartMedianMs *float64   `json:"cold_start_median_ms"`
	ColdStartMaxMs    *float64   `json:"cold_start_max_ms"`
}

// aggregate fills Targets and Rows from Runs.
func (r *Result) aggregate(cfg Config) {
	r.Targets = nil
	for _, n := range cfg.Nodes {
		for _, db := range cfg.DBs {
			r.Targets = append(r.Targets, summarizeTarget(r.Runs, db, n))
		}
	}
	r.Rows = rows(r.Targets, cfg.DBs, cfg.Nodes)
}

func summarizeTarget(runs []RunResult, db string, nodes int) TargetSummary {
	t := TargetSummary{DB: db, Nodes: nodes, FailoverMs: []float64{}, ColdStartMs: []float64{}}
	var wTput, rTput []float64
	var wLat, rLat []time.Duration
	for _, run := range runs {
		if run.DB != db || run.Nodes != nodes {
			continue
		}
		t.Runs++
		if run.Error != "" {
			t.FailedRuns++
		}
		if run.ColdStartMs > 0 {
			t.ColdStartMs = append(t.ColdStartMs, run.ColdStartMs)
		}
		if run.Write != nil {
			wTput = append(wTput, run.Write.OpsPerSec)
			t.WriteErrors += run.Write.Errors
			wLat = append(wLat, run.writeLat...)
		}
		if run.Read != nil {
			rTput = append(rTput, run.Read.OpsPerSec)
			t.ReadErrors += run.Read.Errors
			rLat = append(rLat, run.readLat...)
		}
		for _, tr := range run.Failover {
			if tr.Measured {
				t.FailoverMs = append(t.FailoverMs, tr.UnavailableMs)
			} else {
				t.FailoverFailed++
			}
		}
	}
	t.WriteOpsPerSec = ptr(mean(wTput))
	t.ReadOpsPerSec = ptr(mean(rTput))
	t.WriteLatency, t.WriteCDF = summarize(wLat), cdf(wLat)
	t.ReadLatency, t.ReadCDF = summarize(rLat), cdf(rLat)
	t.FailoverMedianMs = ptr(median(t.FailoverMs))
	t.FailoverMaxMs = ptr(maxOf(t.FailoverMs))
	t.ColdStartMedianMs = ptr(median(t.ColdStartMs))
	t.ColdStartMaxMs = ptr(maxOf(t.ColdStartMs))
	return t
}

// Row is one figure on one cluster size for every target.
type Row struct {
	Nodes  int                 `json:"nodes"`
	Figure string              `json:"figure"`
	Unit   string              `json:"unit"`
	Better string              `json:"better"` // "higher" or "lower"
	Values map[string]*float64 `json:"values"` // by db; null when not measured
	// Ratio is zabnode/zookeeper, null unless both were measured.
	Ratio *float64 `json:"ratio"`
}

// figure is one row of the comparison.
type figure struct {
	name, unit, better string
	get                func(TargetSummary) *float64
}

func latFig(l Latency, get func(Latency) float64) *float64 {
	if l.N == 0 {
		return nil
	}
	v := get(l)
	return &v
}

var figures = []figure{
	{"write throughput", "ops/s", "higher", func(t TargetSummary) *float64 { return t.WriteOpsPerSec }},
	{"read throughput", "ops/s", "higher", func(t TargetSummary) *float64 { return t.ReadOpsPerSec }},
	{"write latency p50", "ms", "lower", func(t TargetSummary) *float64 {
		return latFig(t.WriteLatency, func(l Latency) float64 { return l.P50 })
	}},
	{"write latency p99", "ms", "lower", func(t TargetSummary) *float64 {
		return latFig(t.WriteLatency, func(l Latency) float64 { return l.P99 })
	}},
	{"write latency max", "ms", "lower", func(t TargetSummary) *float64 {
		return latFig(t.WriteLatency, func(l Latency) float64 { return l.Max })
	}},
	{"read latency p50", "ms", "lower", func(t TargetSummary) *float64 { return latFig(t.ReadLatency, func(l Latency) float64 { return l.P50 }) }},
	{"read latency p99", "ms", "lower", func(t TargetSummary) *float64 { return latFig(t.ReadLatency, func(l Latency) float64 { return l.P99 }) }},
	{"read latency max", "ms", "lower", func(t TargetSummary) *float64 { return latFig(t.ReadLatency, func(l Latency) float64 { return l.Max }) }},
	{"failover unavailability median", "ms", "lower", func(t TargetSummary) *float64 { return t.FailoverMedianMs }},
	{"failover unavailability max", "ms", "lower", func(t TargetSummary) *float64 { return t.FailoverMaxMs }},
	{"cold start to quorum median", "ms", "lower", func(t TargetSummary) *float64 { return t.ColdStartMedianMs }},
	{"cold start to quorum max", "ms", "lower", func(t TargetSummary) *float64 { return t.ColdStartMaxMs }},
}

func rows(targets []TargetSummary, dbs []string, nodes []int) []Row {
	var out []Row
	for _, n := range nodes {
		for _, f := range figures {
			row := Row{Nodes: n, Figure: f.name, Unit: f.unit, Better: f.better, Values: map[string]*float64{}}
			for _, db := range dbs {
				for _, t := range targets {
					if t.DB == db && t.Nodes == n {
						row.Values[db] = f.get(t)
					}
				}
			}
			row.Ratio = ratio(row.Values[docker.DBZabnode], row.Values[docker.DBZooKeeper])
			out = append(out, row)
		}
	}
	return out
}

// hasRatio reports whether the comparison has both targets.
func (r Result) hasRatio() bool {
	has := map[string]bool{}
	for _, db := range r.Settings.DBs {
		has[db] = true
	}
	return has[docker.DBZabnode] && has[docker.DBZooKeeper]
}

// formatValue prints a figure with sensible precision, "-" when missing.
func formatValue(v *float64) string {
	if v == nil || math.IsNaN(*v) || math.IsInf(*v, 0) {
		return "-"
	}
	x := *v
	switch {
	case x >= 100:
		return strconv.FormatFloat(x, 'f', 0, 64)
	case x >= 10:
		return strconv.FormatFloat(x, 'f', 1, 64)
	default:
		return strconv.FormatFloat(x, 'f', 2, 64)
	}
}

func formatRatio(v *float64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(*v, 'f', 2, 64) + "x"
}

// WriteTable prints the comparison: one line per cluster size and figure,
// one column per target, and zabnode/zookeeper when both ran.
func WriteTable(w io.Writer, r Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := []string{"NODES", "FIGURE", "UNIT"}
	for _, db := range r.Settings.DBs {
		head = append(head, strings.ToUpper(db))
	}
	if r.hasRatio() {
		head = append(head, "ZABNODE/ZOOKEEPER")
	}
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	for _, row := range r.Rows {
		cols := []string{strconv.Itoa(row.Nodes), row.Figure, row.Unit}
		for _, db := range r.Settings.DBs {
			cols = append(cols, formatValue(row.Values[db]))
		}
		if r.hasRatio() {
			cols = append(cols, formatRatio(row.Ratio))
		}
		fmt.Fprintln(tw, strings.Join(cols, "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	for _, e := range r.Errors {
		if _, err := fmt.Fprintf(w, "error: %s\n", e); err != nil {
			return fmt.Errorf("write table: %w", err)
		}
	}
	return nil
}

package bench

import (
	"encoding/json"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// timeFormat names result directories like the runner's: sortable,
// millisecond precision, nothing to quote in a shell.
const timeFormat = "20060102T150405.000"

// MakeDir creates resultsDir/bench/<time>/ and points
// resultsDir/bench/latest at it.
func MakeDir(resultsDir string, start time.Time) (string, error) {
	base := filepath.Join(resultsDir, "bench")
	dir := filepath.Join(base, start.UTC().Format(timeFormat))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create bench directory: %w", err)
	}
	// A relative link keeps the results directory movable; the rename
	// replaces an older link atomically.
	link := filepath.Join(base, "latest")
	tmp := link + ".tmp"
	_ = os.Remove(tmp)
	if err := os.Symlink(filepath.Base(dir), tmp); err != nil {
		return "", fmt.Errorf("link %s: %w", link, err)
	}
	if err := os.Rename(tmp, link); err != nil {
		return "", fmt.Errorf("link %s: %w", link, err)
	}
	return dir, nil
}

// Files WriteReport writes into its directory.
const (
	JSONFile = "bench.json"
	HTMLFile = "bench.html"
)

// WriteReport writes bench.json, the plots (SVG) and bench.html into dir,
// which must exist. The page loads nothing from the network.
func WriteReport(dir string, r Result) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode bench.json: %w", err)
	}
	if err := writeFile(dir, JSONFile, append(b, '\n')); err != nil {
		return err
	}
	for _, run := range r.Runs {
		for _, p := range run.Profiles {
			if p.data == nil {
				continue
			}
			if err := writeFile(dir, p.File, p.data); err != nil {
				return err
			}
		}
	}
	plots := []struct {
		file string
		draw func() ([]byte, error)
	}{
		{"throughput.svg", func() ([]byte, error) { return throughputPlot(r.Targets) }},
		{"write-latency.svg", func() ([]byte, error) {
			return cdfPlot("Write latency CDF (setData)", r.Targets, func(t TargetSummary) []CDFPoint { return t.WriteCDF })
		}},
		{"read-latency.svg", func() ([]byte, error) {
			return cdfPlot("Read latency CDF (getData)", r.Targets, func(t TargetSummary) []CDFPoint { return t.ReadCDF })
		}},
		{"failover.svg", func() ([]byte, error) { return failoverPlot(r.Targets) }},
	}
	for _, pl := range plots {
		svg, err := pl.draw()
		if err != nil {
			return err
		}
		if err := writeFile(dir, pl.file, svg); err != nil {
			return err
		}
	}
	var html strings.Builder
	if err := pageTmpl.Execute(&html, pageData{Result: r, Ratio: r.hasRatio()}); err != nil {
		return fmt.Errorf("render bench.html: %w", err)
	}
	return writeFile(dir, HTMLFile, []byte(html.String()))
}

// writeFile writes through a temporary file so a reader never sees half a
// report.
func writeFile(dir, name string, data []byte) error {
	tmp := filepath.Join(dir, name+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

type pageData struct {
	Result
	Ratio bool
}

var pageTmpl = template.Must(template.New("bench").Funcs(template.FuncMap{
	"val":   formatValue,
	"ratio": formatRatio,
	"get":   func(m map[string]*float64, k string) *float64 { return m[k] },
	"f1":    func(x float64) string { return fmt.Sprintf("%.1f", x) },
	"ts":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000 MST") },
	"join":  func(xs []string) string { return strings.Join(xs, ", ") },
	"ints": func(xs []int) string {
		s := make([]string, len(xs))
		for i, x := range xs {
			s[i] = fmt.Sprint(x)
		}
		return strings.Join(s, ", ")
	},
	"cls": func(r Row) string {
		if r.Ratio == nil {
			return ""
		}
		better := (*r.Ratio > 1) == (r.Better == "higher")
		if *r.Ratio == 1 {
			return ""
		}
		if better {
			return "better"
		}
		return "worse"
	},
}).Parse(pageHTML))

const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>zabcheck bench — {{join .Settings.DBs}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.better{background:#e3f4e1}.worse{background:#fbe4e0}
.muted{color:#777}.err{color:#b00}
nav a{margin-right:1em}
img{max-width:100%;border:1px solid #eee}
</style>
</head>
<body>
<h1>zabcheck bench: {{join .Settings.DBs}}</h1>
<nav><a href="#summary">Summary</a><a href="#throughput">Throughput</a><a href="#latency">Latency</a><a href="#failover">Failover</a><a href="#coldstart">Cold start</a><a href="#runs">Runs</a><a href="#settings">Settings</a></nav>
<p class="muted">{{ts .Start}} to {{ts .End}}{{if .Version}} · zabcheck {{.Version}}{{end}} · <a href="bench.json">bench.json</a></p>
{{if .Errors}}<div class="err"><b>Errors</b><ul>{{range .Errors}}<li>{{.}}</li>{{end}}</ul></div>{{end}}

<section id="summary">
<h2>Summary</h2>
<p>Each figure per target; {{if .Ratio}}the ratio is zabnode/ZooKeeper (green: zabnode better, red: worse).{{else}}only one target ran, so there is no ratio.{{end}}</p>
<table>
<tr><th class="num">nodes</th><th>figure</th><th>unit</th>{{range .Settings.DBs}}<th class="num">{{.}}</th>{{end}}{{if .Ratio}}<th class="num">zabnode/zookeeper</th>{{end}}</tr>
{{- $dbs := .Settings.DBs}}{{$ratio := .Ratio}}
{{range .Rows}}<tr class="{{cls .}}"><td class="num">{{.Nodes}}</td><td>{{.Figure}}</td><td>{{.Unit}}</td>{{$row := .}}{{range $dbs}}<td class="num">{{val (get $row.Values .)}}</td>{{end}}{{if $ratio}}<td class="num">{{ratio .Ratio}}</td>{{end}}</tr>
{{end}}</table>
</section>

<section id="throughput">
<h2>Throughput</h2>
<p>{{.Settings.Clients}} clients in a closed loop (no rate limit), spread round-robin over all nodes, each on its own znode, for {{.Settings.Duration}} per phase: setData of {{.Settings.ValueSize}} bytes, then getData (local reads). Mean over rounds.</p>
<img src="throughput.svg" alt="throughput bars">
</section>

<section id="latency">
<h2>Latency</h2>
<table>
<tr><th>target</th><th class="num">nodes</th><th>op</th><th class="num">n</th><th class="num">mean</th><th class="num">p50</th><th class="num">p90</th><th class="num">p99</th><th class="num">p99.9</th><th class="num">max (ms)</th><th class="num">errors</th></tr>
{{range .Targets}}<tr><td>{{.DB}}</td><td class="num">{{.Nodes}}</td><td>write</td><td class="num">{{.WriteLatency.N}}</td><td class="num">{{f1 .WriteLatency.Mean}}</td><td class="num">{{f1 .WriteLatency.P50}}</td><td class="num">{{f1 .WriteLatency.P90}}</td><td class="num">{{f1 .WriteLatency.P99}}</td><td class="num">{{f1 .WriteLatency.P999}}</td><td class="num">{{f1 .WriteLatency.Max}}</td><td class="num">{{.WriteErrors}}</td></tr>
<tr><td>{{.DB}}</td><td class="num">{{.Nodes}}</td><td>read</td><td class="num">{{.ReadLatency.N}}</td><td class="num">{{f1 .ReadLatency.Mean}}</td><td class="num">{{f1 .ReadLatency.P50}}</td><td class="num">{{f1 .ReadLatency.P90}}</td><td class="num">{{f1 .ReadLatency.P99}}</td><td class="num">{{f1 .ReadLatency.P999}}</td><td class="num">{{f1 .ReadLatency.Max}}</td><td class="num">{{.ReadErrors}}</td></tr>
{{end}}</table>
<img src="write-latency.svg" alt="write latency CDF">
<img src="read-latency.svg" alt="read latency CDF">
</section>

<section id="failover">
<h2>Leader failover</h2>
<p>With every client writing, the leader is killed (SIGKILL); unavailability runs from the kill to the first acknowledged write invoked after the old leader had surely stopped. The node is restarted and every node serves again before the next trial. Each client talks to one node and redials it every {{.Settings.ReconnectPause}}, so the figure includes the clients' reconnection to their node once it serves again.</p>
<table>
<tr><th>target</th><th class="num">nodes</th><th class="num">trials</th><th class="num">failed</th><th class="num">median (ms)</th><th class="num">max (ms)</th></tr>
{{range .Targets}}<tr><td>{{.DB}}</td><td class="num">{{.Nodes}}</td><td class="num">{{len .FailoverMs}}</td><td class="num">{{.FailoverFailed}}</td><td class="num">{{val .FailoverMedianMs}}</td><td class="num">{{val .FailoverMaxMs}}</td></tr>
{{end}}</table>
<img src="failover.svg" alt="failover trials">
</section>

<section id="coldstart">
<h2>Cold start to quorum</h2>
<p>From creating the containers until a leader answers, a write and a read succeed and every node serves (docker.Start).</p>
<table>
<tr><th>target</th><th class="num">nodes</th><th class="num">runs</th><th class="num">median (ms)</th><th class="num">max (ms)</th></tr>
{{range .Targets}}<tr><td>{{.DB}}</td><td class="num">{{.Nodes}}</td><td class="num">{{len .ColdStartMs}}</td><td class="num">{{val .ColdStartMedianMs}}</td><td class="num">{{val .ColdStartMaxMs}}</td></tr>
{{end}}</table>
</section>

<section id="runs">
<h2>Runs</h2>
<table>
<tr><th class="num">round</th><th>target</th><th class="num">nodes</th><th>test id</th><th class="num">cold start (ms)</th><th class="num">write ops/s</th><th class="num">read ops/s</th><th>failover trials (ms)</th><th>error</th></tr>
{{range .Runs}}<tr><td class="num">{{.Round}}</td><td>{{.DB}}</td><td class="num">{{.Nodes}}</td><td>{{.TestID}}</td><td class="num">{{f1 .ColdStartMs}}</td><td class="num">{{with .Write}}{{f1 .OpsPerSec}}{{end}}</td><td class="num">{{with .Read}}{{f1 .OpsPerSec}}{{end}}</td><td>{{range .Failover}}{{if .Measured}}{{f1 .UnavailableMs}} ({{.Leader}}→{{.NewLeader}}) {{else}}<span class="err">failed</span> {{end}}{{end}}</td><td class="err">{{.Error}}</td></tr>
{{end}}</table>
</section>

<section id="settings">
<h2>Settings</h2>
<table>
<tr><td>targets</td><td>{{join .Settings.DBs}}</td></tr>
<tr><td>cluster sizes</td><td>{{ints .Settings.Nodes}}</td></tr>
<tr><td>clients</td><td>{{.Settings.Clients}}</td></tr>
<tr><td>phase duration</td><td>{{.Settings.Duration}}</td></tr>
<tr><td>value size</td><td>{{.Settings.ValueSize}} bytes</td></tr>
<tr><td>failover trials</td><td>{{.Settings.FailoverTrials}} per run (timeout {{.Settings.FailoverTimeout}})</td></tr>
<tr><td>rounds</td><td>{{.Settings.Rounds}}</td></tr>
<tr><td>order</td><td>{{.Settings.Order}}</td></tr>
<tr><td>op timeout / session timeout</td><td>{{.Settings.OpTimeout}} / {{.Settings.SessionTimeout}}</td></tr>
<tr><td>client reconnect pause</td><td>{{.Settings.ReconnectPause}} (0s: go-zookeeper's fixed 1 s)</td></tr>
<tr><td>zoo.cfg</td><td>tickTime={{.Settings.TickTime}} initLimit={{.Settings.InitLimit}} syncLimit={{.Settings.SyncLimit}}</td></tr>
<tr><td>durability</td><td>{{range $db, $v := .Settings.Durability}}{{$db}}: {{$v}}<br>{{end}}</td></tr>
<tr><td>max ops per phase</td><td>{{.Settings.MaxOpsPerPhase}}</td></tr>
</table>
</section>
</body>
</html>
`

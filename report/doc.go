// Package report turns a stored run directory into a static HTML report with
// plots, and serves the results directory over HTTP for browsing runs.
//
// It never computes verdicts: it reads what the runner and the checker wrote
// (test.json, history.jsonl, results.json) and only reshapes it for display.
// The report opens from disk with no network: CSS, JS and the timeline data
// are inlined, and the plots are SVG files next to report.html.
package report

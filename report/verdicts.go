package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"

	"github.com/zabcheck/zabcheck/checker"
)

// checkView is one checker's row in a table of verdicts.
type checkView struct {
	// ID is the row's element id. Two workloads may run checkers of the
	// same name, so a workload's rows carry its name too.
	ID string
	// PanelID is the id of the checker's own panel, where its whole
	// result is shown; the row in the table of verdicts links to it.
	PanelID     string
	Workload    string // "" for a cluster check
	Name        string
	Verdict     checker.Verdict
	Explanation string
	Short       string // the explanation as the table row shows it
	Ops         []int64
	Files       []fileLink
	Details     string
	Facts       []factView // Details' plain values, as a table
	// Examples are the first cited ops with their values; the cited-ops
	// table holds them all.
	Examples    []refOpView
	ExamplesCut int
	SeeAlso     []fileLink // the figures drawn from this result elsewhere on the page
}

// factView is one plain value of a checker's Details.
type factView struct{ Key, Value string }

// workloadView is one workload's section of the verdicts.
type workloadView struct {
	ID      string
	Name    string
	Verdict checker.Verdict
	Checks  []checkView
}

// verdictViews shapes results.json for the page: the cluster's checks, one
// section per workload, and every op index any check cites (sorted, once
// each). A results.json written before workloads had sections has every
// check in Checks and no Workloads; it renders as one table, as before.
func verdictViews(r run) (cluster []checkView, workloads []workloadView, refs []int64) {
	seen := map[int64]bool{}
	view := func(id string, c checker.Result) checkView {
		for _, i := range c.Ops {
			if !seen[i] {
				seen[i] = true
				refs = append(refs, i)
			}
		}
		return checkViewOf(r.Dir, id, c)
	}
	panel := func(cv checkView, workload string) checkView {
		cv.Workload = workload
		cv.PanelID = "panel-" + cv.Name
		if workload != "" {
			cv.PanelID = "panel-" + workload + "/" + cv.Name
		}
		return cv
	}
	for _, w := range r.Summary.Workloads {
		wv := workloadView{ID: "workload-" + w.Name, Name: w.Name, Verdict: w.Verdict}
		if wv.Verdict == "" {
			wv.Verdict = checker.Unknown // a section without a verdict proves nothing
		}
		for _, c := range w.Checks {
			wv.Checks = append(wv.Checks, panel(view("check-"+w.Name+"/"+c.Name, c), w.Name))
		}
		workloads = append(workloads, wv)
	}
	for _, c := range r.Summary.Checks {
		cluster = append(cluster, panel(view("check-"+c.Name, c), ""))
	}
	slices.Sort(refs)
	return cluster, workloads, refs
}

func checkViewOf(dir, id string, c checker.Result) checkView {
	cv := checkView{ID: id, Name: c.Name, Verdict: c.Verdict, Explanation: c.Explanation, Short: clip(c.Explanation, maxRowExplanation)}
	linked := map[int64]bool{}
	for _, i := range c.Ops {
		if !linked[i] { // checkers may cite an op twice; one link is enough
			linked[i] = true
			cv.Ops = append(cv.Ops, i)
		}
	}
	for _, f := range c.Files {
		cv.Files = append(cv.Files, linkIfExists(dir, f, ""))
	}
	if len(c.Details) > 0 {
		if b, err := json.MarshalIndent(c.Details, "", "  "); err == nil {
			cv.Details = clip(string(b), maxShownDetails)
		}
		cv.Facts = facts(c.Details)
	}
	return cv
}

// A row of the table of verdicts shows this much of an explanation; the
// checker's panel shows it all.
const maxRowExplanation = 400

// maxFacts bounds the plain values a panel lists; the JSON holds them all.
const (
	maxFacts    = 40
	maxFactText = 200
)

// facts lists the plain values of a result's Details (counts, names,
// flags) by key, and says what a nested value holds: its whole text is in
// the JSON below the table.
func facts(d map[string]any) []factView {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []factView
	for _, k := range keys {
		if len(out) == maxFacts {
			out = append(out, factView{Key: "…", Value: fmt.Sprintf("%d more in the JSON", len(keys)-maxFacts)})
			break
		}
		var s string
		switch v := d[k].(type) {
		case nil:
			s = "null"
		case string:
			s = clip(v, maxFactText)
		case bool:
			s = strconv.FormatBool(v)
		case float64:
			s = strconv.FormatFloat(v, 'f', -1, 64)
		case int:
			s = strconv.Itoa(v)
		case int64:
			s = strconv.FormatInt(v, 10)
		case []any:
			s = fmt.Sprintf("a list of %d (in the JSON)", len(v))
		case map[string]any:
			s = fmt.Sprintf("an object of %d keys (in the JSON)", len(v))
		default:
			b, err := json.Marshal(v)
			if err != nil {
				continue
			}
			s = clip(string(b), maxFactText)
		}
		out = append(out, factView{Key: k, Value: s})
	}
	return out
}

// maxExamples bounds the cited ops a panel shows with their values.
const maxExamples = 8

// checkerPanels lists every check as a panel, in the page's order (the
// cluster's, then each workload's), each with the values of the first ops
// it cites and links to the figures drawn from it.
func checkerPanels(cluster []checkView, workloads []workloadView, cited []refOpView, lv []livenessView, wv []watchView) []checkView {
	byIndex := make(map[int64]refOpView, len(cited))
	for _, o := range cited {
		byIndex[o.Index] = o
	}
	all := slices.Clone(cluster)
	for _, w := range workloads {
		all = append(all, w.Checks...)
	}
	for i := range all {
		p := &all[i]
		for _, op := range p.Ops {
			o, ok := byIndex[op]
			if !ok || len(p.Examples) == maxExamples {
				p.ExamplesCut++
				continue
			}
			p.Examples = append(p.Examples, o)
		}
		for _, l := range lv {
			if p.Name == "liveness" && l.Workload == p.Workload {
				p.SeeAlso = append(p.SeeAlso, fileLink{Href: "#" + l.ID, Label: "its timeline of progress and stalls"})
			}
		}
		for _, w := range wv {
			if w.CheckPanel == p.PanelID {
				p.SeeAlso = append(p.SeeAlso, fileLink{Href: "#" + w.ID, Label: "each session's watch events against the changes"})
			}
		}
	}
	return all
}

// checkFiles links every file a check says it produced, once each, labelled
// with the check that made it; the Files section lists them from
// results.json rather than from a list of known file names.
func checkFiles(r run) []fileLink {
	var links []fileLink
	seen := map[string]bool{}
	for _, c := range r.Summary.AllChecks() {
		for _, f := range c.Files {
			if seen[f] {
				continue
			}
			seen[f] = true
			links = append(links, linkIfExists(r.Dir, f, c.Name+": "+f))
		}
	}
	return links
}

// linkIfExists links a file named by a checker, noting when it is absent.
func linkIfExists(dir, rel, label string) fileLink {
	if label == "" {
		label = rel
	}
	l := fileLink{Href: filepath.ToSlash(rel), Label: label}
	if !filepath.IsLocal(rel) {
		l.Href, l.Note = "", "not inside the run directory"
	} else if _, err := os.Stat(filepath.Join(dir, rel)); err != nil {
		l.Note = "missing"
	}
	return l
}

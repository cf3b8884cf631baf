package report

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"

	"github.com/zabcheck/zabcheck/checker"
)

// checkView is one checker's row in a table of verdicts.
type checkView struct {
	// ID is the row's element id. Two workloads may run checkers of the
	// same name, so a workload's rows carry its name too.
	ID          string
	Name        string
	Verdict     checker.Verdict
	Explanation string
	Ops         []int64
	Files       []fileLink
	Details     string
}

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
	for _, w := range r.Summary.Workloads {
		wv := workloadView{ID: "workload-" + w.Name, Name: w.Name, Verdict: w.Verdict}
		if wv.Verdict == "" {
			wv.Verdict = checker.Unknown // a section without a verdict proves nothing
		}
		for _, c := range w.Checks {
			wv.Checks = append(wv.Checks, view("check-"+w.Name+"/"+c.Name, c))
		}
		workloads = append(workloads, wv)
	}
	for _, c := range r.Summary.Checks {
		cluster = append(cluster, view("check-"+c.Name, c))
	}
	slices.Sort(refs)
	return cluster, workloads, refs
}

func checkViewOf(dir, id string, c checker.Result) checkView {
	cv := checkView{ID: id, Name: c.Name, Verdict: c.Verdict, Explanation: c.Explanation}
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
	}
	return cv
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

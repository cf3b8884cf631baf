package report

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/zabcheck/zabcheck/checker"
)

// perPage is the index page size.
const perPage = 100

// cachedRun is a run as last described, with the stamp of the files it
// was read from.
type cachedRun struct {
	stamp string
	info  RunInfo
}

// listRuns is ListRuns with a cache keyed by the files' sizes and times, so
// that reloading the index does not rescan every history.
func (s *Server) listRuns() ([]RunInfo, error) {
	dirs, err := findRunDirs(s.dir)
	if err != nil {
		return nil, err
	}
	runs := make([]RunInfo, 0, len(dirs))
	s.mu.Lock()
	defer s.mu.Unlock()
	live := map[string]bool{}
	for _, rel := range dirs {
		live[rel] = true
		stamp := runStamp(filepath.Join(s.dir, filepath.FromSlash(rel)))
		if c, ok := s.cache[rel]; ok && c.stamp == stamp {
			runs = append(runs, c.info)
			continue
		}
		info := describeRun(s.dir, rel)
		s.cache[rel] = cachedRun{stamp: stamp, info: info}
		runs = append(runs, info)
	}
	for rel := range s.cache {
		if !live[rel] {
			delete(s.cache, rel)
		}
	}
	return runs, nil
}

func runStamp(dir string) string {
	var b strings.Builder
	for _, name := range []string{testFile, resultsFile, historyFile, reportFile} {
		if st, err := os.Stat(filepath.Join(dir, name)); err == nil {
			fmt.Fprintf(&b, "%s:%d:%d;", name, st.Size(), st.ModTime().UnixNano())
		}
	}
	return b.String()
}

// indexVerdicts are the verdicts the index filters by: the checker's, and
// Incomplete for runs without one.
var indexVerdicts = []checker.Verdict{checker.Valid, checker.Invalid, checker.Unknown, Incomplete}

// indexQuery is the index's query parameters, validated.
type indexQuery struct {
	Page    int
	Sort    string
	Desc    bool
	Filter  string // substring, case-insensitive
	Verdict string // exact, or "" for all
}

// parseIndexQuery reads page, sort, order, q and verdict. Bad values get a
// clear error rather than a silently different page.
func parseIndexQuery(v url.Values) (indexQuery, error) {
	q := indexQuery{Page: 1, Sort: sortTime, Desc: true, Filter: strings.TrimSpace(v.Get("q")), Verdict: v.Get("verdict")}
	if p := v.Get("page"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 {
			return q, fmt.Errorf("page must be a positive integer, got %q", p)
		}
		q.Page = n
	}
	if k := v.Get("sort"); k != "" {
		found := false
		for _, s := range sortKeys {
			found = found || s == k
		}
		if !found {
			return q, fmt.Errorf("sort must be one of %s, got %q", strings.Join(sortKeys, ", "), k)
		}
		q.Sort = k
	}
	switch o := v.Get("order"); o {
	case "", "desc":
	case "asc":
		q.Desc = false
	default:
		return q, fmt.Errorf("order must be asc or desc, got %q", o)
	}
	if q.Verdict != "" && !slices.Contains(indexVerdicts, checker.Verdict(q.Verdict)) {
		names := make([]string, len(indexVerdicts))
		for i, v := range indexVerdicts {
			names[i] = string(v)
		}
		return q, fmt.Errorf("verdict must be one of %s, got %q", strings.Join(names, ", "), q.Verdict)
	}
	return q, nil
}

// indexPage is one page of the filtered, sorted runs.
type indexPage struct {
	Runs         []RunInfo
	Total        int // after filtering
	All          int // before filtering
	Page, Pages  int
	VerdictCount map[string]int // after the text filter, before the verdict filter
}

// selectRuns filters, sorts and paginates. A page past the end yields the
// last page.
func selectRuns(runs []RunInfo, q indexQuery) indexPage {
	out := indexPage{All: len(runs), VerdictCount: map[string]int{}}
	needle := strings.ToLower(q.Filter)
	var kept []RunInfo
	for _, r := range runs {
		if needle != "" && !strings.Contains(strings.ToLower(strings.Join([]string{r.Name, r.Path, r.DB, r.Workload, workloadList(r),
			strings.Join(r.Nemesis, ","), string(r.Verdict), r.Error}, " ")), needle) {
			continue
		}
		out.VerdictCount[string(r.Verdict)]++
		if q.Verdict != "" && string(r.Verdict) != q.Verdict {
			continue
		}
		kept = append(kept, r)
	}
	sortRuns(kept, q.Sort, q.Desc)
	out.Total = len(kept)
	out.Pages = max(1, (len(kept)+perPage-1)/perPage)
	out.Page = min(max(q.Page, 1), out.Pages)
	lo := (out.Page - 1) * perPage
	hi := min(lo+perPage, len(kept))
	if lo < hi {
		out.Runs = kept[lo:hi]
	}
	return out
}

type indexView struct {
	Dir      string
	Q        indexQuery
	P        indexPage
	Rows     []indexRow
	Columns  []indexColumn
	Pager    []pagerLink
	Verdicts []verdictFilter
	Prev     string
	Next     string
	Error    string
	CSS      template.CSS
	JS       template.JS
}

type indexRow struct {
	RunInfo
	Href, ZipHref, TimeS, NemesisS string
}

type indexColumn struct {
	Label, Href string
	Active      bool
	Arrow       string
}

type pagerLink struct {
	Label, Href string
	Current     bool
}

type verdictFilter struct {
	Name, Href string
	Count      int
	Active     bool
}

// link builds an index URL from q with changes applied.
func (q indexQuery) link(change func(*indexQuery)) string {
	c := q
	change(&c)
	v := url.Values{}
	if c.Page > 1 {
		v.Set("page", strconv.Itoa(c.Page))
	}
	if c.Sort != sortTime {
		v.Set("sort", c.Sort)
	}
	if !c.Desc {
		v.Set("order", "asc")
	}
	if c.Filter != "" {
		v.Set("q", c.Filter)
	}
	if c.Verdict != "" {
		v.Set("verdict", c.Verdict)
	}
	if len(v) == 0 {
		return "/"
	}
	return "/?" + v.Encode()
}

func (s *Server) serveIndex(w http.ResponseWriter, r *http.Request) {
	q, qerr := parseIndexQuery(r.URL.Query())
	status := http.StatusOK
	v := indexView{Dir: s.dir, CSS: template.CSS(asset("report.css")), JS: template.JS(asset("index.js"))}
	if qerr != nil {
		status = http.StatusBadRequest
		v.Error = qerr.Error()
		q = indexQuery{Page: 1, Sort: sortTime, Desc: true}
	}
	runs, err := s.listRuns()
	if err != nil {
		s.logger.Error("list runs", "err", err)
		http.Error(w, "cannot list runs: "+err.Error(), http.StatusInternalServerError)
		return
	}
	v.Q = q
	v.P = selectRuns(runs, q)
	for _, run := range v.P.Runs {
		row := indexRow{RunInfo: run, Href: "/runs/" + escapePath(run.Path) + "/", ZipHref: "/zip/" + escapePath(run.Path),
			NemesisS: strings.Join(run.Nemesis, ", ")}
		if !run.HasReport {
			row.Href += "?list=1"
		}
		if !run.Time.IsZero() {
			row.TimeS = run.Time.UTC().Format("2006-01-02 15:04:05")
		}
		v.Rows = append(v.Rows, row)
	}
	for _, c := range []struct{ key, label string }{{sortName, "name"}, {sortTime, "time (UTC)"}, {sortDB, "db"},
		{sortWorkload, "workload"}, {sortNemesis, "nemesis"}, {sortOps, "ops"}, {sortVerdict, "verdict"}} {
		col := indexColumn{Label: c.label, Active: q.Sort == c.key}
		col.Href = q.link(func(n *indexQuery) {
			n.Page = 1
			if n.Sort == c.key {
				n.Desc = !n.Desc
			} else {
				n.Sort, n.Desc = c.key, c.key == sortTime || c.key == sortOps
			}
		})
		if col.Active {
			col.Arrow = "▲"
			if q.Desc {
				col.Arrow = "▼"
			}
		}
		v.Columns = append(v.Columns, col)
	}
	for _, verdict := range append([]checker.Verdict{""}, indexVerdicts...) {
		name := string(verdict)
		f := verdictFilter{Name: name, Active: q.Verdict == name}
		if name == "" {
			f.Name = "all"
			for _, n := range v.P.VerdictCount {
				f.Count += n
			}
		} else {
			f.Count = v.P.VerdictCount[name]
		}
		f.Href = q.link(func(n *indexQuery) { n.Page, n.Verdict = 1, name })
		v.Verdicts = append(v.Verdicts, f)
	}
	if v.P.Pages > 1 {
		for i := 1; i <= v.P.Pages; i++ {
			v.Pager = append(v.Pager, pagerLink{Label: strconv.Itoa(i), Current: i == v.P.Page,
				Href: q.link(func(n *indexQuery) { n.Page = i })})
		}
		if v.P.Page > 1 {
			v.Prev = q.link(func(n *indexQuery) { n.Page = v.P.Page - 1 })
		}
		if v.P.Page < v.P.Pages {
			v.Next = q.link(func(n *indexQuery) { n.Page = v.P.Page + 1 })
		}
	}
	b, err := executePage("index.html.tmpl", v)
	if err != nil {
		s.logger.Error("render index", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

package report

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// DefaultAddr is where serve listens unless told otherwise: loopback only,
// because run directories hold logs and node data.
const DefaultAddr = "127.0.0.1:8080"

// perPage is the index page size.
const perPage = 100

// shutdownTimeout bounds the graceful shutdown of Serve.
const shutdownTimeout = 5 * time.Second

// Server serves the index of runs, each run's files and zip downloads, and
// nothing outside the results directory.
type Server struct {
	dir    string // absolute, symlinks resolved
	logger *slog.Logger

	mu    sync.Mutex
	cache map[string]cachedRun // by run path
}

type cachedRun struct {
	stamp string
	info  RunInfo
}

// NewServer serves resultsDir, which must exist.
func NewServer(resultsDir string, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	abs, err := filepath.Abs(resultsDir)
	if err != nil {
		return nil, fmt.Errorf("open results directory: %w", err)
	}
	target, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("open results directory: %w", err)
	}
	st, err := os.Stat(target)
	if err != nil {
		return nil, fmt.Errorf("open results directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("open results directory: %s is not a directory", resultsDir)
	}
	return &Server{dir: target, logger: logger, cache: map[string]cachedRun{}}, nil
}

// Handler routes / (index), /runs/<test>/<time>/... (files) and
// /zip/<test>/<time> (download).
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		// Routing by hand: http.ServeMux would answer unclean paths with a
		// redirect, and every path here is checked by safeRel instead.
		p := r.URL.Path
		switch {
		case p == "/" || p == "":
			s.serveIndex(w, r)
		case strings.HasPrefix(p, "/runs/"):
			s.serveRunFile(w, r, strings.TrimPrefix(p, "/runs/"))
		case strings.HasPrefix(p, "/zip/"):
			s.serveZip(w, r, strings.TrimPrefix(p, "/zip/"))
		default:
			http.NotFound(w, r)
		}
	})
}

// errOutside marks paths that resolve outside the results directory.
var errOutside = errors.New("path is outside the results directory")

// safeRel checks a slash-separated path taken from a URL: relative, no
// "." or ".." segment, no backslash or NUL, no empty segment except a
// trailing slash. URL decoding has already happened, so %2e%2e arrives as
// ".." and is refused here.
func safeRel(p string) (rel string, dir bool, ok bool) {
	if strings.ContainsAny(p, "\\\x00") || strings.HasPrefix(p, "/") {
		return "", false, false
	}
	dir = strings.HasSuffix(p, "/")
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		return ".", true, true
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", false, false
		}
	}
	if !fs.ValidPath(p) || !filepath.IsLocal(filepath.FromSlash(p)) {
		return "", false, false
	}
	return p, dir, true
}

// resolve maps a checked relative path to a target path inside the results
// directory, following symlinks (results/latest) only when they stay inside.
func (s *Server) resolve(rel string) (string, error) {
	target, err := filepath.EvalSymlinks(filepath.Join(s.dir, filepath.FromSlash(rel)))
	if err != nil {
		return "", err
	}
	in, err := filepath.Rel(s.dir, target)
	if err != nil || in == ".." || strings.HasPrefix(in, ".."+string(filepath.Separator)) || filepath.IsAbs(in) {
		return "", errOutside
	}
	return target, nil
}

// refuse answers a bad path without saying more than necessary.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errOutside) {
		s.logger.Warn("refused path outside results", "path", r.URL.Path)
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	http.NotFound(w, r)
}

func (s *Server) serveRunFile(w http.ResponseWriter, r *http.Request, p string) {
	rel, wantDir, ok := safeRel(p)
	if !ok || rel == "." {
		http.NotFound(w, r)
		return
	}
	target, err := s.resolve(rel)
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	st, err := os.Stat(target)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	if st.IsDir() {
		if !wantDir {
			// Relative links in report.html need the trailing slash.
			http.Redirect(w, r, "/runs/"+escapePath(rel)+"/", http.StatusMovedPermanently)
			return
		}
		if r.URL.Query().Get("list") == "" {
			if rst, err := os.Stat(filepath.Join(target, reportFile)); err == nil && rst.Mode().IsRegular() {
				s.serveFile(w, r, filepath.Join(target, reportFile), rst)
				return
			}
		}
		s.serveListing(w, r, rel, target)
		return
	}
	if wantDir || !st.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	s.serveFile(w, r, target, st)
}

func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, target string, st os.FileInfo) {
	f, err := os.Open(target)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	switch strings.ToLower(filepath.Ext(target)) {
	case ".jsonl", ".log", ".txt", ".cfg", ".edn":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	case ".json":
		w.Header().Set("Content-Type", "application/json")
	}
	http.ServeContent(w, r, filepath.Base(target), st.ModTime(), f)
}

func escapePath(rel string) string {
	segs := strings.Split(rel, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// maxListing bounds a directory listing (node data directories can hold
// many files).
const maxListing = 2000

type listingView struct {
	Rel     string
	Up      string
	Entries []listingEntry
	More    int
	CSS     template.CSS
}

type listingEntry struct {
	Href, Name, Size, Time string
}

func (s *Server) serveListing(w http.ResponseWriter, r *http.Request, rel, target string) {
	entries, err := os.ReadDir(target)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	v := listingView{Rel: rel, CSS: template.CSS(asset("report.css"))}
	if d := path.Dir(rel); d != "." {
		v.Up = "/runs/" + escapePath(d) + "/?list=1"
	} else {
		v.Up = "/"
	}
	for _, e := range entries {
		if len(v.Entries) == maxListing {
			v.More++
			continue
		}
		le := listingEntry{Name: e.Name(), Href: url.PathEscape(e.Name())}
		if info, err := e.Info(); err == nil {
			le.Time = info.ModTime().UTC().Format(time.DateTime)
			if !info.IsDir() {
				le.Size = strconv.FormatInt(info.Size(), 10)
			}
		}
		if e.IsDir() {
			le.Name += "/"
			le.Href += "/?list=1"
		}
		v.Entries = append(v.Entries, le)
	}
	b, err := executePage("listing.html.tmpl", v)
	if err != nil {
		s.logger.Error("render listing", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(b)
}

// serveZip streams a run directory as a zip. Symlinks are left out: they are
// either the latest links or could point anywhere.
func (s *Server) serveZip(w http.ResponseWriter, r *http.Request, p string) {
	rel, _, ok := safeRel(p)
	if !ok || rel == "." {
		http.NotFound(w, r)
		return
	}
	target, err := s.resolve(rel)
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	if st, err := os.Stat(filepath.Join(target, testFile)); err != nil || !st.Mode().IsRegular() {
		http.NotFound(w, r) // only run directories are offered for download
		return
	}
	name := strings.ReplaceAll(rel, "/", "-")
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", `attachment; filename="`+strings.ReplaceAll(name, `"`, "")+`.zip"`)
	if r.Method == http.MethodHead {
		return
	}
	zw := zip.NewWriter(w)
	n, err := writeZip(r.Context(), zw, target, path.Base(rel))
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		// Headers are gone; the client sees a truncated archive.
		s.logger.Warn("zip run", "run", rel, "files", n, "err", err)
		return
	}
	s.logger.Debug("zip run", "run", rel, "files", n)
}

func writeZip(ctx context.Context, zw *zip.Writer, dir, prefix string) (int, error) {
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil // directories are implied by file names; symlinks skipped
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		h, err := zip.FileInfoHeader(info)
		if err != nil {
			return err
		}
		h.Name = prefix + "/" + filepath.ToSlash(rel)
		h.Method = zip.Deflate
		out, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		_, err = io.Copy(out, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("zip %s: %w", rel, err)
		}
		n++
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("zip run: %w", err)
	}
	return n, nil
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
	switch q.Verdict {
	case "", "valid", "invalid", "unknown", string(Incomplete):
	default:
		return q, fmt.Errorf("verdict must be valid, invalid, unknown or incomplete, got %q", q.Verdict)
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
		if needle != "" && !strings.Contains(strings.ToLower(strings.Join([]string{r.Name, r.Path, r.DB, r.Workload,
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
	for _, name := range []string{"", "valid", "invalid", "unknown", string(Incomplete)} {
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

// Serve serves resultsDir on addr (DefaultAddr when empty) until ctx is
// done, then shuts down gracefully within a few seconds.
func Serve(ctx context.Context, addr, resultsDir string, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if addr == "" {
		addr = DefaultAddr
	}
	s, err := NewServer(resultsDir, logger)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return serveOn(ctx, ln, s, logger)
}

// serveOn runs the HTTP server on ln until ctx is done; it owns ln.
func serveOn(ctx context.Context, ln net.Listener, s *Server, logger *slog.Logger) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
	}
	logger.Info("serving results", "url", "http://"+ln.Addr().String()+"/", "dir", s.dir)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			_ = srv.Close()
			return fmt.Errorf("shut down server: %w", err)
		}
		return nil
	})
	err := g.Wait()
	logger.Info("server stopped")
	return err
}

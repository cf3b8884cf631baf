package report

import (
	"html/template"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func (s *Server) serveRunFile(w http.ResponseWriter, r *http.Request, p string) {
	rel, target, wantDir, ok := s.runPath(w, r, p)
	if !ok {
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

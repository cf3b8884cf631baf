package report

import (
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
)

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
// runPath resolves a /runs/ request path p to a file under the results
// directory, answering the request itself (404 or 403) when it cannot:
// ok is false then. wantDir says p ended in a slash.
func (s *Server) runPath(w http.ResponseWriter, r *http.Request, p string) (rel, target string, wantDir, ok bool) {
	rel, wantDir, ok = safeRel(p)
	if !ok || rel == "." {
		http.NotFound(w, r)
		return "", "", false, false
	}
	target, err := s.resolve(rel)
	if err != nil {
		s.refuse(w, r, err)
		return "", "", false, false
	}
	return rel, target, wantDir, true
}

func (s *Server) refuse(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errOutside) {
		s.logger.Warn("refused path outside results", "path", r.URL.Path)
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	http.NotFound(w, r)
}
func escapePath(rel string) string {
	segs := strings.Split(rel, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

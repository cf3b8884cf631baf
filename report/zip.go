package report

import (
	"archive/zip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// serveZip streams a run directory as a zip. Symlinks are left out: they are
// either the latest links or could point anywhere.
func (s *Server) serveZip(w http.ResponseWriter, r *http.Request, p string) {
	rel, target, _, ok := s.runPath(w, r, p)
	if !ok {
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

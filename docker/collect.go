package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// Files Collect writes under dir/<node>/.
const (
	CollectLogFile  = "container.log"
	CollectCfgFile  = "zoo.cfg"
	CollectDataDir  = "data"
	CollectDumpFile = "dump.json"
)

// Collect saves, for every node, into dir/<node>/: the container log
// (stdout and stderr interleaved), the zoo.cfg, the data directory and the
// target's own artifacts (zabnode: the state dump from
// http://IP:8080/dump). A missing artifact is a logged warning; a node whose log or data cannot be read makes the error,
// after the other nodes were collected. It runs even when ctx is cancelled
// (bounded by 2 minutes), so a run's cleanup can still collect.
func (c *Cluster) Collect(ctx context.Context, dir string) error {
	if c.closed.Load() {
		return errors.New("collect: cluster is closed")
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	var errs []error
	for _, n := range c.nodes {
		if err := c.collectNode(ctx, n, filepath.Join(dir, n.spec.Name)); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("collect: %w", errors.Join(errs...))
	}
	return nil
}

func (c *Cluster) collectNode(ctx context.Context, n *node, dir string) error {
	name := n.spec.Name
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("collect %s: %w", name, err)
	}
	var errs []error
	if err := os.WriteFile(filepath.Join(dir, CollectCfgFile), []byte(n.cfg), 0o644); err != nil {
		errs = append(errs, err)
	}
	if err := c.saveLog(ctx, n, filepath.Join(dir, CollectLogFile)); err != nil {
		errs = append(errs, err)
	}
	// A frozen container cannot be read from; thaw it (the fault is over
	// once a run collects).
	if _, err := c.unpauseIfPaused(ctx, n); err != nil {
		errs = append(errs, err)
	}
	if err := c.saveData(ctx, n, filepath.Join(dir, CollectDataDir)); err != nil {
		errs = append(errs, err)
	}
	if c.target.collect != nil {
		c.target.collect(ctx, c, n, dir)
	}
	if len(errs) > 0 {
		return fmt.Errorf("collect %s: %w", name, errors.Join(errs...))
	}
	return nil
}

func (c *Cluster) saveLog(ctx context.Context, n *node, file string) error {
	rc, err := c.cli.ContainerLogs(ctx, n.ctrID, container.LogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true})
	if err != nil {
		return fmt.Errorf("read log: %w", err)
	}
	defer rc.Close()
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("save log: %w", err)
	}
	_, err = stdcopy.StdCopy(f, f, rc)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("save log: %w", err)
	}
	return nil
}

// saveData copies the data directory out of the container (which works on
// a stopped container too) and unpacks it into dest. On a lazy fs it copies
// what the node sees, through the mount, as a copy without lazyfs holds
// the page cache: the volume would lack the writes not yet fsynced (state
// a power loss tests, not the end of a run). A node that is down has
// nothing unsynced left (lazyfs flushes on kill and stop, and a power loss
// dropped it), so its volume is its data.
func (c *Cluster) saveData(ctx context.Context, n *node, dest string) error {
	if c.cfg.LazyFS {
		st, err := c.state(ctx, n)
		if err == nil && st.Running {
			return c.saveLazyData(ctx, n, dest)
		}
	}
	rc, _, err := c.cli.CopyFromContainer(ctx, n.ctrID, DataVolume)
	if err != nil {
		return fmt.Errorf("copy data dir: %w", err)
	}
	defer rc.Close()
	if err := untarStrip(rc, dest, strings.TrimPrefix(DataVolume, "/")); err != nil {
		return fmt.Errorf("copy data dir: %w", err)
	}
	return nil
}

// saveLazyData streams tar of the mount out of the running container.
func (c *Cluster) saveLazyData(ctx context.Context, n *node, dest string) error {
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		err := c.execTo(ctx, n.spec.Name, []string{"tar", "-C", "/", "-cf", "-", strings.TrimPrefix(LazyFSMount, "/")}, pw, &stderr)
		pw.CloseWithError(err)
		done <- err
	}()
	err := untarStrip(pr, dest, strings.TrimPrefix(LazyFSMount, "/"))
	if err == nil {
		// tar pads its archive past the end-of-archive blocks, which
		// untarStrip does not read.
		_, err = io.Copy(io.Discard, pr)
	}
	pr.CloseWithError(err) // unblocks the exec if we stopped reading
	if xerr := <-done; xerr != nil {
		return fmt.Errorf("copy data dir through lazyfs: %w", xerr)
	}
	if err != nil {
		return fmt.Errorf("copy data dir through lazyfs: %w", err)
	}
	return nil
}

// untarStrip extracts regular files and directories of a tar stream whose
// entries start with prefix/ into dest, refusing paths that would escape
// dest. Links and devices are skipped: a data dir holds none.
func untarStrip(r io.Reader, dest, prefix string) error {
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return err
	}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read tar: %w", err)
		}
		name := path.Clean(hdr.Name)
		if name == prefix || name == "." {
			continue
		}
		rel, ok := strings.CutPrefix(name, prefix+"/")
		if !ok || rel == "" || path.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, "../") {
			return fmt.Errorf("unexpected entry %q in tar", hdr.Name)
		}
		if rel == LazyFSTrash || strings.HasPrefix(rel, LazyFSTrash+"/") {
			continue // lazyfs's undo data, not the node's
		}
		target := filepath.Join(dest, filepath.FromSlash(rel))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}

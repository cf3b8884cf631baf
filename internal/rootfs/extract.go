package rootfs

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"strings"
)

// debTar returns a .deb's data (its files, not its maintainer scripts)
// as a tar archive. dpkg-deb decompresses: bookworm's data.tar is xz,
// which the standard library cannot read. The tar is then written by
// extractTar, not by a tar program, so that no entry, whatever its path
// or the links before it, can write outside the root file system (a tar
// running as root on the host would follow an absolute symlink out).
func debTar(ctx context.Context, deb string) ([]byte, error) {
	var out, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "dpkg-deb", "--fsys-tarfile", deb)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("dpkg-deb --fsys-tarfile %s: %w: %s", deb, err, strings.TrimSpace(stderr.String()))
	}
	return out.Bytes(), nil
}

// dropped reports whether a file is left out of the slim image, as the
// stock debian:bookworm-slim's dpkg path-excludes do: documentation but
// the copyright files, manual and info pages, translations and lintian
// overrides. Nothing here is read by a program.
func dropped(name string) bool {
	for _, dir := range []string{"usr/share/man/", "usr/share/info/", "usr/share/locale/", "usr/share/lintian/", "usr/share/groff/"} {
		if strings.HasPrefix(name, dir) {
			return true
		}
	}
	rest, ok := strings.CutPrefix(name, "usr/share/doc/")
	if !ok {
		return false
	}
	// usr/share/doc/<pkg> (a directory or a link) and its copyright stay.
	pkg, file, deeper := strings.Cut(rest, "/")
	return pkg != "" && deeper && file != "copyright"
}

// extractTar writes a package's data tar into root at merged-/usr paths
// (mergedPath), with the archive's owners, modes and file times. An entry
// replaces a file or link already at its path, as dpkg does when a
// package takes a file over; a directory stays and takes the entry's
// owner and mode.
func extractTar(root *os.Root, r io.Reader, arch string) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read tar: %w", err)
		}
		name, err := cleanEntry(hdr.Name, arch)
		if err != nil {
			return err
		}
		if name == "" || dropped(name) {
			continue // the archive's "./", or documentation
		}
		mode := hdr.FileInfo().Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		if dir := path.Dir(name); dir != "." {
			if err := root.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, 0o755); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if err := setOwnerMode(root, name, hdr, mode); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := replaceable(root, name); err != nil {
				return err
			}
			f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if err := setOwnerMode(root, name, hdr, mode); err != nil {
				return err
			}
			if err := root.Chtimes(name, hdr.ModTime, hdr.ModTime); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		case tar.TypeSymlink:
			if err := replaceable(root, name); err != nil {
				return err
			}
			if err := root.Symlink(hdr.Linkname, name); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if err := root.Lchown(name, hdr.Uid, hdr.Gid); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		case tar.TypeLink:
			target, err := cleanEntry(hdr.Linkname, arch)
			if err != nil || target == "" {
				return fmt.Errorf("%s: bad hard link target %q", name, hdr.Linkname)
			}
			if err := replaceable(root, name); err != nil {
				return err
			}
			if err := root.Link(target, name); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		default:
			// Debian's packages ship no devices or fifos (policy: they
			// are made by maintainer scripts); refuse rather than guess.
			return fmt.Errorf("%s: unsupported tar entry type %q", name, hdr.Typeflag)
		}
	}
}

// cleanEntry turns a tar entry name ("./usr/bin/x") into a path relative
// to the root on merged /usr, or "" for the archive's root itself.
func cleanEntry(name, arch string) (string, error) {
	clean := path.Clean("/" + name)
	if clean != "/"+strings.TrimSuffix(strings.TrimPrefix(name, "./"), "/") && clean != "/" {
		// path.Clean removed "..", "." or doubled slashes: not what
		// dpkg-deb builds, so not to be trusted.
		return "", fmt.Errorf("tar entry %q: not a clean path", name)
	}
	if clean == "/" {
		return "", nil
	}
	return mergedPath(clean[1:], arch), nil
}

// replaceable removes a file or link at name so that an entry can take
// its place; a directory there is an error (dpkg refuses that too).
func replaceable(root *os.Root, name string) error {
	fi, err := root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if fi.IsDir() {
		return fmt.Errorf("%s: a directory is in the way of a file", name)
	}
	if err := root.Remove(name); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// setOwnerMode gives name the entry's numeric owner, then its mode: in
// that order, since chown clears the setuid and setgid bits.
func setOwnerMode(root *os.Root, name string, hdr *tar.Header, mode fs.FileMode) error {
	if err := root.Lchown(name, hdr.Uid, hdr.Gid); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := root.Chmod(name, mode); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

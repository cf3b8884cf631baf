package rootfs

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// The slim root file system is what the zabnode image runs on: zabnode
// and lazyfs are static Go binaries, so it needs only the tools the
// harness execs in a node (docker/ and nemesis/: iptables with its
// statistic match, tc, true, tar, rm; the integration tests add sh, bash,
// timeout and hostname; ps and kill for a person debugging a node). It
// is unpacked straight from the mirror's .debs, without debootstrap,
// dpkg or maintainer scripts; what those scripts would have done that
// matters is in slimFixups. No apt: an image that needs more packages
// (ZooKeeper's) starts from the debootstrapped base instead.

// slimRoots are the packages the slim build starts from; their
// dependencies come with them.
var slimRoots = []string{
	"base-files", // the directory skeleton, /etc/debian_version
	"dash", "bash", "coreutils", "tar", "hostname",
	"procps", "iproute2", "iptables",
}

// slimExclude are dependencies that serve only the maintainer scripts,
// which are not run: dpkg (dash's, for dpkg-divert), debconf
// (iproute2's, for a question its postinst asks) and init-system-helpers
// (procps's, for update-rc.d; it pulls in perl-base).
var slimExclude = []string{"dpkg", "debconf", "init-system-helpers"}

// slimFormat changes whenever the build makes a different tree from the
// same packages (extraction or fixups), so that SlimRecipe does too.
const slimFormat = 1

// SlimTag is the image imported from the slim root file system.
// SlimRecipeLabel is its label, and slimMarker the file in the root file
// system, that hold SlimRecipe: an image or cache made from another
// recipe is stale.
const (
	SlimTag         = "zabcheck-slim:latest"
	SlimRecipeLabel = "zabcheck.slim.recipe"
	slimMarker      = "etc/zabcheck-slim"
)

// DebianKeyring is the keyring the mirror's Release file is checked with,
// from the host's debian-archive-keyring package (what apt and
// debootstrap use).
const DebianKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

// SlimRecipe identifies what the slim build makes: the suite, the roots,
// the exclusions and the build's format. It does not change with the
// mirror's point releases, like debian:bookworm, which is not refetched
// either.
func SlimRecipe() string {
	h := sha256.New()
	fmt.Fprintf(h, "zabcheck-slim-v%d\n%s\n%s\n%s\n", slimFormat, Suite, strings.Join(slimRoots, ","), strings.Join(slimExclude, ","))
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// SlimCache is where a prepared slim root file system waits for
// `zabcheck images`.
func SlimCache() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("slim rootfs cache: %w", err)
	}
	return filepath.Join(dir, "zabcheck", "slim-"+Suite), nil
}

// SlimReady reports whether cache holds a slim root file system of the
// current recipe.
func SlimReady(cache string) bool {
	b, err := os.ReadFile(filepath.Join(cache, slimMarker))
	return err == nil && strings.TrimSpace(string(b)) == SlimRecipe()
}

// CheckSlim says why this host cannot make the slim root file system, or
// nil.
func CheckSlim() error {
	if os.Geteuid() != 0 {
		return errors.New("the slim root file system needs root (files owned by root, setuid bits): run `sudo make images`")
	}
	for _, tool := range []string{"dpkg-deb", "gpgv"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found: the slim root file system is made on a Debian host (packages dpkg and gpgv): %w", tool, err)
		}
	}
	if _, err := os.Stat(DebianKeyring); err != nil {
		return fmt.Errorf("no Debian archive keyring (package debian-archive-keyring): %w", err)
	}
	return nil
}

// debArch is Debian's name for the host's architecture.
func debArch() (string, error) {
	switch runtime.GOARCH {
	case "amd64", "arm64", "s390x", "riscv64":
		return runtime.GOARCH, nil
	case "386":
		return "i386", nil
	case "ppc64le":
		return "ppc64el", nil
	}
	return "", fmt.Errorf("no Debian architecture for GOARCH %s", runtime.GOARCH)
}

// slimParallel bounds the downloads in flight: enough to hide the
// mirror's latency, few enough not to be throttled.
const slimParallel = 6

// BuildSlim makes the slim root file system in dir, which must be empty
// or missing: it checks the mirror's signed Release, its Packages index
// against it, resolves slimRoots, downloads the packages in parallel,
// checks each against the index and unpacks them.
func BuildSlim(ctx context.Context, dir, mirror string, log *slog.Logger) error {
	if err := CheckSlim(); err != nil {
		return err
	}
	mirror, err := Mirror(mirror)
	if err != nil {
		return err
	}
	arch, err := debArch()
	if err != nil {
		return err
	}
	start := time.Now()
	log.Info("building the slim root file system", "mirror", mirror, "dir", dir)
	work, err := os.MkdirTemp("", "zabrootfs-debs-")
	if err != nil {
		return fmt.Errorf("slim rootfs: %w", err)
	}
	defer os.RemoveAll(work)
	idx, err := fetchIndex(ctx, mirror, arch, work)
	if err != nil {
		return fmt.Errorf("slim rootfs: %w", err)
	}
	res, err := resolve(idx, slimRoots, slimExclude)
	if err != nil {
		return fmt.Errorf("slim rootfs: %w", err)
	}
	var size int64
	names := make([]string, len(res.Pkgs))
	for i, p := range res.Pkgs {
		size += p.Size
		names[i] = p.Name
	}
	log.Info("slim packages", "count", len(res.Pkgs), "download_bytes", size, "packages", strings.Join(names, " "), "skipped", strings.Join(res.Skipped, "; "), "took", time.Since(start).Round(time.Millisecond))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("slim rootfs: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("slim rootfs: %w", err)
	}
	defer root.Close()
	if err := fetchAndExtract(ctx, mirror, arch, work, res.Pkgs, root); err != nil {
		return fmt.Errorf("slim rootfs: %w", err)
	}
	if err := applyFixups(root, slimFixups(arch)); err != nil {
		return fmt.Errorf("slim rootfs: %w", err)
	}
	if err := root.WriteFile(slimMarker, []byte(SlimRecipe()+"\n"), 0o644); err != nil {
		return fmt.Errorf("slim rootfs: %w", err)
	}
	log.Info("slim root file system done", "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// fetchIndex fetches the suite's InRelease, checks its signature with
// gpgv, and fetches and parses the Packages index it vouches for. Only
// what gpgv prints as signed is read.
func fetchIndex(ctx context.Context, mirror, arch, work string) (debIndex, error) {
	var inRelease bytes.Buffer
	if _, err := httpGet(ctx, mirror+"/dists/"+Suite+"/InRelease", &inRelease); err != nil {
		return debIndex{}, err
	}
	path := filepath.Join(work, "InRelease")
	if err := os.WriteFile(path, inRelease.Bytes(), 0o644); err != nil {
		return debIndex{}, err
	}
	var signed, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "gpgv", "--keyring", DebianKeyring, "--output", "-", path)
	cmd.Stdout, cmd.Stderr = &signed, &stderr
	if err := cmd.Run(); err != nil {
		return debIndex{}, fmt.Errorf("check InRelease signature: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	rel := "main/binary-" + arch + "/Packages.gz"
	sum, size, err := releaseSHA256(signed.String(), Suite, rel)
	if err != nil {
		return debIndex{}, err
	}
	// The index (12 MB) is parsed as it arrives, and used only once its
	// sum, computed on the way, matches the signed one.
	pr, pw := io.Pipe()
	h := sha256.New()
	got := make(chan error, 1)
	var n int64
	go func() {
		var err error
		n, err = httpGet(ctx, mirror+"/dists/"+Suite+"/"+rel, io.MultiWriter(h, pw))
		pw.CloseWithError(err)
		got <- err
	}()
	idx, perr := parseGzipPackages(pr)
	// Drain so that the download finishes even when parsing stopped early.
	_, _ = io.Copy(io.Discard, pr)
	if err := <-got; err != nil {
		return debIndex{}, err
	}
	if perr != nil {
		return debIndex{}, fmt.Errorf("%s: %w", rel, perr)
	}
	if n != size || hex.EncodeToString(h.Sum(nil)) != sum {
		return debIndex{}, fmt.Errorf("%s: size %d, SHA256 %x; the signed Release says %d, %s", rel, n, h.Sum(nil), size, sum)
	}
	return idx, nil
}

// parseGzipPackages parses a Packages.gz stream.
func parseGzipPackages(r io.Reader) (debIndex, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return debIndex{}, err
	}
	return parsePackages(zr)
}

// checkSum compares data with the SHA256 and size an index lists.
func checkSum(data []byte, sum string, size int64) error {
	if int64(len(data)) != size {
		return fmt.Errorf("size %d, index says %d", len(data), size)
	}
	got := sha256.Sum256(data)
	if hex.EncodeToString(got[:]) != sum {
		return fmt.Errorf("SHA256 %x, index says %s", got, sum)
	}
	return nil
}

// fetchAndExtract downloads and decompresses pkgs, at most slimParallel
// at a time, and writes them into root in their (sorted) order as each
// is ready: the order, not the downloads' race, decides which of two
// packages' files wins, and writing overlaps the downloads still running.
func fetchAndExtract(ctx context.Context, mirror, arch, work string, pkgs []debPkg, root *os.Root) error {
	type result struct {
		tar []byte
		err error
	}
	done := make([]chan result, len(pkgs))
	for i := range done {
		done[i] = make(chan result, 1)
	}
	// Cancel first, then wait: an early return stops what is queued.
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	sem := make(chan struct{}, slimParallel)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i, p := range pkgs {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				done[i] <- result{err: ctx.Err()}
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				tar, err := fetchDeb(ctx, mirror, work, p)
				done[i] <- result{tar, err}
			}()
		}
	}()
	for i := range pkgs {
		r := <-done[i]
		if r.err != nil {
			return r.err
		}
		if err := extractTar(root, bytes.NewReader(r.tar), arch); err != nil {
			return fmt.Errorf("unpack %s: %w", pkgs[i].Name, err)
		}
	}
	return nil
}

// fetchDeb downloads p into work, checks it against the index and
// returns its files as a tar archive (debTar). The workers decompress in
// parallel; only the writing is in order.
func fetchDeb(ctx context.Context, mirror, work string, p debPkg) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(int(p.Size))
	if _, err := httpGet(ctx, mirror+"/"+p.Filename, &buf); err != nil {
		return nil, fmt.Errorf("fetch %s: %w", p.Name, err)
	}
	if err := checkSum(buf.Bytes(), p.SHA256, p.Size); err != nil {
		return nil, fmt.Errorf("fetch %s: %w", p.Name, err)
	}
	path := filepath.Join(work, p.Name+".deb")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return nil, fmt.Errorf("fetch %s: %w", p.Name, err)
	}
	defer os.Remove(path)
	return debTar(ctx, path)
}

// PrepareSlim builds the slim root file system into cache unless one of
// the current recipe is there, the way Prepare does for debootstrap's.
func PrepareSlim(ctx context.Context, cache, mirror string, log *slog.Logger) error {
	if SlimReady(cache) {
		log.Info("slim root file system already prepared", "dir", cache)
		return nil
	}
	return prepareInto(ctx, cache, func(dir string) error { return BuildSlim(ctx, dir, mirror, log) })
}

// prepareInto builds into a sibling of cache with build and renames it
// into place when done, so that an interrupted build is never taken for a
// finished one; a leftover of one is removed first, and so is a stale
// cache.
func prepareInto(ctx context.Context, cache string, build func(dir string) error) error {
	tmp := cache + ".partial"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("prepare rootfs: remove leftover: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(cache), 0o755); err != nil {
		return fmt.Errorf("prepare rootfs: %w", err)
	}
	if err := build(tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("prepare rootfs: %w", err)
	}
	if err := ctx.Err(); err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("prepare rootfs: %w", err)
	}
	if err := os.RemoveAll(cache); err != nil {
		return fmt.Errorf("prepare rootfs: %w", err)
	}
	if err := os.Rename(tmp, cache); err != nil {
		return fmt.Errorf("prepare rootfs: %w", err)
	}
	return nil
}

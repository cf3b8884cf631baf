package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/zabcheck/zabcheck/internal/rootfs"
)

//go:embed images
var imageFiles embed.FS

// Image names accepted in BuildOptions.Images.
const (
	ImageBase      = "base"
	ImageZooKeeper = "zookeeper"
	ImageZabnode   = "zabnode"
	// ImageZooKeeper39 is opt-in: built only when named or when its
	// target runs.
	ImageZooKeeper39 = "zookeeper-3.9"
)

// Image tags. DebianTag and SlimTag are imported root file systems
// (ensureDebian, ensureSlim), not built from a Dockerfile.
const (
	DebianTag      = "debian:bookworm"
	SlimTag        = rootfs.SlimTag
	BaseTag        = "zabcheck-base:latest"
	ZooKeeperTag   = "zabcheck-zookeeper:latest"
	ZabnodeTag     = "zabcheck-zabnode:latest"
	ZooKeeper39Tag = "zabcheck-zookeeper-3.9:latest"
)

// LabelImageHash holds the hash of an image's inputs; it lets a warm
// BuildImages skip an image whose inputs did not change.
const LabelImageHash = "zabcheck.image.hash"

// imageSpec is one image the harness builds.
type imageSpec struct {
	Name   string
	Tag    string
	Parent string   // tag of the FROM image: another spec's, DebianTag or SlimTag
	Dir    string   // directory under images/ with the Dockerfile and files
	Exec   []string // context files that must be executable
	// Binaries are main packages of this repository (./cmd/<name>),
	// each compiled into the context as the file <name>.
	Binaries []string
	// Shared are files of another image's directory that this context
	// holds too, under their base names.
	Shared []string
	// OptIn images are left out when BuildOptions.Images is empty (`make
	// images`, `make test`): they are built when named, or when a run
	// needs them.
	OptIn bool
}

// imageSpecs are in build order: a parent before its children.
var imageSpecs = []imageSpec{
	// The ZooKeeper image apt-get installs Java and ZooKeeper, so it
	// starts from debootstrap's Debian; zabnode's static binaries need only
	// the tools the harness execs, which the slim root file system has
	// (internal/rootfs, BuildSlim) without debootstrap.
	{Name: ImageBase, Tag: BaseTag, Parent: DebianTag, Dir: "images/base"},
	// Both node images carry lazyfs (cmd/lazyfs), which the harness puts
	// between the node and its data volume for the disk faults.
	{Name: ImageZooKeeper, Tag: ZooKeeperTag, Parent: BaseTag, Dir: "images/zookeeper", Exec: []string{"zk-run", "lazyfs"}, Binaries: []string{"lazyfs"}},
	{Name: ImageZabnode, Tag: ZabnodeTag, Parent: SlimTag, Dir: "images/zabnode", Exec: []string{"zabnode", "lazyfs"}, Binaries: []string{"zabnode", "lazyfs"}},
	// ZooKeeper 3.9 from Debian trixie, with the 3.8 image's start
	// script and logging. FROM the base, not the 3.8 image: a change to
	// lazyfs would otherwise repeat its whole apt layer.
	{Name: ImageZooKeeper39, Tag: ZooKeeper39Tag, Parent: BaseTag, Dir: "images/zookeeper-3.9",
		Shared: []string{"images/zookeeper/zk-run", "images/zookeeper/log4j.properties"},
		Exec:   []string{"zk-run", "lazyfs"}, Binaries: []string{"lazyfs"}, OptIn: true},
}

// specByTag returns the images table entry that builds tag.
func specByTag(tag string) (imageSpec, bool) {
	for _, s := range imageSpecs {
		if s.Tag == tag {
			return s, true
		}
	}
	return imageSpec{}, false
}

// rootImages returns the imported images (DebianTag, SlimTag) that the
// images in want start from, in a fixed order.
func rootImages(want map[string]bool) []string {
	need := map[string]bool{}
	for name := range want {
		spec, _ := imageSpecFor(name)
		for {
			parent, ok := specByTag(spec.Parent)
			if !ok {
				need[spec.Parent] = true
				break
			}
			spec = parent
		}
	}
	var out []string
	for _, tag := range []string{SlimTag, DebianTag} {
		if need[tag] {
			out = append(out, tag)
		}
	}
	return out
}

// imageSpecFor returns the images table entry called name.
func imageSpecFor(name string) (imageSpec, bool) {
	for _, s := range imageSpecs {
		if s.Name == name {
			return s, true
		}
	}
	return imageSpec{}, false
}

// ImageNames returns the names BuildOptions.Images accepts, parents first.
func ImageNames() []string {
	names := make([]string, len(imageSpecs))
	for i, s := range imageSpecs {
		names[i] = s.Name
	}
	return names
}

// OptInImageNames returns the images BuildImages builds only when named.
func OptInImageNames() []string {
	var names []string
	for _, s := range imageSpecs {
		if s.OptIn {
			names = append(names, s.Name)
		}
	}
	return names
}

// TagFor returns the image tag that runs the target db, or "" when no
// target has that name. Prefer LookupTarget(db) and Target.Tag.
func TagFor(db string) string {
	t, err := LookupTarget(db)
	if err != nil {
		return ""
	}
	return t.Tag()
}

// BuildOptions selects and configures BuildImages.
type BuildOptions struct {
	// Images to build (ImageNames; a target's is Target.Image). Empty
	// means all. A requested image's parents are built first when needed.
	Images []string
	// RepoRoot is the module root holding ./cmd/zabnode ("." if empty).
	RepoRoot string
	// Mirror overrides the Debian mirror that debootstrap and the slim
	// build use when debian:bookworm or zabcheck-slim is missing; empty
	// means the host's apt sources.
	Mirror string
	// Force rebuilds the requested images (not their implied parents)
	// even when their input hash is unchanged, without the engine's layer
	// cache, so apt-get fetches current packages.
	Force  bool
	Logger *slog.Logger
}

// ImageInfo reports one image after BuildImages.
type ImageInfo struct {
	Name     string        `json:"name"`
	Tag      string        `json:"tag"`
	ID       string        `json:"id,omitempty"`
	Hash     string        `json:"hash,omitempty"`
	Built    bool          `json:"built"` // false: already up to date
	Duration time.Duration `json:"duration"`
	Err      error         `json:"-"`
}

// BuildImages makes sure the requested images exist and are up to date:
// the imported images they start from (zabcheck-slim, made from the
// mirror's packages, and debian:bookworm, debootstrapped; each only when
// a requested image needs it and it is missing or stale), then each image whose
// input hash (Dockerfile, context files, zabnode binary, parent image id)
// differs from the label on the existing image. One failing image does not
// stop the others that do not depend on it; the error names every failure
// and the returned list holds an entry per image tried.
func BuildImages(ctx context.Context, opts BuildOptions) ([]ImageInfo, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	want, err := resolveImages(opts.Images)
	if err != nil {
		return nil, err
	}
	cli, err := newClient(ctx)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	for _, tag := range rootImages(want) {
		ensure := ensureDebian
		if tag == SlimTag {
			ensure = ensureSlim
		}
		if err := ensure(ctx, cli, opts.Mirror, log); err != nil {
			return nil, err
		}
	}
	root := opts.RepoRoot
	if root == "" {
		root = "."
	}
	var infos []ImageInfo
	var errs []error
	failed := map[string]bool{}
	for _, spec := range imageSpecs {
		requested, ok := want[spec.Name]
		if !ok {
			continue
		}
		start := time.Now()
		info := ImageInfo{Name: spec.Name, Tag: spec.Tag}
		if failed[spec.Parent] {
			info.Err = fmt.Errorf("build image %s: parent %s failed", spec.Name, spec.Parent)
		} else {
			info, err = buildImage(ctx, cli, spec, root, opts.Force && requested, log)
			info.Err = err
		}
		info.Duration = time.Since(start)
		if info.Err != nil {
			failed[spec.Tag] = true
			errs = append(errs, info.Err)
			log.Error("image failed", "image", spec.Tag, "err", info.Err)
		} else {
			log.Info("image ready", "image", spec.Tag, "id", shortID(info.ID), "built", info.Built, "took", info.Duration.Round(time.Millisecond))
		}
		infos = append(infos, info)
	}
	if len(errs) > 0 {
		return infos, fmt.Errorf("build images: %d of %d failed: %w", len(errs), len(infos), errors.Join(errs...))
	}
	return infos, nil
}

// resolveImages turns the requested names into the set to build: true for
// a requested image, false for a parent built only if it is out of date.
func resolveImages(names []string) (map[string]bool, error) {
	want := map[string]bool{}
	if len(names) == 0 {
		for _, s := range imageSpecs {
			if !s.OptIn {
				want[s.Name] = true
			}
		}
		return want, nil
	}
	for _, n := range names {
		spec, ok := imageSpecFor(n)
		if !ok {
			return nil, fmt.Errorf("build images: unknown image %q (want one of %s)", n, strings.Join(ImageNames(), ", "))
		}
		want[n] = true
		// Its parents, built only if out of date: every image descends
		// from an imported root, some through another of ours.
		for p, ok := specByTag(spec.Parent); ok; p, ok = specByTag(p.Parent) {
			if _, seen := want[p.Name]; !seen {
				want[p.Name] = false
			}
		}
	}
	return want, nil
}

// buildImage builds spec unless an image with the same input hash exists.
func buildImage(ctx context.Context, cli *client.Client, spec imageSpec, root string, force bool, log *slog.Logger) (ImageInfo, error) {
	info := ImageInfo{Name: spec.Name, Tag: spec.Tag}
	files, err := contextFiles(spec)
	if err != nil {
		return info, err
	}
	for _, name := range spec.Binaries {
		bin, err := buildBinary(ctx, root, name, log)
		if err != nil {
			return info, err
		}
		files[name] = bin
	}
	parent, err := cli.ImageInspect(ctx, spec.Parent)
	if err != nil {
		return info, fmt.Errorf("build image %s: inspect parent %s: %w", spec.Name, spec.Parent, err)
	}
	info.Hash = contentHash(parent.ID, files)
	if cur, err := cli.ImageInspect(ctx, spec.Tag); err == nil && !force && cur.Config != nil && cur.Config.Labels[LabelImageHash] == info.Hash {
		info.ID = cur.ID
		return info, nil
	}
	oldID := ""
	if cur, err := cli.ImageInspect(ctx, spec.Tag); err == nil {
		oldID = cur.ID
	}
	log.Info("building image", "image", spec.Tag, "hash", info.Hash[:12])
	tarball, err := contextTar(files, spec.Exec)
	if err != nil {
		return info, fmt.Errorf("build image %s: %w", spec.Name, err)
	}
	resp, err := cli.ImageBuild(ctx, bytes.NewReader(tarball), build.ImageBuildOptions{
		Tags:        []string{spec.Tag},
		Dockerfile:  "Dockerfile",
		Remove:      true,
		ForceRemove: true,
		PullParent:  false,
		NoCache:     force,
		// One label: the legacy builder turns each into a LABEL step.
		Labels: map[string]string{LabelImageHash: info.Hash},
	})
	if err != nil {
		return info, fmt.Errorf("build image %s: %w", spec.Name, err)
	}
	defer resp.Body.Close()
	id, err := readBuildStream(resp.Body, spec.Tag, log)
	if err != nil {
		return info, fmt.Errorf("build image %s: %w", spec.Name, err)
	}
	if id == "" {
		img, err := cli.ImageInspect(ctx, spec.Tag)
		if err != nil {
			return info, fmt.Errorf("build image %s: inspect result: %w", spec.Name, err)
		}
		id = img.ID
	}
	info.ID, info.Built = id, true
	if oldID != "" && oldID != id {
		// Best effort: the old image is now untagged; it stays if a
		// container or child image still uses it.
		if _, err := cli.ImageRemove(ctx, oldID, image.RemoveOptions{}); err != nil {
			log.Debug("old image kept", "image", shortID(oldID), "err", err)
		}
	}
	return info, nil
}

// contextFiles reads the embedded build context of spec.
func contextFiles(spec imageSpec) (map[string][]byte, error) {
	entries, err := imageFiles.ReadDir(spec.Dir)
	if err != nil {
		return nil, fmt.Errorf("read build context %s: %w", spec.Dir, err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := imageFiles.ReadFile(path.Join(spec.Dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read build context %s: %w", spec.Dir, err)
		}
		files[e.Name()] = data
	}
	for _, p := range spec.Shared {
		data, err := imageFiles.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read build context %s: %w", spec.Dir, err)
		}
		files[path.Base(p)] = data
	}
	return files, nil
}

// contentHash identifies an image's inputs: every context file (the
// Dockerfile carries the package lists) and the parent image id. Map order
// does not matter; any byte change does.
func contentHash(parentID string, files map[string][]byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "zabcheck-image-v1\nparent %s\n", parentID)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(h, "file %q %d\n", n, len(files[n]))
		h.Write(files[n])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// contextTar packs files into a build context with fixed metadata.
func contextTar(files map[string][]byte, executables []string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		mode := int64(0o644)
		if slices.Contains(executables, n) {
			mode = 0o755
		}
		hdr := &tar.Header{Name: n, Mode: mode, Size: int64(len(files[n])), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("write build context: %w", err)
		}
		if _, err := tw.Write(files[n]); err != nil {
			return nil, fmt.Errorf("write build context: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("write build context: %w", err)
	}
	return buf.Bytes(), nil
}

// buildMessage is one line of the engine's JSON build stream.
type buildMessage struct {
	Stream      string `json:"stream"`
	Status      string `json:"status"`
	Error       string `json:"error"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
	Aux json.RawMessage `json:"aux"`
}

// readBuildStream logs the build's progress and returns the built image id
// (if the engine reports it) or the build error with the last output lines.
func readBuildStream(r io.Reader, tag string, log *slog.Logger) (string, error) {
	dec := json.NewDecoder(r)
	var tail []string
	id := ""
	for {
		var m buildMessage
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			return "", fmt.Errorf("read build output: %w", err)
		}
		if m.Error != "" {
			return "", fmt.Errorf("%s\n%s", m.Error, strings.Join(tail, "\n"))
		}
		if len(m.Aux) > 0 {
			var aux struct{ ID string }
			if json.Unmarshal(m.Aux, &aux) == nil && aux.ID != "" {
				id = aux.ID
			}
		}
		for _, line := range strings.Split(strings.TrimRight(m.Stream, "\n"), "\n") {
			line = strings.TrimSpace(line)
			if line == "" {
				continue
			}
			tail = append(tail, line)
			if len(tail) > 20 {
				tail = tail[1:]
			}
			if strings.HasPrefix(line, "Step ") || strings.HasPrefix(line, "Successfully") {
				log.Info("build", "image", tag, "line", line)
			} else {
				log.Debug("build", "image", tag, "line", line)
			}
		}
	}
	return id, nil
}

// HasZabnodeSource reports whether root/cmd/zabnode holds Go files, i.e.
// whether a zabnode image can be built at all. Prefer Target.CanBuild.
func HasZabnodeSource(root string) bool { return hasSource(root, "zabnode") }

// hasSource reports whether root/cmd/<binary> holds non-test Go files.
func hasSource(root, binary string) bool {
	matches, _ := filepath.Glob(filepath.Join(root, "cmd", binary, "*.go"))
	for _, m := range matches {
		if !strings.HasSuffix(m, "_test.go") {
			return true
		}
	}
	return false
}

// buildBinary compiles ./cmd/<name> statically and returns the binary.
// -trimpath and -buildvcs=false keep the bytes stable across checkouts and
// commits of unrelated files, so the image hash changes only with the code.
func buildBinary(ctx context.Context, root, name string, log *slog.Logger) ([]byte, error) {
	pkg := "./cmd/" + name
	if !hasSource(root, name) {
		return nil, fmt.Errorf("build %s: cmd/%s: no main package yet (no .go files in %s)", name, name, filepath.Join(root, "cmd", name))
	}
	dir, err := os.MkdirTemp("", "zabcheck-"+name+"-")
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", name, err)
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, name)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	start := time.Now()
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build %s: go build %s: %w\n%s", name, pkg, err, strings.TrimSpace(string(msg)))
	}
	log.Info("built binary", "binary", name, "took", time.Since(start).Round(time.Millisecond))
	bin, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", name, err)
	}
	return bin, nil
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

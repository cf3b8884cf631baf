// Package ondisk reads the nodes' data directories that a run copied
// (nodes/<node>/data) in each target's own formats: zabnode's storage
// package, and ZooKeeper's transaction logs and snapshots. It hands the
// checker target-neutral data (checker.DataDirs): every durable record
// with its file, offset, zxid, type and digest, the valid snapshots, and
// each place a file stops decoding, told apart as a torn tail (what a
// crash leaves, legal) or corruption (valid records follow the damage).
//
// Nothing here writes: the copies stay exactly as the nodes left them.
// docs/on-disk.md describes the formats.
package ondisk

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/zabcheck/zabcheck/checker"
)

// Formats a target's data directory can be read in (docker.Target's
// DataFormat).
const (
	FormatZabnode   = "zabnode"
	FormatZooKeeper = "zookeeper"
)

// readers maps a format to the function reading one data directory.
var readers = map[string]func(dataDir string) (checker.NodeDisk, error){
	FormatZabnode:   readZabnode,
	FormatZooKeeper: readZooKeeper,
}

// Known says whether format names a reader.
func Known(format string) bool {
	_, ok := readers[format]
	return ok
}

// Where Collect puts a node's files (docker.CollectDataDir and
// docker.CollectCfgFile; ondisk does not import docker).
const (
	dataDirName = "data"
	cfgFileName = "zoo.cfg"
)

// ReadDataDir reads one node's data directory in format. A directory that
// cannot be read at all is an error; damage inside its files is not (it is
// reported in NodeDisk.Damage).
func ReadDataDir(format, dataDir string) (checker.NodeDisk, error) {
	read, ok := readers[format]
	if !ok {
		return checker.NodeDisk{}, fmt.Errorf("read data dir: unknown format %q", format)
	}
	if fi, err := os.Stat(dataDir); err != nil {
		return checker.NodeDisk{}, fmt.Errorf("read data dir: %w", err)
	} else if !fi.IsDir() {
		return checker.NodeDisk{}, fmt.Errorf("read data dir: %s is not a directory", dataDir)
	}
	n, err := read(dataDir)
	if err != nil {
		return checker.NodeDisk{}, fmt.Errorf("read data dir %s: %w", dataDir, err)
	}
	n.Format = format
	return n, nil
}

// ReadNodes reads every node directory under nodesDir (Collect's layout,
// nodesDir/<node>/data and nodesDir/<node>/zoo.cfg). A node whose data
// directory is missing or unreadable gets NodeDisk.Err, so the checker
// can say which node it could not judge. nil when nodesDir holds no node
// directory: the run collected nothing.
func ReadNodes(format, nodesDir string) (*checker.DataDirs, error) {
	if !Known(format) {
		return nil, fmt.Errorf("read nodes: unknown format %q", format)
	}
	entries, err := os.ReadDir(nodesDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read nodes: %w", err)
	}
	var dd checker.DataDirs
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(nodesDir, e.Name())
		n, err := ReadDataDir(format, filepath.Join(dir, dataDirName))
		if err != nil {
			n = checker.NodeDisk{Format: format, Err: err.Error()}
		}
		n.Node = e.Name()
		n.Observer = isObserver(filepath.Join(dir, cfgFileName))
		dd.Nodes = append(dd.Nodes, n)
	}
	if len(dd.Nodes) == 0 {
		return nil, nil
	}
	sort.Slice(dd.Nodes, func(i, j int) bool { return dd.Nodes[i].Node < dd.Nodes[j].Node })
	return &dd, nil
}

// isObserver says whether a node's zoo.cfg makes it an observer, which
// never counts in a quorum. Without a readable zoo.cfg it is taken for a
// voter, the stricter choice for the quorum check.
func isObserver(cfg string) bool {
	b, err := os.ReadFile(cfg)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if ok && strings.TrimSpace(k) == "peerType" && strings.TrimSpace(v) == "observer" {
			return true
		}
	}
	return false
}

// namedFiles lists dir's regular files called prefix<number in hex>,
// ordered by that number; digits says how many hex digits the name must
// have (0: any).
func namedFiles(dir, prefix string, digits int) ([]namedFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []namedFile
	for _, e := range entries {
		hex, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || !e.Type().IsRegular() || hex == "" || digits > 0 && len(hex) != digits {
			continue
		}
		z, err := strconv.ParseUint(hex, 16, 63)
		if err != nil {
			continue // temp files and foreign names
		}
		out = append(out, namedFile{name: e.Name(), zxid: int64(z)})
	}
	slices.SortFunc(out, func(a, b namedFile) int { return cmp.Compare(a.zxid, b.zxid) })
	return out, nil
}

type namedFile struct {
	name string
	zxid int64
}

package docker

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// LazyFSFailures reads the collected container logs under nodesDir
// (Collect's layout: <node>/container.log) and returns one line per node
// whose lazyfs failed during the run: it logged "lazyfs failed" or
// panicked. lazyfs is the container's PID 1, so its node went down with
// it, and what it held unsynced was lost: a power loss the schedule did not
// plan. The verdict stands (a correct node survives power loss), but the
// run must say so rather than pass for a run whose faults were all its
// own.
func LazyFSFailures(nodesDir string) ([]string, error) {
	entries, err := os.ReadDir(nodesDir)
	if err != nil {
		return nil, fmt.Errorf("read lazyfs failures: %w", err)
	}
	var out []string
	var errs []error
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		line, err := lazyFSFailure(filepath.Join(nodesDir, e.Name(), CollectLogFile))
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		if line != "" {
			out = append(out, e.Name()+": "+line)
		}
	}
	slices.Sort(out)
	return out, errors.Join(errs...)
}

// crashStart matches the first line of a Go program's death: a panic, a
// fatal runtime error, or a signal the runtime turns into a crash (SIGSEGV,
// SIGABRT: "SIGABRT: abort").
var crashStart = regexp.MustCompile(`(panic: |fatal error: |\bSIG[A-Z]+: )`)

// lazyFSFailure returns the first sign in one container log that lazyfs
// itself failed, or "". A panic counts when its trace runs through
// lazyfs's code: the node's own panics (zabnode's) are the node's.
func lazyFSFailure(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	panicLine, frames := "", 0
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.Contains(line, `msg="lazyfs failed"`):
			if i := strings.Index(line, "level="); i >= 0 {
				line = line[i:]
			}
			return strings.TrimSpace(line), nil
		case crashStart.MatchString(line):
			panicLine, frames = strings.TrimSpace(line[crashStart.FindStringIndex(line)[0]:]), 0
		case panicLine != "" && frames < 200:
			frames++
			if strings.Contains(line, "zabcheck/lazyfs") || strings.Contains(line, "zabcheck/cmd/lazyfs") {
				return "lazyfs " + panicLine, nil
			}
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return "", nil
}

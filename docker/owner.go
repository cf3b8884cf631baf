package docker

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// LabelOwner names the process that created an object, as
// "<host>/<pid>/<start>" (start is the process's start time in clock ticks
// since boot, from /proc, so that a reused pid is not taken for the owner).
// Clean and Leftovers use it to tell a finished (or crashed) run's objects
// from those of a run that is still going, in this process or another.
const LabelOwner = "zabcheck.owner"

// labelsFor are the labels of every object of testID; node is "" for the
// network.
func labelsFor(testID, node string) map[string]string {
	l := map[string]string{LabelApp: "1", LabelTest: testID, LabelOwner: selfOwner()}
	if node != "" {
		l[LabelNode] = node
	}
	return l
}

func selfOwner() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), procStart(os.Getpid()))
}

// procStart is field 22 of /proc/<pid>/stat, or "" where /proc cannot say.
func procStart(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// The command name (field 2) may hold spaces and parentheses: fields
	// are counted after its closing parenthesis, which is field 3's start.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(string(b[i+1:]))
	const startField = 22 - 3 // fields[0] is field 3
	if len(f) <= startField {
		return ""
	}
	return f[startField]
}

// ownerAlive reports whether the process an owner label names still runs.
// An owner on another host cannot be checked from here, so it counts
// as alive: only --all removes it.
func ownerAlive(label string) bool {
	host, rest, ok := strings.Cut(label, "/")
	if !ok {
		return false
	}
	pidStr, start, _ := strings.Cut(rest, "/")
	pid, err := strconv.Atoi(pidStr)
	if err != nil || pid <= 0 {
		return false
	}
	if me, _ := os.Hostname(); host != me {
		return true
	}
	if pid == os.Getpid() {
		return true
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	return start == "" || procStart(pid) == start
}

package docker

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"
)

// deadOwner is the owner label of a process that has exited.
func deadOwner(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot run true: %v", err)
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/1", host, cmd.Process.Pid)
}

func TestOwnerAlive(t *testing.T) {
	host, _ := os.Hostname()
	for _, tc := range []struct {
		name, label string
		want        bool
	}{
		{"this process", selfOwner(), true},
		{"an exited process", deadOwner(t), false},
		{"this pid with another start time (a reused pid)", fmt.Sprintf("%s/%d/%s", host, os.Getppid(), "1"), false},
		{"another host, which cannot be checked from here", "elsewhere.example/1/1", true},
		{"malformed", "nonsense", false},
		{"no pid", host + "/x/1", false},
	} {
		if got := ownerAlive(tc.label); got != tc.want {
			t.Errorf("%s: ownerAlive(%q) = %v, want %v", tc.name, tc.label, got, tc.want)
		}
	}
	if procStart(os.Getpid()) == "" {
		t.Error("procStart of this process is empty: /proc/self/stat was not parsed")
	}
}

// TestCleanKeepsLiveRuns: objects whose owner has exited are leftovers
// (counted by Leftovers, removed by Clean); those of a live owner or of an
// older zabcheck without the label stay unless All.
func TestCleanKeepsLiveRuns(t *testing.T) {
	needDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cli, err := newClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	id := fmt.Sprintf("owner-%d", time.Now().UnixNano()%1_000_000)
	mk := func(suffix string, labels map[string]string) {
		t.Helper()
		if _, err := cli.NetworkCreate(ctx, nameFor(id+suffix, ""), network.CreateOptions{Labels: labels}); err != nil {
			t.Fatal(err)
		}
	}
	dead := labelsFor(id+"-dead", "")
	dead[LabelOwner] = deadOwner(t)
	mk("-dead", dead)
	mk("-live", labelsFor(id+"-live", ""))
	old := labelsFor(id+"-old", "")
	delete(old, LabelOwner)
	mk("-old", old)
	t.Cleanup(func() {
		for _, s := range []string{"-dead", "-live", "-old"} {
			_, _, _ = Clean(context.Background(), CleanOptions{TestID: id + s, All: true})
		}
	})

	left, err := Leftovers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	has := func(c Census, test string) bool {
		for _, x := range c.Tests {
			if x == test {
				return true
			}
		}
		return false
	}
	if !has(left, id+"-dead") || has(left, id+"-live") || has(left, id+"-old") {
		t.Errorf("Leftovers named %v; want %s-dead and neither -live nor -old", left.Tests, id)
	}
	for _, s := range []string{"-dead", "-live", "-old"} {
		removed, kept, err := Clean(ctx, CleanOptions{TestID: id + s})
		if err != nil {
			t.Fatalf("Clean %s: %v", s, err)
		}
		wantRemoved := s == "-dead"
		if (removed.Networks == 1) != wantRemoved || (kept.Networks == 1) == wantRemoved {
			t.Errorf("Clean %s removed %v and kept %v; want removed=%v", s, removed, kept, wantRemoved)
		}
	}
	removed, _, err := Clean(ctx, CleanOptions{TestID: id + "-live", All: true})
	if err != nil || removed.Networks != 1 {
		t.Errorf("Clean --all of a live run removed %v, %v; want its network", removed, err)
	}
}

package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
)

// Labels on every container and network the harness creates; Clean finds
// leftovers of crashed runs by them.
const (
	LabelApp  = "zabcheck"
	LabelTest = "zabcheck.test"
	LabelNode = "zabcheck.node"
)

// nameFor is the container or network name of a test's object.
func nameFor(testID, node string) string {
	if node == "" {
		return "zabcheck-" + testID
	}
	return "zabcheck-" + testID + "-" + node
}

// checkNoLeftovers refuses to reuse a test id whose objects still exist.
func checkNoLeftovers(ctx context.Context, cli *client.Client, testID string) error {
	f := filters.NewArgs(filters.Arg("label", LabelTest+"="+testID))
	ctrs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return fmt.Errorf("start cluster: list containers: %w", err)
	}
	nets, err := cli.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("name", nameFor(testID, "")))})
	if err != nil {
		return fmt.Errorf("start cluster: list networks: %w", err)
	}
	clash := len(ctrs) > 0
	for _, n := range nets {
		if n.Name == nameFor(testID, "") {
			clash = true
		}
	}
	if clash {
		return fmt.Errorf("start cluster: test id %q is in use (%d containers, network %s exist): another run is using it, or a crashed run left them: run `zabcheck clean` or choose another test id", testID, len(ctrs), nameFor(testID, ""))
	}
	return nil
}

// CleanOptions selects what Clean removes.
type CleanOptions struct {
	// TestID limits Clean to one test's objects ("" means every test).
	TestID string
	// All also removes the objects of runs that are still going (their
	// owner process is alive, or runs on another host).
	All    bool
	Logger *slog.Logger
}

// Census counts zabcheck's objects by kind, and names the tests they
// belong to.
type Census struct {
	Containers, Volumes, Networks int
	Tests                         []string
}

// Total is the number of objects counted.
func (c Census) Total() int { return c.Containers + c.Volumes + c.Networks }

func (c Census) String() string {
	return fmt.Sprintf("%d containers, %d volumes and %d networks", c.Containers, c.Volumes, c.Networks)
}

// object is one labelled container, volume or network.
type object struct {
	kind, id, name, test, owner string
}

// inventory lists zabcheck's objects, or one test's, grouped by test id,
// with whether each test's run is still going: a test is live when any of
// its objects names an owner that still runs.
func inventory(ctx context.Context, cli *client.Client, testID string) (map[string][]object, map[string]bool, error) {
	label := LabelApp + "=1"
	if testID != "" {
		label = LabelTest + "=" + testID
	}
	f := filters.NewArgs(filters.Arg("label", label))
	byTest := map[string][]object{}
	add := func(kind, id, name string, labels map[string]string) {
		t := labels[LabelTest]
		byTest[t] = append(byTest[t], object{kind: kind, id: id, name: name, test: t, owner: labels[LabelOwner]})
	}
	ctrs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, nil, fmt.Errorf("list containers: %w", err)
	}
	for _, ct := range ctrs {
		add("container", ct.ID, strings.TrimPrefix(strings.Join(ct.Names, ","), "/"), ct.Labels)
	}
	vols, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		return nil, nil, fmt.Errorf("list volumes: %w", err)
	}
	for _, v := range vols.Volumes {
		add("volume", v.Name, v.Name, v.Labels)
	}
	nets, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return nil, nil, fmt.Errorf("list networks: %w", err)
	}
	for _, n := range nets {
		add("network", n.ID, n.Name, n.Labels)
	}
	// A test without an owner label was made by a zabcheck older than the
	// label, which may still be running: it counts as live, so only --all
	// removes it.
	live := map[string]bool{}
	for t, objs := range byTest {
		for _, o := range objs {
			if o.owner == "" || ownerAlive(o.owner) {
				live[t] = true
			}
		}
	}
	return byTest, live, nil
}

// Leftovers counts the objects of runs that are over (crashed or killed
// before they cleaned up), which `zabcheck clean` would remove.
func Leftovers(ctx context.Context) (Census, error) {
	cli, err := newClient(ctx)
	if err != nil {
		return Census{}, err
	}
	defer cli.Close()
	byTest, live, err := inventory(ctx, cli, "")
	if err != nil {
		return Census{}, fmt.Errorf("leftovers: %w", err)
	}
	var c Census
	for t, objs := range byTest {
		if live[t] {
			continue
		}
		c.Tests = append(c.Tests, t)
		for _, o := range objs {
			c.count(o.kind)
		}
	}
	sort.Strings(c.Tests)
	return c, nil
}

func (c *Census) count(kind string) {
	switch kind {
	case "container":
		c.Containers++
	case "volume":
		c.Volumes++
	case "network":
		c.Networks++
	}
}

// Clean removes the containers, volumes and networks labelled zabcheck of
// runs that are over, or of one test (opts.TestID), and of live runs too
// with opts.All. It returns what it removed and, in kept, what it left to
// live runs. It is the cleanup for runs that crashed before Close.
// Containers go first (a network in use cannot be removed), then volumes,
// then networks.
func Clean(ctx context.Context, opts CleanOptions) (removed, kept Census, err error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cli, err := newClient(ctx)
	if err != nil {
		return removed, kept, err
	}
	defer cli.Close()
	byTest, live, err := inventory(ctx, cli, opts.TestID)
	if err != nil {
		return removed, kept, fmt.Errorf("clean: %w", err)
	}
	var todo []object
	for t, objs := range byTest {
		if live[t] && !opts.All {
			kept.Tests = append(kept.Tests, t)
			for _, o := range objs {
				kept.count(o.kind)
			}
			continue
		}
		removed.Tests = append(removed.Tests, t)
		todo = append(todo, objs...)
	}
	sort.Strings(kept.Tests)
	sort.Strings(removed.Tests)
	order := map[string]int{"container": 0, "volume": 1, "network": 2}
	sort.SliceStable(todo, func(i, j int) bool {
		if order[todo[i].kind] != order[todo[j].kind] {
			return order[todo[i].kind] < order[todo[j].kind]
		}
		return todo[i].name < todo[j].name
	})
	var errs []error
	for _, o := range todo {
		var err error
		switch o.kind {
		case "container":
			// Its labelled volumes are counted below (already gone is
			// fine); anonymous ones without labels go with it.
			err = cli.ContainerRemove(ctx, o.id, container.RemoveOptions{Force: true, RemoveVolumes: true})
		case "volume":
			err = cli.VolumeRemove(ctx, o.id, true)
		case "network":
			err = cli.NetworkRemove(ctx, o.id)
		}
		if err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove %s %s: %w", o.kind, o.name, err))
			continue
		}
		removed.count(o.kind)
		logger.Info("removed "+o.kind, "name", o.name, "test", o.test)
	}
	if len(errs) > 0 {
		return removed, kept, fmt.Errorf("clean: %w", errors.Join(errs...))
	}
	return removed, kept, nil
}

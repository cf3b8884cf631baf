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

// Clean removes every container, volume and network labelled zabcheck (testID ""),
// or only those of testID, and returns how many objects it removed. It is
// the cleanup for runs that crashed before Close.
func Clean(ctx context.Context, testID string, logger *slog.Logger) (int, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cli, err := newClient(ctx)
	if err != nil {
		return 0, err
	}
	defer cli.Close()
	label := LabelApp + "=1"
	if testID != "" {
		label = LabelTest + "=" + testID
	}
	f := filters.NewArgs(filters.Arg("label", label))
	ctrs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return 0, fmt.Errorf("clean: list containers: %w", err)
	}
	removed := 0
	var errs []error
	for _, ct := range ctrs {
		if err := cli.ContainerRemove(ctx, ct.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove container %s: %w", strings.Join(ct.Names, ","), err))
			continue
		}
		removed++
		logger.Info("removed container", "name", strings.TrimPrefix(strings.Join(ct.Names, ","), "/"), "test", ct.Labels[LabelTest])
	}
	vols, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		return removed, fmt.Errorf("clean: list volumes: %w", err)
	}
	for _, v := range vols.Volumes {
		if err := cli.VolumeRemove(ctx, v.Name, true); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove volume %s: %w", v.Name, err))
			continue
		}
		removed++
		logger.Info("removed volume", "name", v.Name, "test", v.Labels[LabelTest])
	}
	nets, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return removed, fmt.Errorf("clean: list networks: %w", err)
	}
	sort.Slice(nets, func(i, j int) bool { return nets[i].Name < nets[j].Name })
	for _, n := range nets {
		if err := cli.NetworkRemove(ctx, n.ID); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove network %s: %w", n.Name, err))
			continue
		}
		removed++
		logger.Info("removed network", "name", n.Name, "test", n.Labels[LabelTest])
	}
	if len(errs) > 0 {
		return removed, fmt.Errorf("clean: %w", errors.Join(errs...))
	}
	return removed, nil
}

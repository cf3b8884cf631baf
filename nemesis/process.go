package nemesis

import (
	"context"
	"errors"
	"fmt"
)

// processFault acts on whole containers: kill, stop or pause as the start,
// start or unpause as the stop.
type processFault struct {
	name           string
	do, undo       func(Cluster, context.Context, string) error
	doCmd, undoCmd string
}

func (f processFault) Name() string { return f.name }

func (f processFault) Available(_ context.Context, c Cluster) error {
	if len(c.Nodes()) == 0 {
		return fmt.Errorf("check %s: cluster has no nodes", f.name)
	}
	return nil
}

// Inject acts on every target even when one fails, so that a half-killed
// cluster is recorded for what it is; Applied lists every node attempted,
// since a failed kill may still have landed.
func (f processFault) Inject(ctx context.Context, c Cluster, p Plan) (Applied, error) {
	var a Applied
	var errs []error
	for _, n := range p.Targets {
		a.ran(n, f.doCmd)
		if err := f.do(c, ctx, n); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", f.name, n, err))
		}
	}
	return a, errors.Join(errs...)
}

func (f processFault) Heal(ctx context.Context, c Cluster, a Applied) (Applied, error) {
	var out Applied
	var errs []error
	for _, n := range a.Nodes {
		out.ran(n, f.undoCmd)
		if err := f.undo(c, ctx, n); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", f.undoCmd, n, err))
		}
	}
	return out, errors.Join(errs...)
}

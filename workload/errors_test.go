package workload

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/go-zookeeper/zk"

	"github.com/zabcheck/zabcheck/history"
)

func TestClassifyWrite(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want history.Type
	}{
		{"nil", nil, history.OK},
		{"bad version", zk.ErrBadVersion, history.Fail},
		{"no node", zk.ErrNoNode, history.Fail},
		{"node exists", zk.ErrNodeExists, history.Fail},
		{"not empty", zk.ErrNotEmpty, history.Fail},
		{"no children for ephemerals", zk.ErrNoChildrenForEphemerals, history.Fail},
		{"bad arguments", zk.ErrBadArguments, history.Fail},
		{"invalid acl", zk.ErrInvalidACL, history.Fail},
		{"no auth", zk.ErrNoAuth, history.Fail},
		{"invalid path", zk.ErrInvalidPath, history.Fail},
		{"no server (never sent)", zk.ErrNoServer, history.Fail},
		{"not sent", errNotSent, history.Fail},
		{"wrapped bad version", fmt.Errorf("set /k: %w", zk.ErrBadVersion), history.Fail},
		{"connection closed", zk.ErrConnectionClosed, history.Info},
		{"session expired", zk.ErrSessionExpired, history.Info},
		{"session moved", zk.ErrSessionMoved, history.Info},
		{"closing", zk.ErrClosing, history.Info},
		{"api error", zk.ErrAPIError, history.Info},
		{"our timeout", fmt.Errorf("%w: %w", ErrTimeout, context.DeadlineExceeded), history.Info},
		{"deadline", context.DeadlineExceeded, history.Info},
		{"cancelled", context.Canceled, history.Info},
		{"connection loss code", errors.New("unknown error: -4"), history.Info},
		{"anything else", errors.New("boom"), history.Info},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := classifyWrite(tc.err); got != tc.want {
				t.Errorf("classifyWrite(%v) = %s, want %s", tc.err, got, tc.want)
			}
		})
	}
}

func TestClassifyRead(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want history.Type
	}{
		{"nil", nil, history.OK},
		{"timeout", ErrTimeout, history.Fail},
		{"connection closed", zk.ErrConnectionClosed, history.Fail},
		{"sync failed", fmt.Errorf("sync: %w", zk.ErrSessionExpired), history.Fail},
		{"session changed", errSessionChanged, history.Fail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := classifyRead(tc.err); got != tc.want {
				t.Errorf("classifyRead(%v) = %s, want %s", tc.err, got, tc.want)
			}
		})
	}
}

// TestErrorTableComplete: every error go-zookeeper maps from a server code
// is classified explicitly, so a new one is a conscious decision.
func TestErrorTableComplete(t *testing.T) {
	listed := map[error]bool{}
	for _, c := range errorTable {
		if listed[c.err] {
			t.Errorf("%v listed twice", c.err)
		}
		listed[c.err] = true
		if c.why == "" {
			t.Errorf("%v has no reason", c.err)
		}
	}
	for _, err := range []error{zk.ErrNoNode, zk.ErrNoAuth, zk.ErrBadVersion, zk.ErrNoChildrenForEphemerals,
		zk.ErrNodeExists, zk.ErrNotEmpty, zk.ErrSessionExpired, zk.ErrInvalidACL, zk.ErrAuthFailed, zk.ErrClosing,
		zk.ErrNothing, zk.ErrSessionMoved, zk.ErrReconfigDisabled, zk.ErrBadArguments, zk.ErrAPIError,
		zk.ErrConnectionClosed, zk.ErrNoServer} {
		if !listed[err] {
			t.Errorf("%v is not in the error table", err)
		}
	}
}

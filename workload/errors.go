package workload

import (
	"context"
	"errors"

	"github.com/go-zookeeper/zk"

	"github.com/zabcheck/zabcheck/history"
)

// errNotSent marks an op the process refused to send (for example on a
// session it already knows is gone): it surely had no effect.
var errNotSent = errors.New("not sent")

// errorClass says whether an error proves that a mutating op had no effect.
type errorClass struct {
	err      error
	definite bool
	why      string
}

// errorTable classifies go-zookeeper's errors for ops that change state.
// Anything not listed is indeterminate: when in doubt, indefinite.
var errorTable = []errorClass{
	{zk.ErrBadVersion, true, "the server checked the version and refused"},
	{zk.ErrNoNode, true, "the server found no such znode and refused"},
	{zk.ErrNodeExists, true, "the server found the znode and refused"},
	{zk.ErrNotEmpty, true, "the server refused to delete a znode with children"},
	{zk.ErrNoChildrenForEphemerals, true, "the server refused a child of an ephemeral"},
	{zk.ErrBadArguments, true, "the server rejected the request"},
	{zk.ErrInvalidACL, true, "the server rejected the ACL"},
	{zk.ErrNoAuth, true, "the server refused for lack of permission"},
	{zk.ErrAuthFailed, true, "the session was refused at authentication"},
	{zk.ErrReconfigDisabled, true, "the server refused a reconfiguration"},
	{zk.ErrInvalidPath, true, "the client rejected the path before sending"},
	{zk.ErrInvalidFlags, true, "the client rejected the flags before sending"},
	// go-zookeeper answers ErrNoServer only for requests still queued unsent
	// when it gave up reconnecting (flushUnsentRequests).
	{zk.ErrNoServer, true, "the client never sent the request"},
	{errNotSent, true, "the process never sent the request"},

	{zk.ErrConnectionClosed, false, "the connection broke with the request in flight"},
	{zk.ErrSessionExpired, false, "the session expired; the request may have been applied first"},
	{zk.ErrSessionMoved, false, "the session moved; the request may have been applied"},
	{zk.ErrClosing, false, "the server or client was closing"},
	{zk.ErrNothing, false, "no response to process"},
	{zk.ErrAPIError, false, "generic API error"},
	{zk.ErrUnknown, false, "unknown error"},
	{ErrTimeout, false, "our per-op deadline passed with no answer"},
	{context.DeadlineExceeded, false, "our deadline passed with no answer"},
	{context.Canceled, false, "the run was cancelled with the request in flight"},
}

// classifyWrite gives the completion type of an op that may change state.
func classifyWrite(err error) history.Type {
	if err == nil {
		return history.OK
	}
	for _, c := range errorTable {
		if errors.Is(err, c.err) {
			if c.definite {
				return history.Fail
			}
			return history.Info
		}
	}
	return history.Info
}

// classifyRead gives the completion type of an op without effect (a read,
// or the sync before it): any error means it surely did nothing.
func classifyRead(err error) history.Type {
	if err == nil {
		return history.OK
	}
	return history.Fail
}

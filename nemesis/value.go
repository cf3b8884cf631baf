package nemesis

import "github.com/zabcheck/zabcheck/history"

// The nemesis op's value is defined once, in history, for the nemesis that
// writes it and the checker and report that read it. These aliases keep
// callers that named it here compiling until they switch.

// Value is the value of a nemesis op.
//
// Deprecated: use history.NemesisValue.
type Value = history.NemesisValue

// Recovery is what the final heal saw.
//
// Deprecated: use history.Recovery.
type Recovery = history.Recovery

// NodeState is what a node said of itself.
//
// Deprecated: use history.NodeState.
type NodeState = history.NodeState

// FaultHeal is the fault name of the final heal's stop op.
//
// Deprecated: use history.FaultHeal.
const FaultHeal = history.FaultHeal

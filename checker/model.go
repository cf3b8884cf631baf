package checker

import (
	"fmt"
	"sort"

	"github.com/anishathalye/porcupine"
)

// regKind is what a register operation does in the model.
type regKind uint8

const (
	regRead regKind = iota
	regWrite
	// regCas is a cas that surely succeeded (an ok completion).
	regCas
	// regCasMaybe is an indeterminate cas. If the model's value equals the
	// expected one when it is linearized, it must have succeeded (the server
	// would have applied it); otherwise it failed. Either way it is a legal
	// step, so the only thing porcupine decides is where it goes, and
	// "after everything" means it never took effect.
	regCasMaybe
)

// regInput is one register operation on one key. For writes A is the value
// written; for cas A is the expected value and B the new one.
type regInput struct {
	Key  string
	Kind regKind
	A, B int64
	// Index is the history index of the invocation, for explanations.
	Index int64
}

// regValue is the state of one register, and also what a read returns:
// Set is false for a missing key (a null read).
type regValue struct {
	V   int64
	Set bool
}

func (v regValue) String() string {
	if !v.Set {
		return "null"
	}
	return fmt.Sprint(v.V)
}

// registerModel is a CAS register partitioned by key: a history is
// linearizable iff each key's sub-history is, so porcupine checks keys
// independently (and in parallel). The state is one regValue, compared with
// ==, and hashes to its value to speed porcupine's cache.
var registerModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, op := range h {
			k := op.Input.(regInput).Key
			byKey[k] = append(byKey[k], op)
		}
		keys := make([]string, 0, len(byKey))
		for k := range byKey {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, len(keys))
		for i, k := range keys {
			out[i] = byKey[k]
		}
		return out
	},
	Init: func() any { return regValue{} },
	Step: func(state, input, output any) (bool, any) {
		s := state.(regValue)
		in := input.(regInput)
		switch in.Kind {
		case regRead:
			return output.(regValue) == s, s
		case regWrite:
			return true, regValue{V: in.A, Set: true}
		case regCas:
			if s == (regValue{V: in.A, Set: true}) {
				return true, regValue{V: in.B, Set: true}
			}
			return false, s
		case regCasMaybe:
			if s == (regValue{V: in.A, Set: true}) {
				return true, regValue{V: in.B, Set: true}
			}
			return true, s
		}
		return false, s
	},
	Hash: func(state any) uint64 {
		s := state.(regValue)
		if !s.Set {
			return 0x9e3779b97f4a7c15
		}
		return uint64(s.V) * 0xff51afd7ed558ccd
	},
	DescribeOperation: func(input, output any) string {
		in := input.(regInput)
		switch in.Kind {
		case regRead:
			return fmt.Sprintf("read %s -> %v", in.Key, output)
		case regWrite:
			return fmt.Sprintf("write %s %d", in.Key, in.A)
		case regCas:
			return fmt.Sprintf("cas %s %d->%d", in.Key, in.A, in.B)
		case regCasMaybe:
			return fmt.Sprintf("cas? %s %d->%d (indeterminate)", in.Key, in.A, in.B)
		}
		return "?"
	},
	DescribeState: func(state any) string { return state.(regValue).String() },
	DescribeOperationMetadata: func(info any) string {
		if info == nil {
			return ""
		}
		return fmt.Sprint(info)
	},
}

package report

import (
	"fmt"

	"github.com/zabcheck/zabcheck/history"
)

// pairList is a run's client pairs in invocation order. A streamed
// history keeps them compactly, its ops in a history.OpLog and two
// positions a pair (16 bytes, where a history.Pair takes 352), and hands
// them out a window at a time: ten million ops then take a few hundred MB
// instead of a few GB.
type pairList struct {
	mem []history.Pair // the pairs themselves, when the history was read whole
	log *history.OpLog // otherwise the client ops,
	pos [][2]int64     // and each pair's invocation and completion in log (-1: none)
	end int64          // time of the history's last op, for a missing completion
}

// memPairs is a pairList of pairs already in memory.
func memPairs(pairs []history.Pair) pairList { return pairList{mem: pairs} }

func (l pairList) Len() int {
	if l.log == nil {
		return len(l.mem)
	}
	return len(l.pos)
}

// slice returns pairs [a, b). From a log they are decoded afresh, their
// values shared with the log: read them, do not change them.
func (l pairList) slice(a, b int) ([]history.Pair, error) {
	if l.log == nil {
		return l.mem[a:b], nil
	}
	out := make([]history.Pair, b-a)
	for i := range out {
		pos := l.pos[a+i]
		inv, err := l.log.At(pos[0])
		if err != nil {
			return nil, fmt.Errorf("read pair %d: %w", a+i, err)
		}
		out[i].Invoke = inv
		if pos[1] < 0 {
			// As history.Pairs: it may have taken effect, and ended with
			// the history.
			out[i].Complete = history.Op{Index: -1, Time: l.end, Type: history.Info, Process: inv.Process, F: inv.F,
				Key: inv.Key, Value: inv.Value, Node: inv.Node, Error: history.ErrNoCompletion.Error()}
			continue
		}
		if out[i].Complete, err = l.log.At(pos[1]); err != nil {
			return nil, fmt.Errorf("read pair %d: %w", a+i, err)
		}
	}
	return out, nil
}

// each hands the pairs to fn in order, at most size at a time, with the
// position of the first; an error of fn stops it and is returned as is.
func (l pairList) each(size int, fn func(base int, pairs []history.Pair) error) error {
	for a := 0; a < l.Len(); a += size {
		ps, err := l.slice(a, min(a+size, l.Len()))
		if err != nil {
			return err
		}
		if err := fn(a, ps); err != nil {
			return err
		}
	}
	return nil
}

// filter returns the pairs keep accepts, in order.
func (l pairList) filter(keep func(history.Pair) bool) ([]history.Pair, error) {
	var out []history.Pair
	err := l.each(maxWindowPairs, func(_ int, ps []history.Pair) error {
		for _, p := range ps {
			if keep(p) {
				out = append(out, p)
			}
		}
		return nil
	})
	return out, err
}

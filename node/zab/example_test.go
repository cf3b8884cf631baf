package zab_test

import (
	"fmt"
	"slices"

	"github.com/zabcheck/zabcheck/node/zab"
)

// Example shows the server loop's contract on a one-voter ensemble: feed
// ticks (and, with peers, messages), then handle each Ready in order:
// send the early messages, persist, send, apply, Advance, and look again
// (Advance can produce work).
func Example() {
	st := zab.NewMemoryStorage()
	n, err := zab.NewNode(zab.DefaultConfig(1, []uint64{1}, nil), st)
	if err != nil {
		panic(err)
	}
	handle := func() {
		for n.HasReady() {
			rd := n.Ready()
			// 0: rd.EarlyMessages may be sent first (none with a single voter).
			if err := st.Apply(rd); err != nil { // 1-5: durable state first
				panic(err) // a real server crashes here
			}
			// 6: send rd.Messages (none with a single voter).
			// 0 and 7: apply rd.EarlyCommitted, then rd.Committed, in order.
			for _, t := range slices.Concat(rd.EarlyCommitted, rd.Committed) {
				fmt.Printf("apply %v %s\n", t.Zxid, t.Data)
			}
			n.Advance(rd)
		}
	}
	for range 3 {
		n.Tick()
		handle()
	}
	if _, err := n.Propose([]byte("create /a")); err != nil {
		panic(err)
	}
	handle()
	s := n.Status()
	fmt.Println(s.Role, s.Serving, s.CurrentEpoch, s.Committed)
	// Output:
	// apply 0x100000001 create /a
	// leading true 1 0x100000001
}

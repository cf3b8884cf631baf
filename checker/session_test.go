package checker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/zabcheck/zabcheck/history"
)

func sess(id string) func(*history.Op) { return func(o *history.Op) { o.Session = id } }

// wait moves the history's clock on by d.
func (h *hb) wait(d time.Duration) *hb {
	h.t += int64(d)
	return h
}

// event records a session event as the workload does: an invoke and an ok
// of the session's event process.
func (h *hb) event(p int, state, session string) *hb {
	return h.call(p, fSessionEvent, "", state, history.OK, state, sess(session))
}

// Small session histories, each named for its verdict and what it shows.
// Processes 0-2 run ops; 10-12 record their session events.
func TestSession(t *testing.T) {
	ok, info, fail := history.OK, history.Info, history.Fail
	read := history.FRead
	for _, tc := range []struct {
		name  string
		build func(h *hb)
		want  Verdict
		says  string // in the explanation
	}{
		{"lifetime-ok", func(h *hb) {
			h.event(10, "connected", "0x1")
			h.call(0, history.FAdd, "", 1, ok, 1, sess("0x1"))
			h.call(0, history.FAdd, "", 2, ok, 2, sess("0x1"))
			h.call(1, read, "", nil, ok, []int{1, 2}, sess("0x2"))
			h.call(0, fClose, "", nil, ok, nil, sess("0x1"))
			h.call(1, read, "", nil, ok, []int{}, sess("0x2"))
			h.call(5, read, "", nil, ok, []int{}, final("n1"))
		}, Valid, "2 ephemerals added (2 acknowledged), 2 seen; 1 sessions closed"},
		{"read-concurrent-with-close-ok", func(h *hb) {
			h.call(0, history.FAdd, "", 1, ok, 1, sess("0x1"))
			h.op(history.Invoke, 1, read, "", nil, sess("0x2"))
			h.call(0, fClose, "", nil, ok, nil, sess("0x1"))
			h.op(ok, 1, read, "", []int{1}, sess("0x2"))
		}, Valid, "1 ephemerals added"},
		{"indeterminate-add-seen-later-ok", func(h *hb) {
			h.call(0, history.FAdd, "", 1, info, nil, sess("0x1"))
			h.call(1, read, "", nil, ok, []int{1}, sess("0x2"))
		}, Valid, "1 seen"},
		{"unacknowledged-close-leaves-it-ok", func(h *hb) {
			h.call(0, history.FAdd, "", 1, ok, 1, sess("0x1"))
			h.call(0, fClose, "", nil, info, nil, sess("0x1"))
			h.call(1, read, "", nil, ok, []int{1}, sess("0x2"))
		}, Valid, ""},
		{"seen-just-after-expiry-ok", func(h *hb) {
			// The server says "expired" once the closeSession is proposed,
			// so a read just after may still list it.
			h.call(0, history.FAdd, "", 1, ok, 1, sess("0x1"))
			h.event(10, "expired", "0x1")
			h.call(1, read, "", nil, ok, []int{1}, sess("0x2"))
		}, Valid, ""},
		{"seen-after-expiry-under-a-fault-ok", func(h *hb) {
			h.call(0, history.FAdd, "", 1, ok, 1, sess("0x1"))
			h.event(10, "expired", "0x1")
			h.call(-1, history.FStart, "", nil, ok, history.NemesisValue{Fault: "kill", ID: 1})
			h.wait(2 * time.Second)
			h.call(1, read, "", nil, ok, []int{1}, sess("0x2"))
		}, Valid, ""},
		{"owner-unsure-after-session-replaced-ok", func(h *hb) {
			// The create ran as the client replaced its session: 0x3 may own it.
			h.op(history.Invoke, 0, history.FAdd, "", 1, sess("0x1"))
			h.op(ok, 0, history.FAdd, "", 1, sess("0x3"))
			h.call(0, fClose, "", nil, ok, nil, sess("0x1"))
			h.call(1, read, "", nil, ok, []int{1}, sess("0x2"))
		}, Valid, ""},
		{"seen-after-close-bad", func(h *hb) {
			h.call(0, history.FAdd, "", 1, ok, 1, sess("0x1"))
			h.call(0, fClose, "", nil, ok, nil, sess("0x1"))
			h.call(1, read, "", nil, ok, []int{1}, sess("0x2"))
		}, Invalid, "lists e1 of session 0x1, invoked after its close was acknowledged (op 3)"},
		{"seen-in-final-read-after-close-bad", func(h *hb) {
			h.call(0, history.FAdd, "", 1, ok, 1, sess("0x1"))
			h.call(0, fClose, "", nil, ok, nil, sess("0x1"))
			h.call(5, read, "", nil, ok, []int{}, final("n1"))
			h.call(6, read, "", nil, ok, []int{1}, final("n2"))
		}, Invalid, "final read op 7 on n2 lists e1"},
		{"seen-after-expiry-bad", func(h *hb) {
			h.call(0, history.FAdd, "", 1, ok, 1, sess("0x1"))
			h.call(0, fSilence, "", nil, ok, "expired", sess("0x1"))
			h.wait(2 * time.Second)
			h.call(1, read, "", nil, ok, []int{1}, sess("0x2"))
		}, Invalid, "its expiry was observed (op 3)"},
		{"phantom-bad", func(h *hb) {
			h.call(0, history.FAdd, "", 1, fail, nil, sess("0x1"))
			h.call(1, read, "", nil, ok, []int{1, 7}, sess("0x2"))
		}, Invalid, "2 phantom ephemerals"},
		{"seen-before-add-bad", func(h *hb) {
			h.call(1, read, "", nil, ok, []int{1}, sess("0x2"))
			h.call(0, history.FAdd, "", 1, ok, 1, sess("0x1"))
		}, Invalid, "before its add op 2 was invoked"},
		{"partially-removed-bad", func(h *hb) {
			h.call(0, history.FAdd, "", 1, ok, 1, sess("0x1"))
			h.call(0, history.FAdd, "", 2, ok, 2, sess("0x1"))
			h.call(1, read, "", nil, ok, []int{2}, sess("0x2"))
		}, Invalid, "lists e2 of session 0x1 (add op 2) but not e1"},
		{"vanished-while-alive-bad", func(h *hb) {
			h.call(0, history.FAdd, "", 1, ok, 1, sess("0x1"))
			h.call(1, read, "", nil, ok, []int{}, sess("0x2"))
			h.call(0, history.FAdd, "", 2, info, nil, sess("0x1"))
			h.call(2, history.FAdd, "", 3, ok, 3, sess("0x1"))
		}, Invalid, "misses e1 of session 0x1 (the first acknowledged in op 1), yet the session's add op 7"},
		{"vanished-under-a-fault-ok", func(h *hb) {
			h.call(0, history.FAdd, "", 1, ok, 1, sess("0x1"))
			h.call(-1, history.FStart, "", nil, ok, history.NemesisValue{Fault: "partition", ID: 1})
			h.call(1, read, "", nil, ok, []int{}, sess("0x2"))
			h.call(0, history.FAdd, "", 3, ok, 3, sess("0x1"))
		}, Valid, ""},
		{"op-after-expiry-succeeds-bad", func(h *hb) {
			h.call(0, history.FAdd, "", 1, ok, 1, sess("0x1"))
			h.event(10, "expired", "0x1")
			h.call(0, history.FAdd, "", 2, ok, 2, sess("0x1"))
			h.call(1, read, "", nil, ok, []int{1, 2}, sess("0x2"))
		}, Invalid, "add op 5 of session 0x1 succeeded, invoked after its expiry was observed (op 3)"},
		{"nothing-unknown", func(h *hb) {
			h.call(0, history.FAdd, "", 1, fail, nil, sess("0x1"))
		}, Unknown, "nothing to check"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &hb{}
			tc.build(h)
			for i := range h.ops {
				if h.ops[i].Process < 0 {
					h.ops[i].Process = history.Nemesis
				}
			}
			if err := history.Validate(h.ops); err != nil {
				t.Fatal(err)
			}
			r := checkSession(context.Background(), inputFor(h.ops, Options{}))
			if r.Verdict != tc.want || !strings.Contains(r.Explanation, tc.says) {
				t.Fatalf("got %s %q, want %s naming %q", r.Verdict, r.Explanation, tc.want, tc.says)
			}
			if r.Verdict == Invalid && len(r.Ops) == 0 {
				t.Errorf("an invalid verdict names no op: %s", r.Explanation)
			}
			t.Logf("%s: %s", r.Verdict, r.Explanation)
		})
	}
}

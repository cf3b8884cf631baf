package checker

import (
	"context"
	"strings"
	"testing"

	"github.com/zabcheck/zabcheck/history"
)

// Small queue histories, each named for its verdict and what it shows.
func TestQueue(t *testing.T) {
	ok, info, fail := history.OK, history.Info, history.Fail
	for _, tc := range []struct {
		name  string
		build func(h *hb)
		want  Verdict
		says  string // in the explanation
	}{
		{"drained-ok", func(h *hb) {
			h.call(0, fEnqueue, "", 1, ok, 1)
			h.call(1, fEnqueue, "", 2, ok, 2)
			h.call(0, fDequeue, "", nil, ok, 1)
			h.call(1, fDrain, "", nil, ok, []int{2})
		}, Valid, "2 acknowledged enqueues"},
		{"still-queued-in-final-read-ok", func(h *hb) {
			h.call(0, fEnqueue, "", 1, ok, 1)
			h.call(0, fEnqueue, "", 2, ok, 2)
			h.call(1, fDequeue, "", nil, ok, 1)
			h.call(2, history.FRead, "", nil, ok, []int{2}, final("n1"))
		}, Valid, "2 acknowledged"},
		{"indeterminate-enqueue-recovered-ok", func(h *hb) {
			h.call(0, fEnqueue, "", 1, info, nil)
			h.call(1, fEnqueue, "", 2, info, nil)
			h.call(2, fDrain, "", nil, ok, []int{1})
		}, Valid, "1 indeterminate enqueues recovered"},
		{"empty-dequeue-ok", func(h *hb) {
			h.call(0, fDequeue, "", nil, ok, nil)
			h.call(0, fEnqueue, "", 7, ok, 7)
			h.call(0, fDequeue, "", nil, ok, 7)
			h.call(0, fDrain, "", nil, ok, []int{})
		}, Valid, ""},
		{"lost-bad", func(h *hb) {
			h.call(0, fEnqueue, "", 1, ok, 1)
			h.call(0, fEnqueue, "", 2, ok, 2)
			h.call(1, fDequeue, "", nil, ok, 1)
			h.call(1, fDrain, "", nil, ok, []int{})
		}, Invalid, "lost elements: [2]"},
		{"lost-from-final-read-bad", func(h *hb) {
			h.call(0, fEnqueue, "", 1, ok, 1)
			h.call(2, history.FRead, "", nil, ok, []int{}, final("n1"))
		}, Invalid, "lost elements"},
		{"taken-by-indeterminate-dequeue-ok", func(h *hb) {
			h.call(0, fEnqueue, "", 1, ok, 1)
			h.call(1, fDequeue, "", nil, info, nil)
			h.call(2, fDrain, "", nil, ok, []int{})
		}, Valid, "no more than the 1 indeterminate dequeues"},
		{"more-lost-than-indeterminate-dequeues-bad", func(h *hb) {
			h.call(0, fEnqueue, "", 1, ok, 1)
			h.call(0, fEnqueue, "", 2, ok, 2)
			h.call(1, fDequeue, "", nil, info, nil)
			h.call(2, fDrain, "", nil, ok, []int{})
		}, Invalid, "at least 1 are lost"},
		{"duplicate-dequeue-bad", func(h *hb) {
			h.call(0, fEnqueue, "", 1, ok, 1)
			h.call(1, fDequeue, "", nil, ok, 1)
			h.call(2, fDequeue, "", nil, ok, 1)
		}, Invalid, "duplicated element 1"},
		{"dequeued-yet-still-read-bad", func(h *hb) {
			h.call(0, fEnqueue, "", 1, ok, 1)
			h.call(1, fDequeue, "", nil, ok, 1)
			h.call(2, history.FRead, "", nil, ok, []int{1})
		}, Invalid, "yet still in read"},
		{"unexpected-never-enqueued-bad", func(h *hb) {
			h.call(0, fEnqueue, "", 1, ok, 1)
			h.call(1, fDrain, "", nil, ok, []int{1, 9})
		}, Invalid, "unexpected element 9"},
		{"unexpected-failed-enqueue-bad", func(h *hb) {
			h.call(0, fEnqueue, "", 3, fail, 3)
			h.call(1, fDequeue, "", nil, ok, 3)
		}, Invalid, "enqueues all failed"},
		{"no-drain-unknown", func(h *hb) {
			h.call(0, fEnqueue, "", 1, ok, 1)
			h.call(0, fEnqueue, "", 2, ok, 2)
			h.call(1, fDequeue, "", nil, ok, 1)
		}, Unknown, "never dequeued: [2]"},
		{"keys-judged-apart-bad", func(h *hb) {
			h.call(0, fEnqueue, "a", 1, ok, 1)
			h.call(1, fEnqueue, "b", 1, ok, 1)
			h.call(2, fDrain, "a", nil, ok, []int{1})
			h.call(3, fDrain, "b", nil, ok, []int{})
		}, Invalid, "of key b"},
		{"nothing-unknown", func(h *hb) {
			h.call(0, fDequeue, "", nil, fail, nil)
		}, Unknown, "nothing to check"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &hb{}
			tc.build(h)
			if err := history.Validate(h.ops); err != nil {
				t.Fatal(err)
			}
			r := checkQueue(context.Background(), inputFor(h.ops, Options{}))
			if r.Verdict != tc.want || !strings.Contains(strings.ToLower(r.Explanation), strings.ToLower(tc.says)) {
				t.Fatalf("got %s %q, want %s naming %q", r.Verdict, r.Explanation, tc.want, tc.says)
			}
			if r.Verdict == Invalid && len(r.Ops) == 0 {
				t.Errorf("an invalid verdict names no op: %s", r.Explanation)
			}
			t.Logf("%s: %s", r.Verdict, r.Explanation)
		})
	}
}

package checker

import (
	"strings"
	"testing"

	"github.com/zabcheck/zabcheck/history"
)

// arm records a watch-arm by process p of session s on key: kind, and
// what the read returned (exists, the watch set, mzxid, pzxid).
func (h *hb) arm(p int, s, key, kind string, exists, armed bool, mzxid, pzxid int64) *hb {
	in := map[string]any{"kind": kind}
	out := map[string]any{"kind": kind, "exists": exists, "armed": armed, "mzxid": mzxid, "pzxid": pzxid}
	return h.call(p, fWatchArm, key, in, history.OK, out, sess(s))
}

// wev records a watch event of session s as the workload does.
func (h *hb) wev(p int, s, key, typ string, z int64) *hb {
	v := map[string]any{"type": typ, "zxid": z}
	return h.call(p, fWatchEvent, key, v, history.OK, v, sess(s))
}

// Small watch histories named for their verdict. Process 0 watches on
// session 0x1 and records its events as process 10; process 1 writes.
func TestWatch(t *testing.T) {
	ok := history.OK
	for _, tc := range []struct {
		name  string
		build func(h *hb)
		want  Verdict
		says  string
	}{
		{"TestWatchValidDataChange", func(h *hb) {
			h.arm(0, "0x1", "k0", "data", true, true, 5, 5)
			h.call(1, history.FWrite, "k0", 1, ok, 1, zxid(7))
			h.wev(10, "0x1", "k0", "changed", 7)
			h.arm(0, "0x1", "k0", "data", true, true, 7, 5)
		}, Valid, "1 events"},
		{"TestWatchValidEventWhileRearmInFlight", func(h *hb) {
			// The event arrived while the re-arm was in flight; it is
			// recorded before the re-arm's completion.
			h.arm(0, "0x1", "k0", "data", true, true, 5, 5)
			h.op(history.Invoke, 0, fWatchArm, "k0", map[string]any{"kind": "data"}, sess("0x1"))
			h.wev(10, "0x1", "k0", "changed", 7)
			h.op(ok, 0, fWatchArm, "k0", map[string]any{"kind": "data", "exists": true, "armed": true, "mzxid": 7}, sess("0x1"))
		}, Valid, ""},
		{"TestWatchValidExistsCreate", func(h *hb) {
			h.arm(0, "0x1", "k0", "exists", false, true, 0, 0)
			h.wev(10, "0x1", "k0", "created", 8)
			h.arm(0, "0x1", "k0", "exists", true, true, 8, 8)
		}, Valid, ""},
		{"TestWatchValidNoChangeNoEvent", func(h *hb) {
			h.arm(0, "0x1", "k0", "data", true, true, 5, 5)
			h.arm(0, "0x1", "k0", "exists", true, true, 5, 5)
		}, Valid, ""},
		{"TestWatchAcrossReconnectValid", func(h *hb) {
			// setWatches after the reconnect fires the change missed
			// while disconnected, at the new server's zxid.
			h.arm(0, "0x1", "k0", "data", true, true, 5, 5)
			h.wev(10, "0x1", "", "disconnected", 0)
			h.wev(10, "0x1", "", "connected", 0)
			h.wev(10, "0x1", "k0", "changed", 9)
			h.arm(0, "0x1", "k0", "data", true, true, 8, 5)
		}, Valid, ""},
		{"TestWatchEventAfterReadAcrossReconnectValid", func(h *hb) {
			// Seen on ZooKeeper 3.8.0 in session 7: go-zookeeper sent the
			// read right after the reconnect, ahead of the setWatches that
			// re-armed the exists watch, so the created event came after
			// the read that showed the znode. It came, on that connection.
			h.arm(0, "0x1", "k0", "exists", false, true, 0, 0)
			h.wev(10, "0x1", "", "disconnected", 0)
			h.wev(10, "0x1", "", "connected", 0)
			h.arm(0, "0x1", "k0", "data", true, true, 8, 8)
			h.wev(10, "0x1", "k0", "created", 0)
		}, Valid, ""},
		{"TestWatchNoEventAfterReconnectInvalid", func(h *hb) {
			// After the reconnect the event may come late, but not never:
			// the session expired without it.
			h.arm(0, "0x1", "k0", "exists", false, true, 0, 0)
			h.wev(10, "0x1", "", "disconnected", 0)
			h.wev(10, "0x1", "", "connected", 0)
			h.arm(0, "0x1", "k0", "data", true, true, 8, 8)
			h.wev(10, "0x1", "", "expired", 0)
		}, Invalid, "no event came after the reconnect either"},
		{"TestWatchDeleteFiresTwiceAfterReconnectValid", func(h *hb) {
			// Seen on ZooKeeper 3.8.0 in session 7: k0 was deleted while
			// the session was disconnected; setWatches fired its data and
			// its child watch one event each.
			h.arm(0, "0x1", "k0", "data", true, true, 5, 5)
			h.arm(0, "0x1", "k0", "children", true, true, 5, 5)
			h.wev(10, "0x1", "", "disconnected", 0)
			h.wev(10, "0x1", "", "connected", 0)
			h.wev(10, "0x1", "k0", "deleted", 0)
			h.wev(10, "0x1", "k0", "deleted", 0)
		}, Valid, ""},
		{"TestWatchDeleteFiresTwiceInvalid", func(h *hb) {
			// Without a reconnect one delete is one event for both tables.
			h.arm(0, "0x1", "k0", "data", true, true, 5, 5)
			h.arm(0, "0x1", "k0", "children", true, true, 5, 5)
			h.wev(10, "0x1", "k0", "deleted", 9)
			h.wev(10, "0x1", "k0", "deleted", 9)
		}, Invalid, "unarmed"},
		{"TestWatchAcrossExpiryValid", func(h *hb) {
			// Expiry drops the watches: the old session reads nothing more,
			// and the new session owes no event for the old one's watch.
			h.arm(0, "0x1", "k0", "data", true, true, 5, 5)
			h.wev(10, "0x1", "", "expired", 0)
			h.call(1, history.FWrite, "k0", 1, ok, 1, zxid(7))
			h.arm(2, "0x2", "k0", "data", true, true, 7, 5)
		}, Valid, ""},
		{"TestWatchFailedArmMayFireValid", func(h *hb) {
			h.call(0, fWatchArm, "k0", map[string]any{"kind": "data"}, history.Fail, nil, sess("0x1"))
			h.wev(10, "0x1", "k0", "changed", 7)
		}, Valid, ""},
		{"TestWatchMissedEventInvalid", func(h *hb) {
			h.arm(0, "0x1", "k0", "data", true, true, 5, 5)
			h.call(1, history.FWrite, "k0", 1, ok, 1, zxid(7))
			h.arm(0, "0x1", "k0", "data", true, true, 7, 5)
			h.wev(10, "0x1", "k0", "changed", 7)
		}, Invalid, "missed"},
		{"TestWatchDeleteNotFiredInvalid", func(h *hb) {
			h.arm(0, "0x1", "k0", "exists", true, true, 5, 5)
			h.call(1, "delete", "k0", nil, ok, nil)
			h.wev(10, "0x1", "/", "children", 9)
			h.arm(0, "0x1", "k0", "data", false, false, 0, 0)
		}, Invalid, "is gone"},
		{"TestWatchChildMissedInvalid", func(h *hb) {
			h.arm(0, "0x1", "/", "children", true, true, 2, 5)
			h.arm(0, "0x1", "/", "children", true, true, 2, 9)
		}, Invalid, "has pzxid 0x9"},
		{"TestWatchEventWithoutChangeInvalid", func(h *hb) {
			// No watch was ever set on k1.
			h.arm(0, "0x1", "k0", "data", true, true, 5, 5)
			h.wev(10, "0x1", "k1", "changed", 7)
		}, Invalid, "no watch was set"},
		{"TestWatchFiredTwiceInvalid", func(h *hb) {
			h.arm(0, "0x1", "k0", "data", true, true, 5, 5)
			h.wev(10, "0x1", "k0", "changed", 7)
			h.wev(10, "0x1", "k0", "changed", 7)
		}, Invalid, "taken by the event"},
		{"TestWatchWrongKindInvalid", func(h *hb) {
			// A created event needs an exists watch set on a missing znode.
			h.arm(0, "0x1", "k0", "data", true, true, 5, 5)
			h.wev(10, "0x1", "k0", "created", 7)
		}, Invalid, "unarmed"},
		{"TestWatchOutOfOrderInvalid", func(h *hb) {
			h.arm(0, "0x1", "k0", "data", true, true, 5, 5)
			h.arm(0, "0x1", "k1", "data", true, true, 6, 6)
			h.wev(10, "0x1", "k1", "changed", 9)
			h.wev(10, "0x1", "k0", "changed", 8)
		}, Invalid, "out-of-order"},
		{"TestWatchOrderAcrossReconnectValid", func(h *hb) {
			h.arm(0, "0x1", "k0", "data", true, true, 5, 5)
			h.arm(0, "0x1", "k1", "data", true, true, 6, 6)
			h.wev(10, "0x1", "k1", "changed", 9)
			h.wev(10, "0x1", "", "disconnected", 0)
			h.wev(10, "0x1", "k0", "changed", 8)
		}, Valid, ""},
		{"TestWatchNothingUnknown", func(h *hb) {
			h.call(1, history.FWrite, "k0", 1, ok, 1, zxid(7))
		}, Unknown, "nothing to check"},
		{"TestWatchDroppedUnknown", func(h *hb) {
			h.arm(0, "0x1", "k0", "data", true, true, 5, 5)
			h.call(10, fWatchEvent, "", map[string]any{"type": "dropped", "dropped": 3}, ok, map[string]any{"type": "dropped", "dropped": 3}, sess("0x1"))
			h.arm(0, "0x1", "k0", "data", true, true, 7, 5)
		}, Unknown, "lost events"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &hb{}
			tc.build(h)
			in := checkInput{ops: h.ops, pairs: pairsOf(h.ops)}
			r := checkWatch(t.Context(), in)
			if r.Verdict != tc.want || !strings.Contains(r.Explanation, tc.says) {
				t.Errorf("verdict %s (%s), want %s saying %q", r.Verdict, r.Explanation, tc.want, tc.says)
			}
		})
	}
}

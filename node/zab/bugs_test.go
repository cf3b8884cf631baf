package zab

import (
	"strings"
	"testing"
)

func TestParseBugs(t *testing.T) {
	b, err := ParseBugs("skip-trunc", "no-stepdown")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := b.String(), "no-stepdown,skip-trunc"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if !b.Has(BugSkipTrunc) || b.Has(BugSyncNotQuorum) {
		t.Errorf("Has: got %v", b)
	}
	if _, err := ParseBugs("cas-on-committed-state"); err == nil || !strings.Contains(err.Error(), "not a protocol bug") {
		t.Errorf("ParseBugs(tree bug): err = %v, want a refusal", err)
	}
	cfg := DefaultConfig(1, []uint64{1, 2, 3}, nil)
	cfg.Bugs = Bugs{"made-up": true}
	if err := cfg.Validate(); err == nil {
		t.Error("Validate accepted an unknown bug")
	}
}

// TestBugDecisions checks each flipped decision against the correct one on
// the case that tells them apart.
func TestBugDecisions(t *testing.T) {
	lowZxidHighID := Vote{Leader: 3, Zxid: MakeZxid(1, 2), Epoch: 1}
	highZxidLowID := Vote{Leader: 1, Zxid: MakeZxid(1, 9), Epoch: 1}
	tests := []struct {
		name      string
		got, want bool
	}{
		{"quorum 1 of 3", quorum(1, 3), false},
		{"off-by-one quorum 1 of 3", quorumOffByOne(1, 3), true},
		{"quorum 2 of 5", quorum(2, 5), false},
		{"off-by-one quorum 2 of 5", quorumOffByOne(2, 5), true},
		{"off-by-one quorum 0 of 3", quorumOffByOne(0, 3), false},
		{"vote: zxid beats id", voteBetter(lowZxidHighID, highZxidLowID), false},
		{"vote by id: id beats zxid", voteBetterByID(lowZxidHighID, highZxidLowID), true},
		{"commit with own ack of 3", commitNext(1, 3), false},
		{"commit alone with own ack", commitNextAlone(1), true},
		{"commit alone without any ack", commitNextAlone(0), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

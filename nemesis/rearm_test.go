package nemesis

import (
	"fmt"
	"strings"
	"testing"
)

// A run cut off in the middle of a failpoint sequence must not re-arm the
// failpoint on a node it restarts: the armed process is gone, and a
// re-armed one could exit again after the final heal, which would look
// like a cluster that never recovers.
func TestRunCutOffDoesNotRearmFailpoints(t *testing.T) {
	for cut := 1; cut <= 8; cut++ {
		c := newFPFake(3, 2)
		c.fires = "n3"
		c.leaders = []string{"n1"}
		runSequence(t, c, CrashBeforeFirstProposal, cut)
		arms := 0
		for _, l := range c.takeLog() {
			if strings.Contains(l, ": failpoint ") && !strings.HasSuffix(l, `=""`) {
				arms++
			}
		}
		if arms > 2 {
			t.Errorf("cut %d: armed %d times, want at most the sequence's 2", cut, arms)
		}
		checkClean(t, c, fmt.Sprintf("cut %d", cut))
	}
}

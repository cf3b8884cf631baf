package storage

import "testing"

// TestNoAcceptedEpoch: the seeded bug's store opens with acceptedEpoch
// behind currentEpoch, which the correct store refuses as damage.
func TestNoAcceptedEpoch(t *testing.T) {
	dir := t.TempDir()
	e := Epochs{Dir: dir}
	if err := e.SetCurrent(4); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Load(); err == nil {
		t.Fatal("Load accepted acceptedEpoch 0 < currentEpoch 4")
	}
	e.NoAcceptedEpoch = true
	a, c, err := e.Load()
	if err != nil || a != 0 || c != 4 {
		t.Fatalf("Load = %d, %d, %v; want 0, 4, nil", a, c, err)
	}
}

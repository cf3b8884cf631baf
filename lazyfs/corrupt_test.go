package lazyfs

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

func write(t *testing.T, dir, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestNewestTakesTheHighestZxid(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "log.100000001", []byte{1})
	write(t, dir, "log.ff", []byte{1})
	write(t, dir, "log.20000000a", []byte{1})
	write(t, dir, "log.300000000.tmp", []byte{1})
	write(t, dir, "snapshot.400000000", []byte{1})
	got, err := Newest(dir, "log.")
	if err != nil || got != "log.20000000a" {
		t.Fatalf("Newest = %q, %v; want log.20000000a", got, err)
	}
	if _, err := Newest(dir, "none."); !errors.Is(err, ErrNothingToCorrupt) {
		t.Fatalf("Newest of no file = %v, want ErrNothingToCorrupt", err)
	}
}

func TestCorruptFlipChangesOneBitInsideTheData(t *testing.T) {
	dir := t.TempDir()
	orig := append(bytes.Repeat([]byte{0xab}, 100), make([]byte, 900)...) // preallocated: data then zeros
	write(t, dir, "log.1", orig)
	for seed := range uint64(50) {
		write(t, dir, "log.1", orig)
		c, err := Corrupt(dir, "log.", CorruptFlip, rand.New(rand.NewPCG(seed, 0)))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(filepath.Join(dir, "log.1"))
		if len(got) != len(orig) || c.Offset >= 100 || c.Data != 100 {
			t.Fatalf("seed %d: %+v, len %d", seed, c, len(got))
		}
		diff := 0
		for i := range got {
			if x := got[i] ^ orig[i]; x != 0 {
				diff++
				if i != int(c.Offset) || x&(x-1) != 0 {
					t.Fatalf("seed %d: byte %d changed by %#x; reported offset %d", seed, i, x, c.Offset)
				}
			}
		}
		if diff != 1 {
			t.Fatalf("seed %d: %d bytes changed, want 1", seed, diff)
		}
	}
}

func TestCorruptTruncateCutsTheDataTail(t *testing.T) {
	dir := t.TempDir()
	orig := append(bytes.Repeat([]byte{7}, 64), make([]byte, 64)...)
	write(t, dir, "snapshot.5", orig)
	c, err := Corrupt(dir, "snapshot.", CorruptTruncate, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(filepath.Join(dir, "snapshot.5"))
	if c.Offset < 32 || c.Offset >= 64 || fi.Size() != c.Offset {
		t.Fatalf("cut to %d (file %d bytes), want within [32, 64)", c.Offset, fi.Size())
	}
}

func TestCorruptRefusesEmptyFilesAndUnknownModes(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "log.1", make([]byte, 4096))
	if _, err := Corrupt(dir, "log.", CorruptFlip, rand.New(rand.NewPCG(1, 1))); !errors.Is(err, ErrNothingToCorrupt) {
		t.Fatalf("corrupting zeros: %v, want ErrNothingToCorrupt", err)
	}
	write(t, dir, "log.2", []byte("data"))
	if _, err := Corrupt(dir, "log.", "melt", rand.New(rand.NewPCG(1, 1))); err == nil {
		t.Fatal("unknown mode accepted")
	}
}

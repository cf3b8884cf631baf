package rootfs

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadyOnlyWithDebianVersion(t *testing.T) {
	dir := t.TempDir()
	if Ready(filepath.Join(dir, "missing")) {
		t.Fatal("a missing cache is ready")
	}
	cache := filepath.Join(dir, "rootfs")
	writeFile(t, filepath.Join(cache, "usr", "bin", "x"), "")
	if Ready(cache) {
		t.Fatal("a cache without etc/debian_version is ready")
	}
	writeFile(t, filepath.Join(cache, "etc", "debian_version"), "12.8\n")
	if !Ready(cache) {
		t.Fatal("a complete cache is not ready")
	}
}

// A ready cache is kept as it is: Prepare must not run debootstrap (which
// this test's host may lack) nor touch the files.
func TestPrepareKeepsAReadyCache(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "rootfs")
	writeFile(t, filepath.Join(cache, "etc", "debian_version"), "12.8\n")
	if err := Prepare(context.Background(), cache, "http://mirror.invalid/debian", slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("Prepare on a ready cache: %v", err)
	}
	if !Ready(cache) {
		t.Fatal("Prepare broke a ready cache")
	}
}

func TestMirrorGivenWins(t *testing.T) {
	got, err := Mirror("http://m.example/debian")
	if err != nil || got != "http://m.example/debian" {
		t.Fatalf("Mirror = %q, %v", got, err)
	}
}

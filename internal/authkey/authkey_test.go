package authkey

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGenerateLoad(t *testing.T) {
	p := filepath.Join(t.TempDir(), "authkey")
	if err := Generate(p); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	k, err := Load(p)
	if err != nil || len(k) != 32 {
		t.Fatalf("load: %v (%d bytes)", err, len(k))
	}
	if err := Generate(p); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("overwrote an existing key: %v", err)
	}
}

func TestLoadRefuses(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "authkey")
	if err := Generate(p); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		os.Chmod(p, mode)
		_, err := Load(p)
		if err == nil || !strings.Contains(err.Error(), "group or others") || !strings.Contains(err.Error(), "chmod 600 "+p) {
			t.Fatalf("mode %o: %v", mode, err)
		}
	}
	bad := filepath.Join(dir, "short")
	os.WriteFile(bad, []byte("abcd\n"), 0o600)
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), "64 hex digits") {
		t.Fatalf("short key: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "tandem keygen") {
		t.Fatalf("missing key: %v", err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "regular file") {
		t.Fatalf("directory as key: %v", err)
	}
}

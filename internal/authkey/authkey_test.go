package authkey

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func generate(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "authkey")
	if err := Generate(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGenerateLoad(t *testing.T) {
	p := generate(t)
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	text, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(text) != 65 || text[64] != '\n' {
		t.Fatalf("file is %q, want 64 hex digits and a newline", text)
	}
	k, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(k) != 32 || hex.EncodeToString(k)+"\n" != string(text) {
		t.Fatalf("loaded %x from %q", k, text)
	}
	// Two keys differ (they are random).
	k2, err := Load(generate(t))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(k, k2) {
		t.Fatal("two generated keys are equal")
	}
}

func TestGenerateNeverOverwrites(t *testing.T) {
	p := generate(t)
	before, _ := os.ReadFile(p)
	err := Generate(p)
	if err == nil || !strings.Contains(err.Error(), p+" exists") {
		t.Fatalf("overwrote an existing key: %v", err)
	}
	after, _ := os.ReadFile(p)
	if !bytes.Equal(before, after) {
		t.Fatal("existing key changed")
	}
	// Not through a symlink either: O_EXCL refuses a dangling one.
	dir := t.TempDir()
	link := filepath.Join(dir, "link")
	if err := os.Symlink(filepath.Join(dir, "target"), link); err != nil {
		t.Fatal(err)
	}
	if err := Generate(link); err == nil {
		t.Fatal("wrote through a symlink")
	}
	if _, err := os.Stat(filepath.Join(dir, "target")); err == nil {
		t.Fatal("symlink target created")
	}
	if err := Generate(filepath.Join(dir, "no", "such", "dir", "authkey")); err == nil {
		t.Fatal("generated into a missing directory")
	}
}

func TestLoadRefusesLooseModes(t *testing.T) {
	p := generate(t)
	for _, c := range []struct {
		mode   os.FileMode
		access string
	}{
		{0o644, "readable"}, {0o640, "readable"}, {0o604, "readable"},
		{0o620, "writable"}, {0o602, "writable"}, {0o660, "readable and writable"}, {0o666, "readable and writable"},
	} {
		if err := os.Chmod(p, c.mode); err != nil {
			t.Fatal(err)
		}
		_, err := Load(p)
		want := "key file " + p + " is " + c.access + " by group or others (mode " + octal(c.mode) + ")"
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasSuffix(err.Error(), "; run: chmod 600 "+p) {
			t.Fatalf("mode %o: %v (want %q ... run: chmod 600 %s)", c.mode, err, want, p)
		}
	}
	// The owner's own bits, and execute bits, are no leak.
	for _, mode := range []os.FileMode{0o400, 0o600, 0o700, 0o611} {
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(p); err != nil {
			t.Fatalf("mode %o: %v", mode, err)
		}
	}
}

func octal(m os.FileMode) string {
	const digits = "01234567"
	p := uint32(m.Perm())
	return string([]byte{'0', digits[p>>6&7], digits[p>>3&7], digits[p&7]})
}

func TestLoadRefusesBadContent(t *testing.T) {
	dir := t.TempDir()
	good := strings.Repeat("ab", 32)
	cases := []struct {
		name, text, want string
	}{
		{"empty", "", "found 0 characters"},
		{"short", "abcd\n", "found 4 characters"},
		{"long", good + "00\n", "found 66 characters"},
		{"not hex", "zz" + good[2:] + "\n", "character 1 is not a hex digit"},
		{"huge", strings.Repeat("a", 1<<20), "more than 4096 bytes"},
	}
	for _, c := range cases {
		p := filepath.Join(dir, c.name)
		if err := os.WriteFile(p, []byte(c.text), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(p)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "64 hex digits") || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v", c.name, err)
		}
		if err != nil && len(c.text) > 10 && strings.Contains(err.Error(), c.text[2:20]) {
			t.Errorf("%s: the error quotes the key: %v", c.name, err)
		}
	}
	// Tolerated: no newline, surrounding blanks, upper case.
	for name, text := range map[string]string{"bare": good, "blanks": "  " + good + "\r\n\n", "upper": strings.ToUpper(good) + "\n"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		k, err := Load(p)
		if err != nil || hex.EncodeToString(k) != good {
			t.Errorf("%s: %x, %v", name, k, err)
		}
	}
}

func TestLoadRefusesOtherFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "tandem keygen") {
		t.Fatalf("missing key: %v", err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("directory as key: %v", err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// Refused without opening: opening a FIFO would block.
	if _, err := Load(fifo); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("fifo as key: %v", err)
	}
	// A symlink to a good key is fine (the target's mode is what counts).
	p := generate(t)
	link := filepath.Join(dir, "link")
	if err := os.Symlink(p, link); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(link); err != nil {
		t.Fatalf("symlink to a key: %v", err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(link); err == nil {
		t.Fatal("symlink to a world-readable key accepted")
	}
}

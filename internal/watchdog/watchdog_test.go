package watchdog

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// This machine has no /dev/watchdog (and softdog would reset the test
// host): a regular file stands in for the device. It takes no timeout
// ioctl, as some drivers do not, and records the pets and the magic close.
// Untested against real watchdog hardware.
func TestPetAndMagicClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "watchdog")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := Open(path, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if d.Timeout() != 0 {
		t.Fatalf("a device without the timeout ioctl reports %v, want 0 (its own)", d.Timeout())
	}
	for range 3 {
		if err := d.Pet(); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "\x00\x00\x00V" {
		t.Fatalf("the device saw %q, want three pets and the magic close", b)
	}
}

func TestOpenMissingDevice(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "nope"), time.Second); err == nil {
		t.Fatal("opened a device that does not exist")
	}
}

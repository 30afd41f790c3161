// Package authkey reads and writes the cluster key file: 32 random bytes,
// hex-encoded, readable by root alone (like Heartbeat's authkeys and
// corosync's authkey). The agent refuses a key others could read.
package authkey

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"tandem/internal/wire"
)

// Generate writes a new key to path with mode 0600; it never overwrites.
func Generate(path string) error {
	key := make([]byte, wire.KeySize)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("keygen: %s exists: the nodes would no longer share a key; remove it first if you mean to replace it", path)
	}
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	if _, err := f.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("keygen: %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("keygen: %s: %w", path, err)
	}
	return f.Close()
}

// Load reads the key at path, refusing a file that group or others can access.
func Load(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("key file: %w (create one with: tandem keygen %s)", err, path)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("key file %s is accessible by group or others (mode %04o): anyone who can read it can join or impersonate a node; run: chmod 600 %s", path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != wire.KeySize {
		return nil, fmt.Errorf("key file %s: want %d hex digits (as written by tandem keygen), found %d characters", path, 2*wire.KeySize, len(strings.TrimSpace(string(b))))
	}
	return key, nil
}

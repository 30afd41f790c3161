// Package authkey reads and writes the cluster key file: 32 random bytes,
// hex-encoded with a trailing newline (so operators can copy and inspect it),
// readable by its owner alone (like Heartbeat's authkeys and corosync's
// authkey). The agent refuses a key that group or others could read or write.
package authkey

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"tandem/internal/wire"
)

// maxFile bounds how much of a key file Load reads: a key is 65 bytes.
const maxFile = 4 << 10

// Generate writes a new key to path with mode 0600. It never overwrites: a
// node with a new key could no longer talk to its peers.
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
	// A umask cannot widen 0600, but a narrow one (0277) would leave the
	// owner unable to read it back.
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.WriteString(hex.EncodeToString(key) + "\n")
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path) // a half-written key would only be refused later
		return fmt.Errorf("keygen: %s: %w", path, err)
	}
	// Make the new name durable too, so a crash cannot lose a key already copied to the peer.
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Load reads the key at path. It refuses anything but a regular file that
// only its owner can read and write, holding 64 hex digits.
func Load(path string) ([]byte, error) {
	// Stat before opening, so a FIFO or device is refused without blocking on it.
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("key file: %w (create one with: tandem keygen %s)", err, path)
	}
	if err := checkMode(path, fi); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	defer f.Close()
	// Check again what was opened: the name may have changed in between.
	if fi, err = f.Stat(); err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	if err := checkMode(path, fi); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	return parse(path, b)
}

func checkMode(path string, fi os.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("key file %s is not a regular file (%s)", path, fi.Mode().Type())
	}
	if perm := fi.Mode().Perm(); perm&0o066 != 0 {
		access := "readable"
		switch {
		case perm&0o044 == 0:
			access = "writable"
		case perm&0o022 != 0:
			access = "readable and writable"
		}
		return fmt.Errorf("key file %s is %s by group or others (mode %04o): whoever can read it can impersonate a node; run: chmod 600 %s", path, access, perm, path)
	}
	return nil
}

// parse checks the file's text without ever quoting it: it is a secret.
func parse(path string, b []byte) ([]byte, error) {
	want := fmt.Sprintf("want %d hex digits and a newline, as written by tandem keygen", 2*wire.KeySize)
	if len(b) > maxFile {
		return nil, fmt.Errorf("key file %s: more than %d bytes; %s", path, maxFile, want)
	}
	text := strings.TrimSpace(string(b))
	if len(text) != 2*wire.KeySize {
		return nil, fmt.Errorf("key file %s: found %d characters; %s", path, len(text), want)
	}
	key, err := hex.DecodeString(text)
	if err != nil {
		var bad hex.InvalidByteError
		if errors.As(err, &bad) {
			return nil, fmt.Errorf("key file %s: character %d is not a hex digit; %s", path, strings.IndexByte(text, byte(bad))+1, want)
		}
		return nil, fmt.Errorf("key file %s: %w; %s", path, err, want)
	}
	return key, nil
}

// Package watchdog drives a Linux watchdog device (/dev/watchdog, as SBD's
// diskless mode does): once it is open the hardware resets the machine
// unless the device is petted within its timeout. The agent pets it only
// while the core says it may (majority mode: while its lease holds or
// nothing runs here), so a node that keeps resources without a lease, or
// whose agent freezes, is reset by the hardware.
//
// The kernel's interface is small: any write pets, WDIOC_SETTIMEOUT sets the
// timeout, and writing 'V' before close disarms it (the "magic close"; a
// driver built with nowayout ignores it). Hand-written on x/sys/unix rather
// than mdlayher/watchdog, which opens only /dev/watchdog and cannot set
// the timeout.
package watchdog

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Device is an open watchdog device.
type Device struct {
	f       *os.File
	timeout time.Duration
}

// Open opens path and sets its timeout (rounded up to whole seconds). A
// device that takes no timeout (ENOTTY: a driver without the ioctl, or the
// tests' stand-in file) keeps its own: Timeout reports 0 then.
func Open(path string, timeout time.Duration) (*Device, error) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("watchdog %s: %w", path, err)
	}
	d := &Device{f: f}
	secs := int((timeout + time.Second - 1) / time.Second)
	switch err := unix.IoctlSetPointerInt(int(f.Fd()), unix.WDIOC_SETTIMEOUT, secs); {
	case err == nil:
		d.timeout = time.Duration(secs) * time.Second
	case errors.Is(err, unix.ENOTTY):
	default:
		_ = d.Close()
		return nil, fmt.Errorf("watchdog %s: set timeout %ds: %w", path, secs, err)
	}
	return d, nil
}

// Timeout is the timeout set at Open (0: the device's own).
func (d *Device) Timeout() time.Duration { return d.timeout }

// Pet keeps the machine up for another timeout.
func (d *Device) Pet() error {
	if _, err := d.f.Write([]byte{0}); err != nil {
		return fmt.Errorf("watchdog %s: pet: %w", d.f.Name(), err)
	}
	return nil
}

// Close disarms the watchdog (magic close) and closes it: for a graceful
// stop only. An agent that dies leaves it armed, and the machine resets.
func (d *Device) Close() error {
	_, werr := d.f.Write([]byte("V"))
	return errors.Join(werr, d.f.Close())
}

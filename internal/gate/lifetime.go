package gate

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ErrAddressGone is returned by RenewLifetime when the address is no longer
// on the interface (or is at the end of its lifetime): it is never re-created
// by a renewal, only by a start after a fresh grant.
var ErrAddressGone = errors.New("address gone or expiring: not renewed")

// Lifetime is the valid_lft / preferred_lft a floating address carries under
// a lease of length L: ⌈L⌉+1 s. The kernel keeps address lifetimes in whole
// seconds, reports the remaining time rounded down and reaps expired
// addresses with ~1 s granularity, so ⌈L⌉ alone could let the address lapse
// before a renewal that is on time (renewals come less than L apart); the
// extra second absorbs that. It is the backstop, not the lease: the address
// outlives the gate element by at most ⌈L⌉+1 s (plus reaping) when the gate
// itself is gone (a flushed ruleset, a crashed kernel module, a bug).
func Lifetime(L time.Duration) time.Duration {
	secs := (L + time.Second - 1) / time.Second
	if secs < 0 {
		secs = 0
	}
	return (secs + 1) * time.Second
}

// RenewLifetime sets the valid and preferred lifetime of prefix on link to
// lft (rounded up to whole seconds; use Lifetime(L)), only if the address is
// still there with at least a second left: it lists the addresses first and
// returns ErrAddressGone otherwise, because a plain AddrReplace re-creates an
// address that has expired. Call it only after a successful Grant or Renew of
// the address's gate. h nil means the calling thread's namespace.
//
// The check and the replace are two netlink calls; if this process is paused
// between them for longer than the lifetime the check saw, the replace may
// have re-created a lapsed address, so RenewLifetime then deletes it again and
// returns ErrAddressGone (elapsed time is measured on CLOCK_BOOTTIME).
func RenewLifetime(h *netlink.Handle, link netlink.Link, prefix netip.Prefix, lft time.Duration) error {
	secs := (lft + time.Second - 1) / time.Second
	if secs < 1 || secs >= math.MaxUint32 {
		return fmt.Errorf("gate: lifetime %v: must be 1s..%ds", lft, uint32(math.MaxUint32-1))
	}
	return setLifetime(h, link, prefix, uint32(secs))
}

// KeepLifetime makes prefix on link live forever (valid_lft and
// preferred_lft forever), only if it is still there, as RenewLifetime does:
// the address of a gate held open for maintenance must outlive the agent.
func KeepLifetime(h *netlink.Handle, link netlink.Link, prefix netip.Prefix) error {
	return setLifetime(h, link, prefix, math.MaxUint32)
}

// setLifetime is RenewLifetime with the lifetime in seconds; MaxUint32 is
// the kernel's forever.
func setLifetime(h *netlink.Handle, link netlink.Link, prefix netip.Prefix, secs uint32) error {
	if h == nil {
		h = &netlink.Handle{}
	}
	prefix = netip.PrefixFrom(prefix.Addr().Unmap(), prefix.Bits())
	family := netlink.FAMILY_V4
	if prefix.Addr().Is6() {
		family = netlink.FAMILY_V6
	}
	name := link.Attrs().Name
	t0 := boottime()
	addrs, err := h.AddrList(link, family)
	if err != nil {
		return fmt.Errorf("gate: list addresses on %s: %w", name, err)
	}
	var have *netlink.Addr
	for i := range addrs {
		if ip, ok := netip.AddrFromSlice(addrs[i].IP); ok && ip.Unmap() == prefix.Addr() {
			have = &addrs[i]
			break
		}
	}
	if have == nil {
		return fmt.Errorf("gate: renew lifetime of %s on %s: %w", prefix, name, ErrAddressGone)
	}
	if ones, _ := have.Mask.Size(); ones != prefix.Bits() {
		return fmt.Errorf("gate: renew lifetime of %s on %s: the address is there as /%d", prefix, name, ones)
	}
	permanent := have.Flags&unix.IFA_F_PERMANENT != 0 || uint32(have.ValidLft) == math.MaxUint32
	if !permanent && have.ValidLft < 1 {
		return fmt.Errorf("gate: renew lifetime of %s on %s: %w", prefix, name, ErrAddressGone)
	}
	a := &netlink.Addr{
		IPNet: &net.IPNet{IP: prefix.Addr().AsSlice(), Mask: net.CIDRMask(prefix.Bits(), prefix.Addr().BitLen())},
		Label: have.Label,
		// Only the flags a new address may be given; the kernel derives the rest.
		Flags:       have.Flags & (unix.IFA_F_NODAD | unix.IFA_F_NOPREFIXROUTE | unix.IFA_F_HOMEADDRESS | unix.IFA_F_MANAGETEMPADDR),
		ValidLft:    int(secs),
		PreferedLft: int(secs),
	}
	if err := h.AddrReplace(link, a); err != nil {
		return fmt.Errorf("gate: renew lifetime of %s on %s: %w", prefix, name, err)
	}
	if !permanent && boottime()-t0 >= time.Duration(have.ValidLft)*time.Second {
		// Paused between list and replace: the replace may have re-created it.
		if err := h.AddrDel(link, a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("gate: renew lifetime of %s on %s came too late, and removing it failed: %w", prefix, name, err)
		}
		return fmt.Errorf("gate: renew lifetime of %s on %s came too late: %w", prefix, name, ErrAddressGone)
	}
	return nil
}

// boottime reads CLOCK_BOOTTIME (the lease clock: it counts suspend).
func boottime() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		panic("gate: CLOCK_BOOTTIME: " + err.Error())
	}
	return time.Duration(ts.Nano())
}

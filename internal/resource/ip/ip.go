// Package ip manages a floating IP address: added and removed over netlink
// (never by running `ip`), announced with gratuitous ARP (IPv4, RFC 5227
// style requests) or unsolicited neighbour advertisements with the override
// flag (IPv6, RFC 4861 §7.2.6) so switches and peers learn the new MAC at once.
package ip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"tandem/internal/config"
	"tandem/internal/resource"
)

// Agent manages one floating address.
type Agent struct {
	name string
	p    config.IPParams
	log  *slog.Logger

	mu         sync.Mutex
	stopBurst  context.CancelFunc // ends the background announcements of the last start
	burstsDone sync.WaitGroup
}

// New returns the agent for resource name.
func New(name string, p config.IPParams, log *slog.Logger) (*Agent, error) {
	if !p.Address.IsValid() || p.Interface == "" {
		return nil, fmt.Errorf("ip %s: address and interface are required", name)
	}
	return &Agent{name: name, p: p, log: log.With("resource", name)}, nil
}

func (a *Agent) link() (netlink.Link, error) {
	l, err := netlink.LinkByName(a.p.Interface)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", a.p.Interface, err)
	}
	return l, nil
}

func (a *Agent) addr() *netlink.Addr {
	pf := a.p.Address
	ad := &netlink.Addr{IPNet: &net.IPNet{IP: pf.Addr().AsSlice(), Mask: net.CIDRMask(pf.Bits(), pf.Addr().BitLen())}}
	if pf.Addr().Is4() {
		ad.Label = a.p.Label
	} else {
		// Usable at once: duplicate address detection would hold it
		// "tentative" for a second or more after a takeover.
		ad.Flags = unix.IFA_F_NODAD
	}
	return ad
}

func (a *Agent) family() int {
	if a.p.Address.Addr().Is4() {
		return netlink.FAMILY_V4
	}
	return netlink.FAMILY_V6
}

// present reports whether the address is on the interface.
func (a *Agent) present(l netlink.Link) (bool, error) {
	addrs, err := netlink.AddrList(l, a.family())
	if err != nil {
		return false, fmt.Errorf("list addresses on %s: %w", a.p.Interface, err)
	}
	for _, ad := range addrs {
		if ip, ok := netip.AddrFromSlice(ad.IP); ok && ip.Unmap() == a.p.Address.Addr() {
			return true, nil
		}
	}
	return false, nil
}

// Start implements resource.Agent: add the address, then announce it.
func (a *Agent) Start(ctx context.Context) error {
	l, err := a.link()
	if err != nil {
		return fmt.Errorf("start %s: %w", a.name, err)
	}
	if l.Attrs().Flags&net.FlagUp == 0 {
		return fmt.Errorf("start %s: interface %s is down", a.name, a.p.Interface)
	}
	has, err := a.present(l)
	if err != nil {
		return fmt.Errorf("start %s: %w", a.name, err)
	}
	if !has {
		if err := netlink.AddrAdd(l, a.addr()); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("start %s: add %s to %s: %w", a.name, a.p.Address, a.p.Interface, err)
		}
	}
	a.log.Info("address added", "address", a.p.Address, "interface", a.p.Interface, "label", a.p.Label)
	if a.p.ARPCount == 0 {
		return nil
	}
	// The first announcement goes out before Start returns; the rest follow
	// in the background (IPaddr2's arp_bg), so the group's next member need
	// not wait arp_count × arp_interval.
	send, closeFn, err := a.openSender()
	if err != nil {
		return fmt.Errorf("start %s: %w", a.name, err)
	}
	if err := send(); err != nil {
		closeFn()
		return fmt.Errorf("start %s: announce: %w", a.name, err)
	}
	bctx, cancel := context.WithCancel(context.Background())
	a.mu.Lock()
	if a.stopBurst != nil {
		a.stopBurst()
	}
	a.stopBurst = cancel
	a.mu.Unlock()
	a.burstsDone.Add(1)
	go func() {
		defer a.burstsDone.Done()
		defer closeFn()
		if err := a.repeat(bctx, send, a.p.ARPCount-1); err != nil && bctx.Err() == nil {
			a.log.Warn("announce", "err", err)
		}
	}()
	return nil
}

// repeat sends n more announcements, arp_interval apart.
func (a *Agent) repeat(ctx context.Context, send func() error, n int) error {
	for range n {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(a.p.ARPInterval):
		}
		if err := send(); err != nil {
			return err
		}
	}
	return nil
}

// Stop implements resource.Agent.
func (a *Agent) Stop(ctx context.Context) error {
	a.mu.Lock()
	if a.stopBurst != nil {
		a.stopBurst() // never announce an address we no longer hold
		a.stopBurst = nil
	}
	a.mu.Unlock()
	a.burstsDone.Wait()
	l, err := a.link()
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil // no interface, no address
		}
		return fmt.Errorf("stop %s: %w", a.name, err)
	}
	err = netlink.AddrDel(l, a.addr())
	if err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("stop %s: remove %s from %s: %w", a.name, a.p.Address, a.p.Interface, err)
	}
	return nil
}

// Monitor implements resource.Agent.
func (a *Agent) Monitor(ctx context.Context) (resource.State, error) {
	l, err := a.link()
	if err != nil {
		return resource.Failed, fmt.Errorf("monitor %s: %w", a.name, err)
	}
	has, err := a.present(l)
	if err != nil {
		return resource.Failed, fmt.Errorf("monitor %s: %w", a.name, err)
	}
	if has {
		return resource.Running, nil
	}
	return resource.Stopped, nil
}

// Announce implements resource.Announcer: arp_count announcements,
// arp_interval apart, the first at once.
func (a *Agent) Announce(ctx context.Context) error {
	if a.p.ARPCount == 0 {
		return nil
	}
	send, closeFn, err := a.openSender()
	if err != nil {
		return fmt.Errorf("announce %s: %w", a.name, err)
	}
	defer closeFn()
	if err := send(); err != nil {
		return fmt.Errorf("announce %s: %w", a.name, err)
	}
	if err := a.repeat(ctx, send, a.p.ARPCount-1); err != nil {
		return fmt.Errorf("announce %s: %w", a.name, err)
	}
	return nil
}

func (a *Agent) openSender() (func() error, func(), error) {
	ifi, err := net.InterfaceByName(a.p.Interface)
	if err != nil {
		return nil, nil, err
	}
	return a.sender(ifi)
}

// sender opens the socket once per burst and returns a function sending one announcement.
func (a *Agent) sender(ifi *net.Interface) (func() error, func(), error) {
	vip := a.p.Address.Addr()
	if vip.Is4() {
		c, err := arp.Dial(ifi)
		if err != nil {
			return nil, nil, fmt.Errorf("arp socket on %s: %w", ifi.Name, err)
		}
		// A gratuitous ARP request: sender and target are both the VIP.
		pkt, err := arp.NewPacket(arp.OperationRequest, ifi.HardwareAddr, vip, ethernet.Broadcast, vip)
		if err != nil {
			c.Close()
			return nil, nil, err
		}
		return func() error { return c.WriteTo(pkt, ethernet.Broadcast) }, func() { c.Close() }, nil
	}
	c, _, err := ndp.Listen(ifi, ndp.LinkLocal)
	if err != nil {
		// No usable link-local address yet (DAD still running): send from ::.
		if c, _, err = ndp.Listen(ifi, ndp.Unspecified); err != nil {
			return nil, nil, fmt.Errorf("ndp socket on %s: %w", ifi.Name, err)
		}
	}
	na := &ndp.NeighborAdvertisement{
		Override:      true,
		TargetAddress: vip,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: ifi.HardwareAddr}},
	}
	return func() error { return c.WriteTo(na, nil, netip.IPv6LinkLocalAllNodes()) }, func() { c.Close() }, nil
}

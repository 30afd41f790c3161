package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/vishvananda/netlink"

	"tandem/internal/config"
	"tandem/internal/gate"
	"tandem/internal/node"
)

// gates drives the floating IPs' nftables gates in majority mode (package
// gate). One worker per address applies the core's latest wish, so a
// netlink transaction (~14 ms) never holds up the loop; a renewal the kernel
// refuses (the element had lapsed) comes back on refused.
type gates struct {
	log     *slog.Logger
	now     func() time.Duration // the core's clock
	workers map[string]*gateWorker
	refused chan string
	wg      sync.WaitGroup
	stop    context.CancelFunc
}

type gateWorker struct {
	g       *gate.Gate
	prefix  netip.Prefix  // the address, for its lifetime backstop
	lft     time.Duration // ⌈L⌉+1 s
	mu      sync.Mutex
	want    *node.Gate      // latest wish not yet applied
	waiters []chan struct{} // closed once the wish they wait for is applied
	open    bool            // the last wish applied opened the gate (lease or hold)
	kick    chan struct{}
}

// holdRenew is how often a gate held open for maintenance is granted
// gate.HoldTimeout again while the agent runs.
const holdRenew = 24 * time.Hour

// newGates installs a gate for every floating IP, closed: an address is cut
// off from its first packet until the core grants a lease.
func newGates(m *config.Model, now func() time.Duration, log *slog.Logger) (*gates, error) {
	ctx, cancel := context.WithCancel(context.Background())
	gs := &gates{log: log, now: now, workers: map[string]*gateWorker{}, refused: make(chan string, 16), stop: cancel}
	for _, r := range m.Resources {
		if r.IP == nil {
			continue
		}
		g, err := gate.New(r.IP.Interface, r.IP.Address.Addr())
		if err == nil {
			err = g.Install(ctx)
		}
		if err != nil {
			gs.close()
			return nil, fmt.Errorf("resource %s: the floating IP's lease gate: %w", r.Name, err)
		}
		w := &gateWorker{g: g, prefix: r.IP.Address, lft: gate.Lifetime(m.Timing.Lease), kick: make(chan struct{}, 1)}
		gs.workers[r.Name] = w
		gs.wg.Add(1)
		go gs.run(ctx, r.Name, w)
	}
	return gs, nil
}

// set records the core's wish for one gate; the worker applies the latest.
// A grant is waited for (up to a second): the address's start, dispatched
// in the same Ready, sends its gratuitous ARP, which a closed gate drops.
func (gs *gates) set(g node.Gate) {
	w := gs.workers[g.Resource]
	if w == nil {
		return
	}
	var done chan struct{}
	w.mu.Lock()
	if w.want != nil && w.want.Fresh {
		g.Fresh = true // a grant not yet applied stays a grant
	}
	w.want = &g
	if g.Fresh || g.Release {
		done = make(chan struct{})
		w.waiters = append(w.waiters, done)
	}
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
	if done != nil {
		t := time.NewTimer(time.Second)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			gs.log.Warn("lease gate grant still pending after 1s", "resource", g.Resource)
		}
	}
}

func (gs *gates) run(ctx context.Context, name string, w *gateWorker) {
	defer gs.wg.Done()
	var held *node.Gate
	var rehold <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.kick:
		case <-rehold:
			w.mu.Lock()
			if w.want == nil {
				w.want = held
			}
			w.mu.Unlock()
		}
		w.mu.Lock()
		g, waiters := w.want, w.waiters
		w.want, w.waiters = nil, nil
		w.mu.Unlock()
		if g == nil {
			continue
		}
		// The timeout is what is left of the lease now, never what it was
		// when the core decided: a late renewal cannot outlive the lease.
		d := g.Until - gs.now()
		var err error
		switch {
		case g.Hold:
			err = w.g.Grant(ctx, gate.HoldTimeout)
		case d < time.Millisecond:
			err = w.g.Revoke(ctx)
		case g.Fresh:
			err = w.g.Grant(ctx, d)
		default:
			err = w.g.Renew(ctx, d)
		}
		if err == nil {
			w.mu.Lock()
			w.open = g.Hold || d >= time.Millisecond
			w.mu.Unlock()
		}
		held, rehold = nil, nil
		if g.Hold {
			held, rehold = g, time.After(holdRenew)
		}
		if err == nil && (g.Hold || d >= time.Millisecond) {
			// The backstop follows the gate, never the other way round: a
			// lapsed address is not re-created, only re-added by a start.
			// A held gate's address lives as long as the hold.
			if l, lerr := netlink.LinkByName(w.g.Interface()); lerr == nil {
				if g.Hold {
					lerr = gate.KeepLifetime(nil, l, w.prefix)
				} else {
					lerr = gate.RenewLifetime(nil, l, w.prefix, w.lft)
				}
				if lerr != nil && !errors.Is(lerr, gate.ErrAddressGone) {
					gs.log.Warn("address lifetime", "resource", name, "err", lerr)
				}
			}
		}
		for _, c := range waiters {
			close(c)
		}
		switch {
		case errors.Is(err, gate.ErrExpired):
			gs.log.Warn("lease gate had lapsed before its renewal: the address stays cut off until a fresh grant", "resource", name)
			select {
			case gs.refused <- name:
			default:
			}
		case err != nil && ctx.Err() == nil:
			gs.log.Error("lease gate", "resource", name, "err", err)
		}
	}
}

// close stops the workers and removes every closed gate, and the table
// if none is left. An open gate stays: its address is still up (the node
// is in maintenance, or the agent gives up on a stop), and its element
// lapses with the lease — or, held for maintenance, lasts until the next
// agent takes it over.
func (gs *gates) close() {
	gs.stop()
	gs.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for name, w := range gs.workers {
		if w.open && addressUp(w.g.Interface(), w.prefix) {
			gs.log.Info("lease gate left in place: its address is still up", "resource", name)
			continue
		}
		if err := w.g.Remove(ctx); err != nil {
			gs.log.Warn("remove lease gate", "resource", name, "err", err)
		}
	}
	if err := gate.RemoveTable(ctx); err != nil {
		gs.log.Warn("remove lease gate table", "err", err)
	}
}

// addressUp reports whether prefix's address is on iface; when that cannot
// be read, it says yes: a gate left behind is safe, a removed one is not.
func addressUp(iface string, prefix netip.Prefix) bool {
	l, err := netlink.LinkByName(iface)
	if err != nil {
		return false // no interface, no address
	}
	addrs, err := netlink.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return true
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == prefix.Addr().Unmap() {
			return true
		}
	}
	return false
}

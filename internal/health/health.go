// Package health turns what a node sees around it into node attributes, the
// way Pacemaker's ethmonitor and ping agents do: the carrier of named
// interfaces (link.IFACE.up), whether ping targets answer (ping.NAME.ok),
// and how many quorum.ping targets answer (ping.quorum.ok). The agent feeds
// every change to the core, which spreads it in the state log.
//
// Ping is one ICMP echo per target per interval over a raw socket (the
// agent runs as root); a target is up after one answer and down after
// `attempts` unanswered requests in a row, so one lost packet moves nothing.
package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"tandem/internal/config"
)

// Attr is one attribute's new value.
type Attr struct{ Name, Value string }

// Prober watches links and ping targets. Open it in the network namespace
// it must watch; Run reports changes until its context ends.
type Prober struct {
	h       config.Health
	log     *slog.Logger
	links   chan netlink.LinkUpdate
	done    chan struct{}
	subErr  chan error
	initial map[string]string // link → carrier at Open
	pings   []*pinger
	quorum  []*pinger
}

type pinger struct {
	name string // attribute name ("" for quorum targets)
	addr netip.Addr
	conn *icmp.PacketConn
	id   int
	seq  int
	r    reach
}

// Open subscribes to link changes and opens one ICMP socket per target in
// the calling thread's network namespace. Nothing is sent before Run.
func Open(m *config.Model, log *slog.Logger) (*Prober, error) {
	p := &Prober{h: m.Health, log: log, done: make(chan struct{}), subErr: make(chan error, 1)}
	if len(m.Health.Links) > 0 {
		p.links = make(chan netlink.LinkUpdate, 64)
		err := netlink.LinkSubscribeWithOptions(p.links, p.done, netlink.LinkSubscribeOptions{
			ErrorCallback: func(err error) {
				select {
				case p.subErr <- err:
				default:
				}
			},
		})
		if err != nil {
			return nil, fmt.Errorf("health: subscribe to link changes: %w", err)
		}
	}
	// Read after subscribing, so no change falls between the two.
	p.initial = map[string]string{}
	for _, l := range m.Health.Links {
		link, err := netlink.LinkByName(l)
		var nf netlink.LinkNotFoundError
		switch {
		case errors.As(err, &nf):
			log.Warn("health: interface not found: counted as down until it appears", "interface", l)
			p.initial[l] = "0"
		case err != nil:
			p.Close()
			return nil, fmt.Errorf("health: read interface %s: %w", l, err)
		default:
			p.initial[l] = boolValue(carrier(link.Attrs().Flags, link.Attrs().RawFlags))
		}
	}
	add := func(name string, a netip.Addr) (*pinger, error) {
		network, laddr := "ip4:icmp", "0.0.0.0"
		if a.Is6() {
			network, laddr = "ip6:ipv6-icmp", "::"
		}
		c, err := icmp.ListenPacket(network, laddr)
		if err != nil {
			return nil, fmt.Errorf("health: ping %s: %w (needs root)", a, err)
		}
		// Raw sockets see every echo reply on the host: a random ID tells ours apart.
		return &pinger{name: name, addr: a, conn: c, id: rand.IntN(0xffff) + 1, r: reach{attempts: m.Health.Attempts}}, nil
	}
	for _, t := range m.Health.Ping {
		pg, err := add(config.PingAttr(t.Name), t.Address)
		if err != nil {
			p.Close()
			return nil, err
		}
		p.pings = append(p.pings, pg)
	}
	for _, a := range m.Quorum.Ping {
		pg, err := add("", a)
		if err != nil {
			p.Close()
			return nil, err
		}
		p.quorum = append(p.quorum, pg)
	}
	return p, nil
}

// Close releases the sockets and the subscription. Call it after Run returned.
func (p *Prober) Close() {
	select {
	case <-p.done:
	default:
		close(p.done)
	}
	for _, pg := range append(p.pings, p.quorum...) {
		pg.conn.Close()
	}
}

// Run reports the initial value of every attribute and then each change,
// until ctx ends.
func (p *Prober) Run(ctx context.Context, out chan<- Attr) {
	var wg sync.WaitGroup
	defer wg.Wait()
	send := func(a Attr) {
		select {
		case out <- a:
		case <-ctx.Done():
		}
	}
	if p.links != nil {
		wg.Go(func() { p.watchLinks(ctx, send) })
	}
	var mu sync.Mutex
	quorumUp := make([]int, len(p.quorum)) // -1 down, 0 unknown, 1 up
	lastCount := ""
	for _, pg := range p.pings {
		wg.Go(func() {
			pg.run(ctx, p.h.Interval, p.log, func(up bool) { send(Attr{pg.name, boolValue(up)}) })
		})
	}
	for i, pg := range p.quorum {
		wg.Go(func() {
			pg.run(ctx, p.h.Interval, p.log, func(up bool) {
				mu.Lock()
				quorumUp[i] = -1
				if up {
					quorumUp[i] = 1
				}
				n, known := 0, true
				for _, u := range quorumUp {
					known = known && u != 0
					if u > 0 {
						n++
					}
				}
				v := strconv.Itoa(n)
				report := known && v != lastCount
				if report {
					lastCount = v
				}
				mu.Unlock()
				if report {
					send(Attr{config.QuorumPingAttr, v})
				}
			})
		})
	}
	<-ctx.Done()
}

func boolValue(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// watchLinks reports each named link's carrier: the state at start, then
// every change. A missing interface counts as down.
func (p *Prober) watchLinks(ctx context.Context, send func(Attr)) {
	last := map[string]string{}
	report := func(name, v string) {
		if last[name] != v {
			last[name] = v
			send(Attr{config.LinkAttr(name), v})
		}
	}
	want := map[string]bool{}
	for _, l := range p.h.Links {
		want[l] = true
		report(l, p.initial[l])
	}
	for {
		select {
		case <-ctx.Done():
			return
		case err := <-p.subErr:
			p.log.Error("health: link subscription failed: link attributes no longer change", "err", err)
		case u, ok := <-p.links:
			if !ok {
				p.log.Error("health: link subscription closed: link attributes no longer change")
				return
			}
			name := u.Attrs().Name
			if !want[name] {
				continue
			}
			if u.Header.Type == unix.RTM_DELLINK {
				report(name, "0")
				continue
			}
			report(name, boolValue(carrier(u.Attrs().Flags, u.IfInfomsg.Flags)))
		}
	}
}

// carrier is what ethmonitor calls link up: administratively up and the
// lower layer (cable, veth peer) present.
func carrier(flags net.Flags, raw uint32) bool {
	return flags&net.FlagUp != 0 && raw&unix.IFF_LOWER_UP != 0
}

// reach turns echo outcomes into up/down with hysteresis: up after one
// answer, down after attempts misses in a row; unknown until either.
type reach struct {
	attempts int
	misses   int
	state    int // -1 down, 0 unknown, 1 up
}

// observe records one echo's outcome and reports the state if it changed.
func (r *reach) observe(answered bool) (up, changed bool) {
	old := r.state
	if answered {
		r.misses, r.state = 0, 1
	} else if r.misses++; r.misses >= r.attempts {
		r.state = -1
	}
	return r.state == 1, r.state != old && r.state != 0
}

func (pg *pinger) run(ctx context.Context, interval time.Duration, log *slog.Logger, changed func(up bool)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		answered, err := pg.echo(ctx, interval)
		if err != nil && ctx.Err() == nil {
			log.Debug("health: ping", "target", pg.addr, "err", err)
		}
		if ctx.Err() != nil {
			return
		}
		if up, ch := pg.r.observe(answered); ch {
			log.Info("health: ping target "+map[bool]string{true: "answers", false: "does not answer"}[up], "target", pg.addr)
			changed(up)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// echo sends one request and waits up to timeout for its reply.
func (pg *pinger) echo(ctx context.Context, timeout time.Duration) (bool, error) {
	pg.seq = (pg.seq + 1) & 0xffff
	var typ, reply icmp.Type = ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	proto := 1
	if pg.addr.Is6() {
		typ, reply, proto = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply, 58
	}
	msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: pg.id, Seq: pg.seq, Data: []byte("tandem health")}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return false, err
	}
	if _, err := pg.conn.WriteTo(b, &net.IPAddr{IP: pg.addr.AsSlice()}); err != nil {
		return false, err
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := pg.conn.SetReadDeadline(deadline); err != nil {
		return false, err
	}
	buf := make([]byte, 1500)
	for range 1000 { // other replies to this host are seen too; bounded all the same
		n, from, err := pg.conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return false, nil
			}
			return false, err
		}
		m, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil || m.Type != reply {
			continue
		}
		e, ok := m.Body.(*icmp.Echo)
		ip, _ := from.(*net.IPAddr)
		if ok && e.ID == pg.id && e.Seq == pg.seq && ip != nil && ip.IP.Equal(pg.addr.AsSlice()) {
			return true, nil
		}
	}
	return false, nil
}

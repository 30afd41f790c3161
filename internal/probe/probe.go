// Package probe measures a floating IP from the outside, as a client sees
// it: a UDP echo service that names the node answering, a prober that hits
// it every few milliseconds and records every outage, and an ARP watcher
// that asks for the floating IP and records every MAC that answers — two
// MACs answering at once is the failure operators fear most.
package probe

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/mdlayher/arp"
)

// Echo serves UDP echo on addr until ctx ends: each reply is the request
// followed by "|" and name.
func Echo(ctx context.Context, addr netip.AddrPort, name string) error {
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return fmt.Errorf("echo: %w", err)
	}
	go func() {
		<-ctx.Done()
		c.Close()
	}()
	buf := make([]byte, 2048)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("echo: %w", err)
		}
		reply := append(append(buf[:n:n], '|'), name...)
		_, _ = c.WriteToUDPAddrPort(reply, from)
	}
}

// Reply is one answer the prober got.
type Reply struct {
	Seq  uint64
	Node string
	At   time.Time
}

// Outage is a stretch without answers.
type Outage struct {
	Start, End    time.Time // last answer before, first answer after
	Before, After string    // nodes that answered then
}

// Duration is how long no answer came.
func (o Outage) Duration() time.Duration { return o.End.Sub(o.Start) }

// Prober sends a numbered datagram to a target every interval.
type Prober struct {
	target   netip.AddrPort
	interval time.Duration
	conn     *net.UDPConn

	mu      sync.Mutex
	sent    uint64
	replies []Reply
}

// maxReplies bounds the record (10 minutes at 10 ms).
const maxReplies = 60000

// NewProber returns a prober for target; call Listen in the namespace it
// should probe from, then Run.
func NewProber(target netip.AddrPort, interval time.Duration) *Prober {
	return &Prober{target: target, interval: interval}
}

// Listen opens the socket (in the calling thread's network namespace). A
// connected socket: an answer from any address but the target's is ignored,
// as a SIP client or NAT would.
func (p *Prober) Listen() error {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(p.target))
	if err != nil {
		return fmt.Errorf("prober: %w", err)
	}
	p.conn = c
	return nil
}

// Run probes until ctx ends.
func (p *Prober) Run(ctx context.Context) error {
	if p.conn == nil {
		if err := p.Listen(); err != nil {
			return err
		}
	}
	defer p.conn.Close()
	go func() {
		<-ctx.Done()
		p.conn.SetReadDeadline(time.Now())
	}()
	go p.send(ctx)
	buf := make([]byte, 2048)
	for {
		n, err := p.conn.Read(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// ECONNREFUSED and friends come while nobody holds the address: keep going.
			continue
		}
		if n < 9 || buf[8] != '|' {
			continue
		}
		r := Reply{Seq: binary.BigEndian.Uint64(buf[:8]), Node: string(bytes.Clone(buf[9:n])), At: time.Now()}
		p.mu.Lock()
		if len(p.replies) < maxReplies {
			p.replies = append(p.replies, r)
		}
		p.mu.Unlock()
	}
}

func (p *Prober) send(ctx context.Context) {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	var seq uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		seq++
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], seq)
		_, _ = p.conn.Write(b[:])
		p.mu.Lock()
		p.sent = seq
		p.mu.Unlock()
	}
}

// Answering is the node that answered last ("" before any answer).
func (p *Prober) Answering() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.replies) == 0 {
		return ""
	}
	return p.replies[len(p.replies)-1].Node
}

// LastAnswer is when the last answer came (zero before any).
func (p *Prober) LastAnswer() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.replies) == 0 {
		return time.Time{}
	}
	return p.replies[len(p.replies)-1].At
}

// Stats returns probes sent and answers received.
func (p *Prober) Stats() (sent, received uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent, uint64(len(p.replies))
}

// Outages lists every gap between consecutive answers longer than minGap.
func (p *Prober) Outages(minGap time.Duration) []Outage {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Outage
	for i := 1; i < len(p.replies); i++ {
		a, b := p.replies[i-1], p.replies[i]
		if b.At.Sub(a.At) > minGap {
			out = append(out, Outage{Start: a.At, End: b.At, Before: a.Node, After: b.Node})
		}
	}
	return out
}

// ARPAnswer is one ARP reply for the watched address.
type ARPAnswer struct {
	At    time.Time
	MAC   string
	Round uint64 // the request it answers: replies come within a millisecond here
}

// Conflict is two MACs answering for the address within one window.
type Conflict struct {
	At   time.Time
	MACs [2]string
}

func (c Conflict) String() string {
	return fmt.Sprintf("%s and %s at %s", c.MACs[0], c.MACs[1], c.At.Format("15:04:05.000"))
}

// ARPWatch asks for an address every interval and records who answers.
type ARPWatch struct {
	target   netip.Addr
	interval time.Duration
	client   *arp.Client

	mu      sync.Mutex
	round   uint64
	answers []ARPAnswer
}

// NewARPWatch opens a raw ARP socket on iface; call it in the namespace to
// watch from.
func NewARPWatch(iface string, target netip.Addr, interval time.Duration) (*ARPWatch, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("arp watch: %w", err)
	}
	c, err := arp.Dial(ifi)
	if err != nil {
		return nil, fmt.Errorf("arp watch on %s: %w", iface, err)
	}
	return &ARPWatch{target: target, interval: interval, client: c}, nil
}

// Run watches until ctx ends.
func (w *ARPWatch) Run(ctx context.Context) error {
	defer w.client.Close()
	go func() {
		t := time.NewTicker(w.interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				w.client.SetReadDeadline(time.Now())
				return
			case <-t.C:
				w.mu.Lock()
				w.round++
				w.mu.Unlock()
				_ = w.client.Request(w.target)
			}
		}
	}()
	for {
		p, _, err := w.client.Read()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			continue // a malformed frame: ignore it
		}
		if p.Operation != arp.OperationReply || p.SenderIP != w.target {
			continue
		}
		w.mu.Lock()
		if len(w.answers) < maxReplies*4 {
			w.answers = append(w.answers, ARPAnswer{At: time.Now(), MAC: p.SenderHardwareAddr.String(), Round: w.round})
		}
		w.mu.Unlock()
	}
}

// MACs returns every MAC that answered, sorted.
func (w *ARPWatch) MACs() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, a := range w.answers {
		if !slices.Contains(out, a.MAC) {
			out = append(out, a.MAC)
		}
	}
	slices.Sort(out)
	return out
}

// DoubleAnswers returns every window (a multiple of the request interval)
// in which two different MACs answered: both held the address at once.
func (w *ARPWatch) DoubleAnswers(window time.Duration) []Conflict {
	w.mu.Lock()
	defer w.mu.Unlock()
	span := uint64(max(window/w.interval, 1))
	var out []Conflict
	for i := 1; i < len(w.answers); i++ {
		b := w.answers[i]
		for j := i - 1; j >= 0 && b.Round-w.answers[j].Round < span; j-- {
			if a := w.answers[j]; a.MAC != b.MAC {
				out = append(out, Conflict{At: b.At, MACs: [2]string{a.MAC, b.MAC}})
				break
			}
		}
	}
	return out
}

// LongestLoss returns the longest run of probes that went unanswered between
// two answered ones — at a 1 kHz stream, its length in milliseconds is the
// outage a client saw — and the nodes that answered around it.
func (p *Prober) LongestLoss() (lost uint64, before, after string) {
	p.mu.Lock()
	rs := slices.Clone(p.replies)
	p.mu.Unlock()
	slices.SortFunc(rs, func(a, b Reply) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	for i := 1; i < len(rs); i++ {
		if gap := rs[i].Seq - rs[i-1].Seq - 1; rs[i].Seq > rs[i-1].Seq && gap > lost {
			lost, before, after = gap, rs[i-1].Node, rs[i].Node
		}
	}
	return lost, before, after
}

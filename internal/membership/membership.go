// Package membership is tandem's failure detector, Heartbeat's semantics in
// a sans-IO state machine: the caller reports every authenticated packet
// (Heard) and lets time pass (Tick); the detector says which links and peers
// are up, silent or dead. Time is an input; nothing here reads a clock.
//
// Per link: unknown until its first packet, then up; dead after deadtime
// without a packet on it; up again on the next one. Per peer: pending from
// start until its first packet (up) or until initdead has passed (dead);
// warn when every link has been silent for warntime; dead when every link
// has been silent for deadtime; left at once when it says bye.
package membership

import (
	"fmt"
	"math/bits"
	"slices"
	"time"
)

// State is a peer's state.
type State uint8

const (
	Pending State = iota // not heard since start, initdead not over
	Up                   // heard within warntime on some link
	Warn                 // every link silent for warntime
	Dead                 // every link silent for deadtime (or initdead)
	Left                 // said bye: gone without waiting for deadtime
)

func (s State) String() string {
	switch s {
	case Pending:
		return "pending"
	case Up:
		return "up"
	case Warn:
		return "warn"
	case Dead:
		return "dead"
	case Left:
		return "left"
	}
	return "invalid"
}

// LinkState is one link's state towards a peer.
type LinkState uint8

const (
	LinkUnknown LinkState = iota // nothing heard on it since start
	LinkUp
	LinkDead
)

func (s LinkState) String() string {
	switch s {
	case LinkUnknown:
		return "unknown"
	case LinkUp:
		return "up"
	case LinkDead:
		return "dead"
	}
	return "invalid"
}

// Config sets the timers and the peers.
type Config struct {
	Keepalive, Warntime, Deadtime, Initdead time.Duration
	Peers                                   []Peer
}

// Peer is a node to watch, with its number of links.
type Peer struct {
	Name  string
	Links int
}

// Event is one state transition, for the log.
type Event struct {
	Peer   string
	Link   int // -1 for the peer itself
	From   string
	To     string
	Reason string
}

// LinkView is what the detector knows of one link.
type LinkView struct {
	State     LinkState
	LastHeard time.Duration
	RTT       time.Duration // smoothed (TCP's srtt, gain 1/8); 0 if never measured
	Loss      float64       // share of the last 64 heartbeats (by sequence) not received
}

// PeerView is what the detector knows of one peer.
type PeerView struct {
	Name      string
	State     State
	Seen      bool // heard at least once since start (wait_for_all)
	LastHeard time.Duration
	Links     []LinkView
}

type link struct {
	LinkView
	heard   bool
	lastSeq uint32
	window  uint64 // bit i set: seq lastSeq-i was received
	span    uint64 // sequence numbers the window covers so far, <= 64
}

type peer struct {
	name      string
	state     State
	seen      bool
	lastHeard time.Duration
	inc       uint64
	leftInc   uint64
	links     []link
}

// Detector watches every peer. Not safe for concurrent use.
type Detector struct {
	cfg   Config
	start time.Duration
	peers []*peer // sorted by name
}

// New returns a detector started at now.
func New(cfg Config, now time.Duration) *Detector {
	d := &Detector{cfg: cfg, start: now}
	for _, p := range cfg.Peers {
		d.peers = append(d.peers, &peer{name: p.Name, links: make([]link, max(p.Links, 0))})
	}
	slices.SortFunc(d.peers, func(a, b *peer) int {
		switch {
		case a.name < b.name:
			return -1
		case a.name > b.name:
			return 1
		}
		return 0
	})
	return d
}

func (d *Detector) find(name string) *peer {
	for _, p := range d.peers {
		if p.name == name {
			return p
		}
	}
	return nil
}

// Heard records an authenticated heartbeat from peer on link at now.
// seq is the sender's per-link heartbeat counter (for loss), rtt a fresh
// round-trip sample or negative if none.
func (d *Detector) Heard(now time.Duration, name string, li int, inc uint64, seq uint32, rtt time.Duration) []Event {
	p := d.find(name)
	if p == nil || li < 0 || li >= len(p.links) {
		return nil
	}
	if p.state == Left && inc <= p.leftInc {
		return nil // a straggler from the run that said bye
	}
	var evs []Event
	if inc != p.inc {
		// A new run restarts its counters: restart the loss windows.
		for i := range p.links {
			p.links[i].window, p.links[i].lastSeq, p.links[i].span = 0, 0, 0
		}
		p.inc = inc
	}
	l := &p.links[li]
	if l.State != LinkUp {
		evs = append(evs, Event{Peer: p.name, Link: li, From: l.State.String(), To: LinkUp.String(), Reason: "packet received"})
		l.State = LinkUp
	}
	l.LastHeard, l.heard = now, true
	l.record(seq)
	if rtt >= 0 {
		if l.RTT == 0 {
			l.RTT = rtt
		} else {
			l.RTT += (rtt - l.RTT) / 8
		}
	}
	p.lastHeard, p.seen = now, true
	if p.state != Up {
		evs = append(evs, Event{Peer: p.name, Link: -1, From: p.state.String(), To: Up.String(), Reason: fmt.Sprintf("heartbeat on link %d", li)})
		p.state = Up
	}
	return evs
}

// record notes heartbeat seq in the 64-wide loss window.
func (l *link) record(seq uint32) {
	switch {
	case l.window == 0 || seq+64 < l.lastSeq:
		// First packet, or the counter went far back (restart): start over.
		l.lastSeq, l.window, l.span = seq, 1, 1
	case seq > l.lastSeq:
		shift := uint64(seq - l.lastSeq)
		if shift >= 64 {
			l.window = 1
		} else {
			l.window = l.window<<shift | 1
		}
		l.lastSeq, l.span = seq, min(l.span+shift, 64)
	default:
		l.window |= 1 << (l.lastSeq - seq) // late but within the window
	}
	got := min(uint64(bits.OnesCount64(l.window)), l.span)
	l.Loss = float64(l.span-got) / float64(l.span)
}

// Left records a peer's bye: it is gone at once. Only a newer incarnation brings it back.
func (d *Detector) Left(now time.Duration, name string, inc uint64) []Event {
	p := d.find(name)
	if p == nil || p.state == Left {
		return nil
	}
	ev := Event{Peer: p.name, Link: -1, From: p.state.String(), To: Left.String(), Reason: "said bye (graceful shutdown)"}
	p.state, p.leftInc, p.seen = Left, inc, true
	return []Event{ev}
}

// Tick lets time pass and returns the transitions that happened by now.
func (d *Detector) Tick(now time.Duration) []Event {
	var evs []Event
	for _, p := range d.peers {
		for i := range p.links {
			l := &p.links[i]
			if l.State == LinkUp && now-l.LastHeard >= d.cfg.Deadtime {
				evs = append(evs, Event{Peer: p.name, Link: i, From: l.State.String(), To: LinkDead.String(),
					Reason: fmt.Sprintf("no packet on this link for %v (deadtime)", d.cfg.Deadtime)})
				l.State = LinkDead
			}
		}
		switch p.state {
		case Pending:
			if now-d.start >= d.cfg.Initdead {
				evs = append(evs, Event{Peer: p.name, Link: -1, From: Pending.String(), To: Dead.String(),
					Reason: fmt.Sprintf("not heard since start for %v (initdead)", d.cfg.Initdead)})
				p.state = Dead
			}
		case Up, Warn:
			silent := now - p.lastHeard
			if silent >= d.cfg.Deadtime {
				evs = append(evs, Event{Peer: p.name, Link: -1, From: p.state.String(), To: Dead.String(),
					Reason: fmt.Sprintf("no packet on any link for %v (deadtime)", d.cfg.Deadtime)})
				p.state = Dead
			} else if p.state == Up && silent >= d.cfg.Warntime {
				evs = append(evs, Event{Peer: p.name, Link: -1, From: Up.String(), To: Warn.String(),
					Reason: fmt.Sprintf("no packet on any link for %v (warntime)", d.cfg.Warntime)})
				p.state = Warn
			}
		}
	}
	return evs
}

// NextDeadline returns the earliest time at which Tick could change something.
func (d *Detector) NextDeadline() (time.Duration, bool) {
	var next time.Duration
	ok := false
	consider := func(t time.Duration) {
		if !ok || t < next {
			next, ok = t, true
		}
	}
	for _, p := range d.peers {
		for _, l := range p.links {
			if l.State == LinkUp {
				consider(l.LastHeard + d.cfg.Deadtime)
			}
		}
		switch p.state {
		case Pending:
			consider(d.start + d.cfg.Initdead)
		case Up:
			consider(p.lastHeard + d.cfg.Warntime)
		case Warn:
			consider(p.lastHeard + d.cfg.Deadtime)
		}
	}
	return next, ok
}

// Peer returns the view of one peer; an unknown name gives a zero view.
func (d *Detector) Peer(name string) PeerView {
	p := d.find(name)
	if p == nil {
		return PeerView{Name: name, State: Dead}
	}
	v := PeerView{Name: p.name, State: p.state, Seen: p.seen, LastHeard: p.lastHeard}
	for _, l := range p.links {
		v.Links = append(v.Links, l.LinkView)
	}
	return v
}

// State is a peer's state without building its whole view (the core asks
// it for every peer at every step).
func (d *Detector) State(name string) (st State, seen bool) {
	if p := d.find(name); p != nil {
		return p.state, p.seen
	}
	return Dead, false
}

// Peers returns every peer's view, sorted by name.
func (d *Detector) Peers() []PeerView {
	out := make([]PeerView, 0, len(d.peers))
	for _, p := range d.peers {
		out = append(out, d.Peer(p.name))
	}
	return out
}

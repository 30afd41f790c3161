package config

import (
	"fmt"
	"math"
	"time"
)

// The timing rules R1–R6 of docs/design.md for majority mode. The numbers
// they need besides the config are fixed here, so that config check, the
// core and the simulator agree on them.
const (
	// ClockError is ε: the largest clock rate error between two nodes
	// tandem tolerates (1 %; NTP-disciplined clocks are far better).
	ClockError = 0.01
	// MinLostRenewals is R4's m: a lease must survive this many lost
	// renewals in a row at the worst round trip.
	MinLostRenewals = 2
)

// Slop is δ: how late an agent loop turn may run before the agent counts
// itself paused (and its own lease lost).
func (t Timing) Slop() time.Duration { return 2 * t.Keepalive }

// ElectionTimeout is ET_min, raft's election timeout: the deadtime (raft
// randomizes each node's between ET and 2·ET).
func (t Timing) ElectionTimeout() time.Duration { return t.Deadtime }

// RTTMax is the worst heartbeat round trip the rules assume: half a
// keepalive; config check prints what a slower network costs.
func (t Timing) RTTMax() time.Duration { return t.Keepalive / 2 }

// Stretch is how long d on one clock can last on another whose rate differs
// by up to ε: d·(1+ε)/(1−ε), rounded up.
func Stretch(d time.Duration) time.Duration {
	return time.Duration(math.Ceil(float64(d) * (1 + ClockError) / (1 - ClockError)))
}

// LostRenewals is R4's m for this timing: how many renewals in a row may be
// lost before a healthy node's lease runs out.
func (t Timing) LostRenewals() int {
	return int((t.Lease-t.RTTMax())/t.Keepalive) - 1
}

// ReassignWait is R2/R3: after a new DC is elected (R2), or after the last
// grant it sent a node (R3), how long it waits before giving that node's
// groups to another: the lease, stretched, plus the largest stop timeout of
// members that may outlive the lease (stop), plus δ.
func (m *Model) ReassignWait(g Group) (wait, stop time.Duration) {
	for _, name := range g.Members {
		for _, r := range m.Resources {
			if r.Name == name && !r.FencedSafe() {
				stop = max(stop, r.Ops.StopTimeout)
			}
		}
	}
	return Stretch(m.Timing.Lease+stop) + m.Timing.Slop(), stop
}

// FencedSafe reports whether the resource is cut off when its node's lease
// ends even if that node hangs: floating IPs (their nftables gate expires
// in the kernel). Everything else may outlive a frozen agent until its stop
// timeout, or until a fence.
func (r Resource) FencedSafe() bool { return r.Kind == KindIP }

// up rounds d up to a millisecond, for people.
func up(d time.Duration) time.Duration {
	return (d + time.Millisecond - 1).Truncate(time.Millisecond)
}

// Rule is one timing rule with the config's numbers filled in.
type Rule struct {
	Name  string // R1 … R6
	Holds bool
	Text  string
}

// Rules evaluates R1–R5 for majority mode (R6 is the per-group bound,
// see Bound).
func (m *Model) Rules() []Rule {
	t := m.Timing
	et := t.ElectionTimeout()
	r1 := Stretch(t.Lease) + t.Slop()
	var longest time.Duration
	for _, g := range m.Groups {
		w, _ := m.ReassignWait(g)
		longest = max(longest, w)
	}
	beats := t.Deadtime / t.Keepalive
	links := 0
	if len(m.Nodes) > 0 {
		links = len(m.Nodes[0].Links)
	}
	return []Rule{
		{"R1", r1 < et, fmt.Sprintf("a successor is not elected before the old DC's lease ends: lease %v·(1+ε)/(1−ε) + δ %v = %v < election timeout %v (ε = %g)",
			t.Lease, t.Slop(), up(r1), et, ClockError)},
		{"R2", true, fmt.Sprintf("a new DC reassigns the groups of a node it cannot reach only after (lease + S)·(1+ε)/(1−ε) + δ, at most %v here (S = largest stop timeout of members a hung node could keep running; 0 for floating IPs), or after a confirmed fence", up(longest))},
		{"R3", true, fmt.Sprintf("a sitting DC that loses a node reassigns its groups the same wait after the last grant it sent it: at most %v", up(longest))},
		{"R4", t.LostRenewals() >= MinLostRenewals, fmt.Sprintf("lease %v ≥ (m+1)·keepalive %v + RTT_max %v: a lease survives m = %d lost renewals in a row (at least %d required)",
			t.Lease, t.Keepalive, t.RTTMax(), t.LostRenewals(), MinLostRenewals)},
		{"R5", beats >= 5, fmt.Sprintf("deadtime/keepalive = %d ≥ 5; chance that 10%% independent loss fakes a death: %.1e per deadtime window (%d links)",
			beats, FalseDeathChance(t, links, 0.10), links)},
	}
}

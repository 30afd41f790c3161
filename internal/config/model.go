// Package config loads tandem's one YAML file into an immutable, validated Model.
//
// Decoding is strict: unknown keys are errors, and every error names
// file:line:column, the field path and what is allowed.
package config

import (
	"net/netip"
	"time"
)

// Defaults of DESIGN.md, taken from Heartbeat's ha.cf where it had one.
const (
	DefaultPort      = 694
	DefaultKeepalive = 100 * time.Millisecond
	DefaultWarntime  = 500 * time.Millisecond
	DefaultDeadtime  = time.Second
	DefaultInitdead  = 10 * time.Second
	DefaultStateDir  = "/var/lib/tandem"
	DefaultSocket    = "/run/tandem/tandem.sock"
	DefaultKeyFile   = "/etc/tandem/authkey"
)

// Model is a validated configuration. Treat it as read-only once loaded.
type Model struct {
	Path        string // the file it came from, for messages
	Cluster     string
	KeyFile     string
	Port        int
	StateDir    string
	Socket      string
	Timing      Timing
	Quorum      Quorum
	Nodes       []Node     // sorted as written
	Resources   []Resource // as written
	Groups      []Group    // as written; every resource not in a group gets a group of its own, named after it
	Constraints []Location // location constraints
	Defaults    Defaults
	Hash        uint64 // first 8 bytes of SHA-256 of the file's bytes; peers compare it
}

// Timing holds the failure-detection timers.
type Timing struct {
	Keepalive time.Duration // heartbeat interval
	Warntime  time.Duration // all links silent this long: warn
	Deadtime  time.Duration // all links silent this long: peer dead
	Initdead  time.Duration // deadtime used until the first packet since start
}

// Quorum says how the cluster decides who may run resources.
type Quorum struct {
	Mode       string // "two_node" (majority comes with the safety issue)
	WaitForAll bool   // hold the first start until every peer has been seen
}

// Node is a cluster member.
type Node struct {
	Name  string
	Links []netip.Addr // link i of every node forms network i
}

// Resource kinds known to the skeleton.
const (
	KindIP   = "ip"
	KindExec = "exec"
)

// Resource is one managed thing: a floating IP, a service.
type Resource struct {
	Name   string
	Kind   string            // KindIP, KindExec
	Params map[string]string // as written, for display
	Ops    Ops
	IP     *IPParams   // set when Kind == KindIP
	Exec   *ExecParams // set when Kind == KindExec
}

// Ops are the operation timeouts and the monitor interval.
type Ops struct {
	StartTimeout    time.Duration // default 20s
	StopTimeout     time.Duration // default 20s
	MonitorInterval time.Duration // default 10s; 0 disables monitoring
	MonitorTimeout  time.Duration // default 20s
}

// IPParams are the validated params of an ip resource.
type IPParams struct {
	Address     netip.Prefix // e.g. 10.101.20.219/24 or 2001:db8::10/64
	Interface   string
	Label       string        // IPv4 only, <= 15 chars, starts with Interface
	ARPCount    int           // gratuitous ARPs / unsolicited NAs on start; default 5
	ARPInterval time.Duration // between them; default 200ms
	ARPRefresh  time.Duration // periodic re-announce while active; 0 = off
}

// ExecParams are the validated params of an exec resource. Either Daemon, or
// Start and Stop (and optionally Monitor) are set.
type ExecParams struct {
	Start   string // shell command that starts the service and returns
	Stop    string // shell command that stops it
	Monitor string // exit 0 running, 7 stopped, anything else failed
	Daemon  string // a long-running command the agent supervises itself
	Dir     string
	Env     []string // KEY=VALUE
}

// Group is an ordered, colocated set of resources: started in order, stopped in reverse.
type Group struct {
	Name     string
	Members  []string
	Implicit bool // made for an ungrouped resource
}

// Location prefers (score > 0) or avoids (score < 0) a node for a group or resource.
type Location struct {
	Target string // group or resource name; a resource in a group applies to its group
	Node   string
	Score  int // ScoreInfinity / -ScoreInfinity allowed
}

// ScoreInfinity is Pacemaker's INFINITY.
const ScoreInfinity = 1000000

// Defaults hold cluster-wide resource defaults.
type Defaults struct {
	Stickiness int
}

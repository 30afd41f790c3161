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
	DefaultLease     = 700 * time.Millisecond
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
	Nodes       []Node       // as written
	Witnesses   []Node       // majority mode: voters that never run resources
	Resources   []Resource   // as written
	Groups      []Group      // as written; every resource not in a group gets a group of its own, named after it
	Constraints []Location   // location constraints
	Colocations []Colocation // placement.go
	Orders      []Order      // placement.go
	Clones      []Clone      // placement.go
	Defaults    Defaults
	Metrics     Metrics
	Fencing     Fencing  // fence devices (fencing.go)
	Watchdog    Watchdog // watchdog self-fencing (fencing.go)
	Health      Health   // node attributes from links and ping targets (health.go)
	Alerts      []Alert  // hooks run on events, as written (alerts.go)
	Hash        uint64   // first 8 bytes of SHA-256 of the file's bytes; peers compare it

	// idx is where each field is written: ErrorAt locates later checks.
	idx *posIndex
}

// Timing holds the failure-detection timers.
type Timing struct {
	Keepalive time.Duration // heartbeat interval
	Warntime  time.Duration // all links silent this long: warn
	Deadtime  time.Duration // all links silent this long: peer dead
	Initdead  time.Duration // deadtime used until the first packet since start
	Lease     time.Duration // majority mode: how long a granted lease lets a node keep its resources
}

// Quorum modes.
const (
	ModeTwoNode  = "two_node" // corosync's two_node: a lone survivor keeps running things
	ModeMajority = "majority" // a majority of voters (nodes and witnesses) elects the DC over raft
)

// Quorum says how the cluster decides who may run resources.
type Quorum struct {
	Mode       string // ModeTwoNode or ModeMajority
	WaitForAll bool   // hold the first start until every peer has been seen
	// Ping targets are a health heuristic: a node that reaches fewer of
	// them hands its groups to one that reaches more (health.go).
	Ping []netip.Addr
}

// Node is a cluster member; in Model.Witnesses, a voter that never runs resources.
type Node struct {
	Name  string
	Links []netip.Addr // link i of every node forms network i
	Voter bool         // majority mode: votes (false: a raft learner that follows the state)
}

// Resource kinds known to the skeleton.
const (
	KindIP      = "ip"
	KindExec    = "exec"
	KindOCF     = "ocf"     // type: ocf:PROVIDER:TYPE (agents.go)
	KindLSB     = "lsb"     // type: lsb:NAME
	KindSystemd = "systemd" // type: systemd:UNIT
)

// Resource is one managed thing: a floating IP, a service.
type Resource struct {
	Name       string
	Kind       string            // KindIP, KindExec, KindOCF, KindLSB, KindSIP, KindFreeSWITCH
	Params     map[string]string // as written, for display
	Meta       Meta              // placement settings (placement.go)
	Ops        Ops
	IP         *IPParams         // set when Kind == KindIP
	Exec       *ExecParams       // set when Kind == KindExec
	OCF        *OCFParams        // set when Kind == KindOCF
	LSB        *LSBParams        // set when Kind == KindLSB
	Systemd    *SystemdParams    // set when Kind == KindSystemd
	SIP        *SIPParams        // set when Kind == KindSIP (sip.go)
	FreeSWITCH *FreeSWITCHParams // set when Kind == KindFreeSWITCH (freeswitch.go)
}

// Ops are the operation timeouts and the monitor interval.
type Ops struct {
	StartTimeout    time.Duration // default 20s
	StopTimeout     time.Duration // default 20s
	MonitorInterval time.Duration // default 10s; 0 disables monitoring
	MonitorTimeout  time.Duration // default 20s
	// What a failure of each operation does (Pacemaker's on-fail): OnFail*.
	StartOnFail, StopOnFail, MonitorOnFail string
	MonitorDepth                           int // OCF_CHECK_LEVEL of the first monitor (ocf only)
	// MoreMonitors are monitors beyond the first (Monitor* fields), each
	// with its own interval (unique), timeout, on_fail and depth.
	MoreMonitors []Monitor
}

// Monitor is one recurring monitor of a resource.
type Monitor struct {
	Interval, Timeout time.Duration
	OnFail            string
	Depth             int // OCF_CHECK_LEVEL (ocf only)
}

// What a failed operation does (ops.OP.on_fail), as Pacemaker's on-fail.
const (
	OnFailRestart = "restart" // monitor: count it, restart in place (migration_threshold moves the group); start: ban the node, move
	OnFailMove    = "move"    // ban the node at once (fail count INFINITY): the group moves
	OnFailStandby = "standby" // put the node in standby: every group moves off it
	OnFailStop    = "stop"    // stop the group and keep it stopped (tandem enable starts it again)
	OnFailIgnore  = "ignore"  // monitor only: log it, leave the resource as it is
	OnFailBlock   = "block"   // leave the resource alone, the group frozen, until tandem cleanup
	OnFailFence   = "fence"   // stop only, with fencing (its default there): block it, and fence the node
)

// IPParams are the validated params of an ip resource.
type IPParams struct {
	Address     netip.Prefix // e.g. 10.101.20.219/24 or 2001:db8::10/64
	Interface   string
	Label       string        // IPv4 only, <= 15 chars, starts with Interface
	ARPCount    int           // gratuitous ARPs / unsolicited NAs on start; default 5
	ARPInterval time.Duration // between them; default 200ms
	ARPRefresh  time.Duration // periodic re-announce while active; 0 = off
	// Lifetime is the address's valid_lft/preferred_lft backstop in
	// majority mode (0: permanent). The agent sets it, not the file.
	Lifetime time.Duration
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
	Meta     Meta // members inherit what they do not set (placement.go)
}

// Location prefers (score > 0) or avoids (score < 0) a node for a group or resource.
type Location struct {
	Target string // group or resource name; a resource in a group applies to its group
	Node   string
	Score  int       // ScoreInfinity / -ScoreInfinity allowed
	Rule   *NodeRule // set instead of Node: every node whose attributes match (placement.go)
}

// ScoreInfinity is Pacemaker's INFINITY.
const ScoreInfinity = 1000000

// Metrics is the optional Prometheus listener (docs/metrics.md). GET
// /metrics on the API socket works whether or not it is set.
type Metrics struct {
	Listen string // host:port to serve GET /metrics on; "" = no listener
	// Exposed is set when Listen is not a loopback address: other hosts
	// can read the cluster's topology and state from it.
	Exposed bool
}

// Defaults hold cluster-wide resource defaults.
type Defaults struct {
	Stickiness         int
	MigrationThreshold int           // failures on a node before a ban there; 0: INFINITY; NeverBan: never
	FailureTimeout     time.Duration // failures older than this are forgotten; 0: never
}

// Voters counts majority mode's votes: voting nodes and witnesses.
func (m *Model) Voters() int {
	n := len(m.Witnesses)
	for _, nd := range m.Nodes {
		if nd.Voter {
			n++
		}
	}
	return n
}

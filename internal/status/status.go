// Package status holds the shape of `tandem status --json` (schema 2). It is
// pure data shared by the core that fills it, the API that serves it and the
// CLI that prints it; a golden test guards it.
package status

// Schema is bumped on any change of the JSON shape.
const Schema = 5

// Status is one agent's view of the cluster. Schema 2 added nodes[].role
// (majority mode's witnesses are listed among the nodes); schema 4 the
// operator's instructions (maintenance, nodes[].standby/maintenance, operator).
type Status struct {
	Schema      int        `json:"schema"`
	Cluster     string     `json:"cluster"`
	Node        string     `json:"node"` // the agent that answered
	DC          string     `json:"dc"`   // designated coordinator as this node sees it
	ConfigHash  string     `json:"config_hash"`
	Incarnation uint64     `json:"incarnation"`
	Uptime      string     `json:"uptime"`
	Quorum      Quorum     `json:"quorum"`
	Nodes       []Node     `json:"nodes"`
	Resources   []Resource `json:"resources"`
	Groups      []Group    `json:"groups"`
	// Maintenance: the whole cluster is in maintenance (tandem maintenance on).
	Maintenance bool `json:"maintenance"`
	// Operator lists the moves, bans and disables in force, so none hides.
	Operator []Instruction `json:"operator"`
	Warnings []string      `json:"warnings"`
	Drops    []Drop        `json:"drops"` // packets dropped by reason since start
	Events   []Event       `json:"events"`
}

// Quorum says whether this node may run resources.
type Quorum struct {
	Mode       string   `json:"mode"`
	Quorate    bool     `json:"quorate"`
	Votes      int      `json:"votes"`
	Expected   int      `json:"expected"`
	WaitingFor []string `json:"waiting_for"` // wait_for_all: peers not seen yet
}

// Node is a cluster member as seen from the answering agent.
type Node struct {
	Name        string `json:"name"`
	Role        string `json:"role"` // "node", or "witness" (votes, never runs resources)
	Self        bool   `json:"self"`
	State       string `json:"state"` // online, pending, warn, offline, left, leaving, probing
	Links       []Link `json:"links"`
	Votes       int    `json:"votes"`
	ConfigMatch bool   `json:"config_match"`
	Incarnation uint64 `json:"incarnation,omitempty"`
	// Attributes are the node's health attributes (link.eth0.up, ping.gw.ok), as location rules see them.
	Attributes  map[string]string `json:"attributes,omitempty"`
	Standby     bool              `json:"standby"`     // tandem standby: runs nothing
	Maintenance bool              `json:"maintenance"` // tandem maintenance on NODE: its resources are left as they are
	// Held (majority mode): the node holds its groups' floating IPs open
	// outside the lease, from maintenance; the DC keeps its groups there
	// until it clears this (its agent back, out of maintenance).
	Held bool `json:"held"`
}

// Instruction is an operator's move, ban or disable/enable in force.
type Instruction struct {
	Op     string `json:"op"`     // move, ban, disable, enable
	Target string `json:"target"` // group, resource or clone
	Node   string `json:"node,omitempty"`
	Until  string `json:"until,omitempty"` // move --lifetime: RFC 3339, UTC
}

// Link is one network path to a node.
type Link struct {
	Addr  string  `json:"addr"`
	State string  `json:"state"` // up, dead, unknown; "local" for the answering node
	RTT   string  `json:"rtt"`   // smoothed round trip, e.g. "180µs"; "" when unknown
	Loss  float64 `json:"loss"`  // share of recent heartbeats lost, 0..1
}

// Resource is one configured resource and where it runs.
type Resource struct {
	Name       string         `json:"name"`
	Kind       string         `json:"kind"`
	Group      string         `json:"group"`
	Instances  []Instance     `json:"instances"`
	FailCounts map[string]int `json:"fail_counts,omitempty"` // node → count; 1000000 = INFINITY
}

// Instance is a resource's state on one node.
type Instance struct {
	Node  string `json:"node"`
	State string `json:"state"` // running, starting, stopping, failed, blocked, unknown
	Role  string `json:"role"`  // "started" (clones and promotion come later)
}

// Group is a group's placement.
type Group struct {
	Name    string   `json:"name"`
	Members []string `json:"members"`
	Owner   string   `json:"owner"`  // node holding it, "" if none
	Target  string   `json:"target"` // node the placement wants, "" if none
	// Clone names the clone of a cloned group; Instances are the nodes
	// running it and Targets where the placement wants instances.
	Clone     string   `json:"clone,omitempty"`
	Instances []string `json:"instances,omitempty"`
	Targets   []string `json:"targets,omitempty"`
	Epoch     uint64   `json:"epoch"`
	Scores    []Score  `json:"scores"`
}

// Score is a node's placement score for a group.
type Score struct {
	Node    string   `json:"node"`
	Score   string   `json:"score"`
	Reasons []string `json:"reasons"`
}

// Drop counts packets dropped for one reason.
type Drop struct {
	Reason string `json:"reason"`
	Count  uint64 `json:"count"`
}

// Event is a recent decision or transition, newest last.
type Event struct {
	At      string `json:"at"` // since agent start
	Message string `json:"message"`
}

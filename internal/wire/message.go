package wire

// Type says what a message is for.
type Type uint8

const (
	// TypeHeartbeat is sent to every peer on every link each keepalive and
	// carries the sender's whole view: resources, groups, admin state.
	TypeHeartbeat Type = 1
	// TypeBye is a heartbeat sent by an agent that has stopped all its
	// resources and is leaving: peers mark it gone at once, without deadtime.
	TypeBye Type = 2
)

// Flags describe the sender.
type Flags uint8

const (
	FlagProbing Flags = 1 << iota // still probing its resources after start: may run anything
	FlagLeaving                   // stopping everything for a graceful shutdown
)

// ResState is a resource's state on the sender.
type ResState uint8

const (
	ResUnknown  ResState = iota // not probed yet
	ResStopped                  // confirmed stopped
	ResStarting                 // start dispatched
	ResRunning                  // started or adopted, monitors pass
	ResStopping                 // stop dispatched
	ResFailed                   // start or monitor failed; a stop will follow
	ResBlocked                  // stop failed: counts as running until cleaned up
)

// Resource is one resource's state on the sender.
type Resource struct {
	Name  string
	State ResState
}

// Group is the sender's claim on a group: Epoch orders claims cluster-wide
// (a Lamport counter), so after a split the earlier taker keeps the group.
type Group struct {
	Name  string
	Epoch uint64 // 0 when the sender does not hold the group
}

// Entry is one key of the replicated state log (last writer wins by Epoch, then Node).
type Entry struct {
	Key   string
	Value string
	Epoch uint64
	Node  string
}

// Message is the authenticated payload of a packet.
type Message struct {
	Type       Type
	Flags      Flags
	ConfigHash uint64 // first 8 bytes of SHA-256 of the sender's config file
	LinkSeq    uint32 // per (destination, link) heartbeat counter, for loss
	SentAt     int64  // sender's monotonic clock, ns
	EchoSentAt int64  // SentAt of the last heartbeat the sender got from the receiver on this link
	EchoHeld   int64  // ns between receiving that heartbeat and sending this one
	// HeardInc is the receiver's incarnation the sender last heard (0: none):
	// a node restarted after a fence starts nothing until its peer has heard
	// the new incarnation (two_node with fencing; docs/fencing.md).
	HeardInc  uint64
	Resources []Resource
	Groups    []Group
	Log       []Entry
	// Quorum carries majority mode's messages for the receiver (raft, lease
	// requests and grants: package quorum), opaque here.
	Quorum [][]byte
}

func (s ResState) String() string {
	switch s {
	case ResStopped:
		return "stopped"
	case ResStarting:
		return "starting"
	case ResRunning:
		return "running"
	case ResStopping:
		return "stopping"
	case ResFailed:
		return "failed"
	case ResBlocked:
		return "blocked"
	}
	return "unknown"
}

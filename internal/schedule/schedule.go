// Package schedule decides where each group should run and what to do to
// get there: a pure, deterministic function of the configuration and the
// cluster view, so every node that sees the same view computes the same
// placement, plan and scores.
//
// The model is Pacemaker's (docs/placement.md): location scores and rules,
// colocation and order constraints, stickiness, migration-threshold and
// failure-timeout, standby and maintenance, unmanaged resources,
// target-role, groups and clones. The allocation follows Pacemaker 2.1's
// scheduler closely enough that crm_simulate agrees on the placement of
// the differential test's cases (testdata/differential.allow lists where
// and why it does not).
package schedule

import (
	"time"

	"tandem/internal/config"
)

// Infinity is Pacemaker's INFINITY: scores saturate at ±Infinity.
const Infinity = config.ScoreInfinity

// View is what the deciding node knows of the cluster. Every field is
// optional; names not in the configuration are ignored.
type View struct {
	Online  []string          // nodes that may run resources now
	Running map[string]string // group or ungrouped resource → node where all its members run
	// Active lists, per resource, every node where it runs; it overrides
	// Running for that resource (clones, half-started groups, a resource
	// found running twice).
	Active     map[string][]string
	FailCounts map[string]map[string]int       // resource → node → failures; Infinity: failed to start
	FailedAt   map[string]map[string]time.Time // resource → node → last failure, for failure-timeout
	Now        time.Time                       // the time failure-timeout is measured against

	Attributes         map[string]map[string]string // node → attribute → value, for location rules
	Standby            map[string]bool              // nodes that run nothing
	Maintenance        map[string]bool              // nodes whose resources are left as they are
	ClusterMaintenance bool                         // every resource is left as it is

	// The operator's runtime instructions (tandem move, ban, disable), kept
	// in the state log: they weigh like Pacemaker's cli-prefer and cli-ban
	// constraints and target-role, but each shows as what it is.
	Moves map[string]string   // group or resource → node it was moved to (+INFINITY there)
	Bans  map[string][]string // group or resource → nodes it is banned from (-INFINITY)
	Roles map[string]string   // group or resource → config.RoleStarted or RoleStopped, over its target_role
}

// Score is one node's total for a group, with the reasons that add up to it.
type Score struct {
	Node    string   `json:"node"`
	Total   int      `json:"total"` // Infinity / -Infinity for ±INFINITY
	Reasons []string `json:"reasons"`
}

// Action is one step of the plan.
type Action struct {
	Op       string `json:"op"` // OpStop or OpStart
	Resource string `json:"resource"`
	Node     string `json:"node"`
	Why      string `json:"why"`
}

// Operations of an Action.
const (
	OpStop  = "stop"
	OpStart = "start"
)

// Result is the desired placement and how it was reached.
type Result struct {
	// Placement maps every group (implicit ones too) to the node its first
	// member should run on, "" when it can run nowhere. A cloned group maps
	// to its first instance's node; Clones has them all.
	Placement map[string]string
	// Members maps every resource that should run to its node; a group
	// may run only a leading part of its members.
	Members map[string]string
	Clones  map[string][]string // clone → nodes of its instances, sorted (a node twice for two instances)
	Scores  map[string][]Score  // group or clone → every online node's score, the chosen node first
	Why     map[string]string   // group or clone → why it is stopped or pinned, when it is
	Actions []Action            // stops, then starts, each in an order the constraints allow
	// Until is when the result may change with time alone, the view
	// unchanged: the first counted failure's failure-timeout lapses then
	// (zero: never). Callers may reuse the result for the same input before.
	Until time.Time `json:"-"`
}

// add sums scores with Pacemaker's saturation: -INFINITY wins over +INFINITY.
func add(a, b int) int {
	if a <= -Infinity || b <= -Infinity {
		return -Infinity
	}
	if a >= Infinity || b >= Infinity {
		return Infinity
	}
	return max(-Infinity, min(Infinity, a+b))
}

// Place computes where every group of m should run and the plan to get there.
func Place(m *config.Model, v View) Result {
	s := newScheduler(m, v)
	s.assignAll()
	s.applyOrders()
	return s.result()
}

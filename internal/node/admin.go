package node

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"tandem/internal/config"
	"tandem/internal/ownership"
	"tandem/internal/schedule"
	"tandem/internal/statelog"
	"tandem/internal/status"
)

// AdminOp names an operator's instruction (tandem standby, move, …).
type AdminOp string

// Operator instructions. Each is written to the state log, which carries it
// to every node and across restarts; the scheduler weighs it from there.
const (
	AdminStandby        AdminOp = "standby"         // Node runs nothing
	AdminOnline         AdminOp = "online"          // undoes standby
	AdminMaintenanceOn  AdminOp = "maintenance-on"  // Node ("" = the cluster): leave resources as they are
	AdminMaintenanceOff AdminOp = "maintenance-off" // manage them again
	AdminMove           AdminOp = "move"            // Resource to Node at +INFINITY, until Until if set
	AdminBan            AdminOp = "ban"             // Resource off Node at -INFINITY
	AdminClear          AdminOp = "clear"           // drop Resource's move and bans
	AdminCleanup        AdminOp = "cleanup"         // forget Resource's failures on Node ("" = everywhere), probe it again where blocked
	AdminConfirmStopped AdminOp = "confirm-stopped" // the operator vouches that Node runs none of its blocked resources (Resource: only that one)
	AdminEnable         AdminOp = "enable"          // Resource may run (over a config target_role: stopped)
	AdminDisable        AdminOp = "disable"         // Resource stops everywhere
	AdminFenceConfirm   AdminOp = "fence-confirm"   // the operator vouches that Node is off: as if fenced
)

// Admin is one operator instruction, an input to Step. Check it with
// CheckAdmin first: Step ignores (and logs) one that does not fit the config.
type Admin struct {
	Op       AdminOp
	Resource string
	Node     string
	Until    time.Time // move only: the move lapses then (wall clock; zero: until cleared)
	By       string    // who asked, for the log ("tandem move on a")
}

func (Admin) input() {}

// State-log keys of the operator's instructions.
const (
	keyStandby     = "standby/"     // + node → "on"
	keyMaintenance = "maintenance/" // + node → "on"; alone (node "") the whole cluster
	keyMove        = "move/"        // + resource → node, or "node until RFC3339"
	keyBan         = "ban/"         // + resource + "/" + node → "on"
	keyRole        = "role/"        // + resource → config.RoleStarted or RoleStopped
)

// CheckAdmin reports why a cannot apply to m, naming what exists instead.
func CheckAdmin(m *config.Model, a Admin) error {
	needNode := func() error {
		if a.Node == "" {
			return fmt.Errorf("%s: a node name is required", a.Op)
		}
		if !slices.ContainsFunc(m.Nodes, func(n config.Node) bool { return n.Name == a.Node }) {
			if isWitness(m, a.Node) {
				return fmt.Errorf("%s: %s is a witness: it runs no resources", a.Op, a.Node)
			}
			return fmt.Errorf("%s: no node named %q; nodes: %s", a.Op, a.Node, nodeNames(m))
		}
		return nil
	}
	needRes := func() error {
		if a.Resource == "" {
			return fmt.Errorf("%s: a resource, group or clone name is required", a.Op)
		}
		if !isAdminTarget(m, a.Resource) {
			return fmt.Errorf("%s: no resource, group or clone named %q; there are: %s", a.Op, a.Resource, strings.Join(adminTargets(m), ", "))
		}
		return nil
	}
	switch a.Op {
	case AdminStandby, AdminOnline:
		return needNode()
	case AdminMaintenanceOn, AdminMaintenanceOff:
		if a.Node == "" {
			return nil
		}
		return needNode()
	case AdminMove, AdminBan:
		if err := needRes(); err != nil {
			return err
		}
		if err := needNode(); err != nil {
			return err
		}
		if a.Op == AdminBan && !a.Until.IsZero() {
			return fmt.Errorf("ban: a lifetime is for move only")
		}
		return nil
	case AdminClear:
		return needRes()
	case AdminCleanup:
		if err := needRes(); err != nil {
			return err
		}
		if a.Node != "" {
			return needNode()
		}
		return nil
	case AdminConfirmStopped:
		if a.Resource != "" {
			if err := needRes(); err != nil {
				return err
			}
		}
		return needNode()
	case AdminEnable, AdminDisable:
		return needRes()
	case AdminFenceConfirm:
		if !m.Fencing.Enabled {
			return fmt.Errorf("%s: fencing is not enabled: nothing waits for a fence", a.Op)
		}
		return needNode()
	}
	return fmt.Errorf("unknown operator instruction %q", a.Op)
}

func isAdminTarget(m *config.Model, name string) bool {
	return slices.Contains(adminTargets(m), name)
}

// adminTargets lists what move, ban and the rest may name: groups,
// resources and clones, in config order.
func adminTargets(m *config.Model) []string {
	var out []string
	for _, g := range m.Groups {
		if !g.Implicit {
			out = append(out, g.Name)
		}
	}
	for _, r := range m.Resources {
		out = append(out, r.Name)
	}
	for _, c := range m.Clones {
		out = append(out, c.Name)
	}
	return out
}

// admin writes an operator instruction to the state log.
func (n *Node) admin(a Admin) {
	if err := CheckAdmin(n.m, a); err != nil {
		n.logf(slog.LevelWarn, "operator instruction ignored: "+err.Error())
		return
	}
	set := func(k, v string) {
		if old, _ := n.log.Get(k); old != v {
			n.log.Set(k, v)
		}
	}
	what := string(a.Op)
	switch a.Op {
	case AdminStandby:
		set(keyStandby+a.Node, "on")
		what = "node " + a.Node + " in standby: its resources move away"
	case AdminOnline:
		set(keyStandby+a.Node, "")
		what = "node " + a.Node + " online: it may run resources again"
	case AdminMaintenanceOn, AdminMaintenanceOff:
		v, who := "", "the cluster"
		if a.Op == AdminMaintenanceOn {
			v = "on"
		}
		if a.Node != "" {
			who = "node " + a.Node
		}
		set(keyMaintenance+a.Node, v)
		if v == "on" {
			what = who + " in maintenance: resources left as they are, unmonitored; agents may be stopped without failover"
		} else {
			what = who + " out of maintenance: resources managed again"
		}
	case AdminMove:
		v := a.Node
		what = "move " + a.Resource + " to " + a.Node
		if !a.Until.IsZero() {
			v += " until " + a.Until.UTC().Format(time.RFC3339)
			what += " until " + a.Until.UTC().Format(time.RFC3339)
		}
		set(keyMove+a.Resource, v)
		// A move replaces a ban on the same node, as crm_resource --move does.
		set(keyBan+a.Resource+"/"+a.Node, "")
	case AdminBan:
		set(keyBan+a.Resource+"/"+a.Node, "on")
		if mv, _ := n.log.Get(keyMove + a.Resource); moveNode(mv) == a.Node {
			set(keyMove+a.Resource, "")
		}
		what = "ban " + a.Resource + " from " + a.Node
	case AdminClear:
		set(keyMove+a.Resource, "")
		for _, nd := range n.m.Nodes {
			set(keyBan+a.Resource+"/"+nd.Name, "")
		}
		what = "clear the moves and bans of " + a.Resource
	case AdminCleanup:
		for _, r := range n.membersOf(a.Resource) {
			for _, nd := range n.m.Nodes {
				if a.Node == "" || a.Node == nd.Name {
					set(failKey(r, nd.Name), "")
					set(failAtKey(r, nd.Name), "")
				}
			}
		}
		// Blocked members are probed again where they are blocked.
		for _, r := range n.membersOf(a.Resource) {
			for _, nd := range n.m.Nodes {
				if a.Node != "" && a.Node != nd.Name {
					continue
				}
				if nd.Name == n.self {
					n.reprobe(r)
				} else if v, _ := n.log.Get(blockedKey(r, nd.Name)); v != "" {
					n.nextID++
					set(keyReprobe+nd.Name+"/"+r, fmt.Sprintf("%s-%d-%d", n.self, n.inc, n.nextID))
				}
			}
		}
		what = "clean up the failures of " + a.Resource
		if a.Node != "" {
			what += " on " + a.Node
		}
	case AdminConfirmStopped:
		var rs []string
		if a.Resource != "" {
			rs = n.membersOf(a.Resource)
		} else {
			for r := range n.byRes {
				rs = append(rs, r)
			}
			slices.Sort(rs)
		}
		var freed []string
		if v, _ := n.log.Get(keyHeld + a.Node); a.Resource == "" && (v != "" || n.heldBy(a.Node)) {
			n.log.Set(keyHeld+a.Node, "") // even if only raft has it: the write must win
			freed = append(freed, "the groups it held from maintenance")
		}
		freed = append(freed, n.unblock(a.Node, rs)...)
		what = "confirmed stopped on " + a.Node + ": " + strings.Join(freed, ", ") + " may start elsewhere"
		if len(freed) == 0 {
			what = "confirm-stopped " + a.Node + ": nothing was blocked there"
		}
	case AdminEnable:
		v := ""
		if configRole(n.m, a.Resource) == config.RoleStopped {
			v = config.RoleStarted // override the config's target_role: stopped
		}
		set(keyRole+a.Resource, v)
		what = "enable " + a.Resource
	case AdminDisable:
		set(keyRole+a.Resource, config.RoleStopped)
		what = "disable " + a.Resource + ": it stops everywhere"
	case AdminFenceConfirm:
		what = "confirm " + a.Node + " is off"
		switch {
		case a.Node == n.self:
			what += ": this node cannot be its own witness; ignored"
		case n.mj != nil:
			set(keyFenced+a.Node, n.confirmID(a.By)) // the DC takes it once committed
			what += ": the DC takes it as a fence once it is committed"
		default:
			n.fencedOff(a.Node, "confirmed off by the operator")
			n.event(Event{Kind: NodeFenced, Peer: a.Node, Detail: "confirmed off by the operator"})
		}
	}
	n.rd.PersistState = true
	n.sendNow = true
	n.logf(slog.LevelInfo, "operator: "+what, "op", string(a.Op), "resource", a.Resource, "node", a.Node, "by", a.By)
}

// membersOf is the resources a name stands for: a group's members, a
// clone's resources, or the resource itself.
func (n *Node) membersOf(name string) []string {
	target := name
	for _, c := range n.m.Clones {
		if c.Name == name {
			target = c.Target
		}
	}
	for _, g := range n.m.Groups {
		if g.Name == target {
			return g.Members
		}
	}
	return []string{target}
}

func configRole(m *config.Model, name string) string {
	for _, r := range m.Resources {
		if r.Name == name {
			return r.Meta.TargetRole
		}
	}
	for _, g := range m.Groups {
		if g.Name == name {
			return g.Meta.TargetRole
		}
	}
	for _, c := range m.Clones {
		if c.Name == name {
			return c.Meta.TargetRole
		}
	}
	return ""
}

// moveNode and moveUntil read a move entry: "node" or "node until TIME".
func moveNode(v string) string {
	nd, _, _ := strings.Cut(v, " until ")
	return nd
}

func moveUntil(v string) time.Time {
	_, s, ok := strings.Cut(v, " until ")
	if !ok {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{} // written by us; unreadable means a newer format: keep the move
	}
	return t
}

// expireMoves clears moves whose lifetime has passed, so no lapsed
// constraint is left behind (Pacemaker keeps expired cli-prefer entries).
func (n *Node) expireMoves() {
	if n.wall.IsZero() {
		return
	}
	for _, e := range n.clusterEntries() {
		r, ok := strings.CutPrefix(e.Key, keyMove)
		if !ok || e.Value == "" {
			continue
		}
		if u := moveUntil(e.Value); !u.IsZero() && !n.wall.Before(u) {
			n.log.Set(e.Key, "")
			n.rd.PersistState = true
			n.sendNow = true
			n.logf(slog.LevelInfo, "operator: the move of "+r+" to "+moveNode(e.Value)+" lapsed", "resource", r)
		}
	}
}

// adminView adds the operator's instructions in the state log to v.
func (n *Node) adminView(v *schedule.View) {
	v.Standby, v.Maintenance = map[string]bool{}, map[string]bool{}
	for _, e := range n.clusterEntries() {
		if e.Value == "" {
			continue
		}
		switch {
		case e.Key == keyMaintenance:
			v.ClusterMaintenance = true
		case strings.HasPrefix(e.Key, keyStandby):
			v.Standby[strings.TrimPrefix(e.Key, keyStandby)] = true
		case strings.HasPrefix(e.Key, keyMaintenance):
			v.Maintenance[strings.TrimPrefix(e.Key, keyMaintenance)] = true
		case strings.HasPrefix(e.Key, keyMove):
			if u := moveUntil(e.Value); !u.IsZero() && !n.wall.IsZero() && !n.wall.Before(u) {
				continue
			}
			if v.Moves == nil {
				v.Moves = map[string]string{}
			}
			v.Moves[strings.TrimPrefix(e.Key, keyMove)] = moveNode(e.Value)
		case strings.HasPrefix(e.Key, keyBan):
			r, nd, ok := strings.Cut(strings.TrimPrefix(e.Key, keyBan), "/")
			if !ok {
				continue
			}
			if v.Bans == nil {
				v.Bans = map[string][]string{}
			}
			v.Bans[r] = append(v.Bans[r], nd)
		case strings.HasPrefix(e.Key, keyRole):
			if v.Roles == nil {
				v.Roles = map[string]string{}
			}
			v.Roles[strings.TrimPrefix(e.Key, keyRole)] = e.Value
		}
	}
}

// inMaintenance reports whether node's resources are to be left as they
// are: the cluster or that node is in maintenance.
func (n *Node) inMaintenance(node string) bool {
	if v, _ := n.clusterGet(keyMaintenance); v != "" {
		return true
	}
	v, _ := n.clusterGet(keyMaintenance + node)
	return v != ""
}

// clusterEntries is the cluster state placement and status read: the state
// log in two_node; in majority mode its replicated keys as raft committed
// them, and the rest (health attributes) as gossiped.
func (n *Node) clusterEntries() []statelog.Entry {
	if n.mj == nil {
		return n.log.Entries()
	}
	if at := [2]uint64{n.log.Version(), n.mj.version}; at != n.mj.entriesAt || n.mj.entries == nil {
		var out []statelog.Entry
		for _, e := range n.log.Entries() {
			if !replicated(e.Key) {
				out = append(out, e)
			}
		}
		for _, e := range n.mj.state {
			out = append(out, e)
		}
		slices.SortFunc(out, func(a, b statelog.Entry) int { return strings.Compare(a.Key, b.Key) })
		n.mj.entries, n.mj.entriesAt = out, at
	}
	return slices.Clone(n.mj.entries)
}

// clusterGet is one key of clusterEntries.
func (n *Node) clusterGet(key string) (string, bool) {
	if n.mj == nil || !replicated(key) {
		return n.log.Get(key)
	}
	e, ok := n.mj.state[key]
	if !ok || e.Value == "" {
		return "", false
	}
	return e.Value, true
}

// unmanaged reports whether g is left as it is: the cluster is in
// maintenance, or the node holding g — or the one that last held it and has
// since gone, its agent stopped for an upgrade — is.
func (n *Node) unmanaged(g *ownership.Group) bool {
	if n.mj != nil {
		// The DC keeps the assignments of a node in maintenance (frozen):
		// each node only has to leave its own resources alone.
		return n.inMaintenance(n.self) || n.holdGates()
	}
	if v, _ := n.clusterGet(keyMaintenance); v != "" {
		return true
	}
	h := n.holder(g)
	if h != "" {
		n.lastHeld[g.Name] = h
		return n.inMaintenance(h)
	}
	last := n.lastHeld[g.Name]
	if last == "" || last == n.self {
		return false
	}
	if p := n.peer(last); p != nil && n.live(p) {
		return false // it is up and says it no longer holds g
	}
	return n.inMaintenance(last)
}

// instructions lists the moves, bans and role overrides in the state log,
// for status.
func (n *Node) instructions() []status.Instruction {
	out := []status.Instruction{}
	for _, e := range n.clusterEntries() {
		if e.Value == "" {
			continue
		}
		switch {
		case strings.HasPrefix(e.Key, keyMove):
			in := status.Instruction{Op: "move", Target: strings.TrimPrefix(e.Key, keyMove), Node: moveNode(e.Value)}
			if u := moveUntil(e.Value); !u.IsZero() {
				in.Until = u.UTC().Format(time.RFC3339)
			}
			out = append(out, in)
		case strings.HasPrefix(e.Key, keyBan):
			r, nd, _ := strings.Cut(strings.TrimPrefix(e.Key, keyBan), "/")
			out = append(out, status.Instruction{Op: "ban", Target: r, Node: nd})
		case strings.HasPrefix(e.Key, keyRole):
			op := "enable"
			if e.Value == config.RoleStopped {
				op = "disable"
			}
			out = append(out, status.Instruction{Op: op, Target: strings.TrimPrefix(e.Key, keyRole)})
		}
	}
	return out
}

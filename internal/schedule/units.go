package schedule

import (
	"slices"
	"strconv"
	"time"

	"tandem/internal/config"
)

// prim is one resource with its effective settings and current state.
type prim struct {
	name       string
	stickiness int
	threshold  int   // migration-threshold; 0 or less: never ban
	timeout    int64 // failure-timeout in ns; 0: failures never expire
	stopped    bool  // target-role stopped
	managed    bool
	active     []int // node indices where it runs now
	node       int   // where it goes; -1 nowhere
	why        string
}

// unit is what Pacemaker allocates as one: a group (an ungrouped resource
// is a group of one) or a clone of one.
type unit struct {
	name    string // group name, or clone name
	group   string // the group's name (for a clone: the cloned group)
	order   int    // position in the configuration
	members []*prim
	clone   *config.Clone

	own   []int      // per node: locations on the group (they count for its first member)
	ban   []bool     // per node: a member failed too often there
	why   [][]string // per node: reasons for own
	mown  [][]int    // per member, per node: its locations, stickiness, failure bans
	mwhy  [][][]string
	with  []coloc // colocations where this unit is the dependent
	deps  []coloc // colocations where this unit is the primary
	after []*unit // mandatory orders: this unit needs these to run

	assigned bool
	busy     bool // assigning: guards colocation loops
	merging  bool // merging scores: guards colocation loops
	node     int  // where its first member goes; -1 nowhere
	nodes    []int
	note     string
	final    []int // the scores it was placed by, for Result.Scores
	finalWhy [][]string
}

type coloc struct {
	other *unit
	score int
}

// scheduler holds one Place call's working state.
type scheduler struct {
	m      *config.Model
	v      View
	until  time.Time // Result.Until
	nodes  []string  // online nodes, sorted: indices everywhere refer to this
	avail  []bool    // may start resources
	maint  []bool
	load   []int // resources assigned per node: Pacemaker's tie-break
	units  []*unit
	byName map[string]*unit // group, ungrouped resource, clone and cloned group names
	locs   map[string][]config.Location
}

func newScheduler(m *config.Model, v View) *scheduler {
	s := &scheduler{m: m, v: v, byName: map[string]*unit{}, locs: map[string][]config.Location{}}
	s.nodes = slices.Clone(v.Online)
	slices.Sort(s.nodes)
	s.nodes = slices.Compact(s.nodes)
	idx := make(map[string]int, len(s.nodes))
	for i, n := range s.nodes {
		idx[n] = i
		s.avail = append(s.avail, !v.Standby[n] && !v.Maintenance[n] && !v.ClusterMaintenance)
		s.maint = append(s.maint, v.Maintenance[n] || v.ClusterMaintenance)
	}
	s.load = make([]int, len(s.nodes))
	for _, c := range m.Constraints {
		s.locs[c.Target] = append(s.locs[c.Target], c)
	}
	res := make(map[string]*config.Resource, len(m.Resources))
	for i := range m.Resources {
		res[m.Resources[i].Name] = &m.Resources[i]
	}
	for gi := range m.Groups {
		g := &m.Groups[gi]
		u := &unit{name: g.Name, group: g.Name, order: gi, node: -1, clone: m.CloneOf(g.Name)}
		if u.clone != nil {
			u.name = u.clone.Name
			s.byName[g.Name] = u
		}
		for _, name := range g.Members {
			p := &prim{name: name, node: -1}
			s.settle(p, res[name], g, u.clone)
			p.active = s.activeOn(name, g.Name, idx)
			for _, i := range p.active {
				if s.maint[i] {
					p.managed = false // a node in maintenance keeps what it runs
				}
			}
			u.members = append(u.members, p)
		}
		s.units = append(s.units, u)
		s.byName[u.name] = u
	}
	for _, u := range s.units {
		s.score(u)
	}
	for _, c := range m.Colocations {
		d, p := s.byName[c.Dependent], s.byName[c.With]
		if d == nil || p == nil || d == p {
			continue
		}
		d.with = append(d.with, coloc{p, c.Score})
		p.deps = append(p.deps, coloc{d, c.Score})
	}
	for _, o := range m.Orders {
		if f, t := s.byName[o.First], s.byName[o.Then]; f != nil && t != nil && o.Mandatory {
			t.after = append(t.after, f)
		}
	}
	return s
}

// settle resolves a resource's settings: its own, then its group's or
// clone's, then the defaults (Pacemaker's meta attribute inheritance).
func (s *scheduler) settle(p *prim, r *config.Resource, g *config.Group, c *config.Clone) {
	var metas []config.Meta
	if r != nil {
		metas = append(metas, r.Meta)
	}
	metas = append(metas, g.Meta)
	if c != nil {
		metas = append(metas, c.Meta)
	}
	d := s.m.Defaults
	p.stickiness, p.threshold, p.managed = d.Stickiness, d.MigrationThreshold, !s.v.ClusterMaintenance
	p.timeout = int64(d.FailureTimeout)
	if p.threshold == 0 {
		p.threshold = Infinity // Pacemaker's default
	}
	if c != nil {
		p.stickiness = 1 // Pacemaker's default for clone instances
	}
	first := func(f func(config.Meta) bool) {
		for _, mt := range metas {
			if f(mt) {
				return
			}
		}
	}
	first(func(mt config.Meta) bool {
		if mt.Stickiness != nil {
			p.stickiness = *mt.Stickiness
		}
		return mt.Stickiness != nil
	})
	first(func(mt config.Meta) bool {
		if mt.MigrationThreshold != nil {
			p.threshold = *mt.MigrationThreshold
		}
		return mt.MigrationThreshold != nil
	})
	first(func(mt config.Meta) bool {
		if mt.FailureTimeout != nil {
			p.timeout = int64(*mt.FailureTimeout)
		}
		return mt.FailureTimeout != nil
	})
	roleSet, names := false, []string{p.name, g.Name}
	if c != nil {
		names = append(names, c.Name)
	}
	for _, name := range names {
		if role := s.v.Roles[name]; role != "" && !roleSet {
			p.stopped, roleSet = role == config.RoleStopped, true // tandem disable/enable beats the config
		}
	}
	first(func(mt config.Meta) bool {
		if roleSet {
			return true
		}
		if mt.TargetRole != "" {
			p.stopped = mt.TargetRole == config.RoleStopped
		}
		return mt.TargetRole != ""
	})
	first(func(mt config.Meta) bool {
		if mt.Managed != nil && p.managed {
			p.managed = *mt.Managed
		}
		return mt.Managed != nil
	})
}

func (s *scheduler) activeOn(res, group string, idx map[string]int) []int {
	var out []int
	if nodes, ok := s.v.Active[res]; ok {
		for _, n := range nodes {
			if i, ok := idx[n]; ok && !slices.Contains(out, i) {
				out = append(out, i)
			}
		}
		slices.Sort(out)
		return out
	}
	for _, key := range []string{group, res} {
		if i, ok := idx[s.v.Running[key]]; ok && s.v.Running[key] != "" {
			return []int{i}
		}
	}
	return nil
}

// failures is the fail count of res on node that still counts: failures
// older than failure-timeout are forgotten, as Pacemaker does.
func (s *scheduler) failures(p *prim, node string) int {
	fc := s.v.FailCounts[p.name][node]
	if fc <= 0 {
		return 0
	}
	if at, ok := s.v.FailedAt[p.name][node]; p.timeout > 0 && ok && !at.IsZero() {
		if int64(s.v.Now.Sub(at)) > p.timeout {
			return 0
		}
		if lapse := at.Add(time.Duration(p.timeout) + 1); s.until.IsZero() || lapse.Before(s.until) {
			s.until = lapse // this failure stops counting then
		}
	}
	return fc
}

// score fills u's own node scores: group-level locations and availability
// in own, each member's locations, stickiness and failure bans in mown.
func (s *scheduler) score(u *unit) {
	n := len(s.nodes)
	u.own, u.why, u.ban = make([]int, n), make([][]string, n), make([]bool, n)
	for i, node := range s.nodes {
		switch {
		case s.v.Standby[node]:
			u.why[i] = append(u.why[i], "node "+node+" is in standby")
		case s.v.Maintenance[node] || s.v.ClusterMaintenance:
			u.why[i] = append(u.why[i], "node "+node+" is in maintenance")
		}
	}
	s.locate(u.own, u.why, u.group)
	s.pingHeuristic(u.own, u.why)
	if u.clone != nil {
		s.locate(u.own, u.why, u.clone.Name)
	}
	for _, p := range u.members {
		sc, why := make([]int, n), make([][]string, n)
		if p.name != u.group {
			s.locate(sc, why, p.name)
		}
		// Pacemaker: only a managed resource running on one node is sticky.
		if p.managed && p.stickiness > 0 && len(p.active) == 1 && u.clone == nil {
			for _, i := range p.active {
				sc[i] = add(sc[i], p.stickiness)
			}
		}
		for i, node := range s.nodes {
			fc := s.failures(p, node)
			switch {
			case fc <= 0 && s.v.FailCounts[p.name][node] > 0:
				u.why[i] = append(u.why[i], p.name+" failed "+times(s.v.FailCounts[p.name][node])+" here, forgotten after failure-timeout "+time.Duration(p.timeout).String()+": +0")
				continue
			case fc <= 0:
				continue
			case p.threshold <= 0:
				// Shown so explain accounts for every fail count it was given.
				u.why[i] = append(u.why[i], p.name+" failed "+times(fc)+" here (no migration-threshold): +0")
				continue
			case fc < p.threshold:
				u.why[i] = append(u.why[i], p.name+" failed "+times(fc)+" here (migration-threshold "+strconv.Itoa(p.threshold)+"): +0")
				continue
			}
			u.ban[i] = true // Pacemaker bans the whole group
			if fc >= Infinity {
				u.why[i] = append(u.why[i], p.name+" failed to start here (fail count INFINITY)")
			} else {
				u.why[i] = append(u.why[i], p.name+" failed "+times(fc)+" here (migration-threshold "+strconv.Itoa(p.threshold)+"): -INFINITY")
			}
		}
		u.mown, u.mwhy = append(u.mown, sc), append(u.mwhy, why)
	}
}

// times says how often a resource failed: "once", "3 times".
func times(n int) string {
	if n == 1 {
		return "once"
	}
	return strconv.Itoa(n) + " times"
}

// pingHeuristic adds config.QuorumPingWeight per quorum.ping target a node
// reaches: a node that lost its uplink hands its groups to one that has it,
// while equal reach (both lost it) leaves stickiness to decide.
func (s *scheduler) pingHeuristic(sc []int, why [][]string) {
	targets := len(s.m.Quorum.Ping)
	if targets == 0 {
		return
	}
	for i, node := range s.nodes {
		v, ok := s.v.Attributes[node][config.QuorumPingAttr]
		c, err := strconv.Atoi(v)
		switch {
		case !ok || err != nil:
			why[i] = append(why[i], "quorum.ping: not measured on "+node+" yet: +0")
			continue
		case c > targets:
			c = targets
		case c < 0:
			c = 0
		}
		sc[i] = add(sc[i], c*config.QuorumPingWeight)
		why[i] = append(why[i], "quorum.ping: reaches "+strconv.Itoa(c)+" of "+strconv.Itoa(targets)+" targets: +"+strconv.Itoa(c*config.QuorumPingWeight))
	}
}

// locate adds the location constraints on target to sc.
func (s *scheduler) locate(sc []int, why [][]string, target string) {
	for i, node := range s.nodes {
		if s.v.Moves[target] == node {
			sc[i] = add(sc[i], Infinity)
			why[i] = append(why[i], "moved to "+node+" by the operator (tandem clear "+target+" undoes it): +INFINITY")
		}
		if slices.Contains(s.v.Bans[target], node) {
			sc[i] = add(sc[i], -Infinity)
			why[i] = append(why[i], "banned from "+node+" by the operator (tandem clear "+target+" undoes it): -INFINITY")
		}
	}
	for _, c := range s.locs[target] {
		for i, node := range s.nodes {
			if c.Rule != nil {
				if !matches(c.Rule, node, s.v.Attributes[node]) {
					continue
				}
				sc[i] = add(sc[i], c.Score)
				why[i] = append(why[i], "location "+target+" where "+c.Rule.Text+": "+config.FormatScore(c.Score))
			} else if c.Node == node {
				sc[i] = add(sc[i], c.Score)
				why[i] = append(why[i], "location "+target+" on "+node+": "+config.FormatScore(c.Score))
			}
		}
	}
}

// TargetStopped reports whether resource res is stopped by its target
// role: the operator's enable/disable (v.Roles) over its own, its group's
// and its clone's target_role, as Place weighs it. A group member so
// stopped stops the members after it too (Place leaves them out of
// Result.Members); nodes run only the members before it.
func TargetStopped(m *config.Model, v View, res string) bool {
	var r *config.Resource
	for i := range m.Resources {
		if m.Resources[i].Name == res {
			r = &m.Resources[i]
		}
	}
	for gi := range m.Groups {
		if g := &m.Groups[gi]; slices.Contains(g.Members, res) {
			p := &prim{name: res}
			(&scheduler{m: m, v: v}).settle(p, r, g, m.CloneOf(g.Name))
			return p.stopped
		}
	}
	return false
}

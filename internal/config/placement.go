package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Placement settings: Pacemaker's meta attributes, clones, rules,
// colocation and order constraints (docs/placement.md). Location
// constraints are in Model.Constraints.

// Target roles.
const (
	RoleStarted = "started"
	RoleStopped = "stopped"
)

// Meta holds a resource's, group's or clone's placement settings. A nil or
// empty field inherits: from the group (for a member), then Defaults.
type Meta struct {
	Stickiness         *int           // score added to the node it runs on
	MigrationThreshold *int           // failures on a node before it is banned there; NeverBan: never
	FailureTimeout     *time.Duration // a failure older than this is forgotten; 0: never
	TargetRole         string         // RoleStarted, RoleStopped or "" (inherit)
	Managed            *bool          // false: tandem neither starts nor stops it
}

// NeverBan is a migration threshold of 0 in the file: failures never ban a
// node (0 in a Model means the default, INFINITY).
const NeverBan = -1

// Clone runs copies of a resource or group on several nodes at once.
type Clone struct {
	Name    string
	Target  string // the resource (not in a group) or group that is cloned
	Max     int    // instances in all; the number of nodes unless set
	NodeMax int    // instances per node; default 1
	Meta    Meta
}

// Colocation places Dependent relative to With: with a positive score on
// With's node, with a negative one away from it; ±INFINITY are mandatory.
type Colocation struct {
	Dependent string // group, ungrouped resource or clone
	With      string
	Score     int
}

// Order starts Then after First; Symmetrical also stops Then before First.
// A mandatory order keeps Then stopped while First cannot run.
type Order struct {
	First, Then string
	Mandatory   bool
	Symmetrical bool
}

// NodeRule selects nodes by their attributes for a location constraint, like
// Pacemaker's rule expressions: "ping.gw.ok lt 1 or not_defined ping.gw.ok".
type NodeRule struct {
	Text  string // as written
	Or    bool   // clauses joined by "or"; otherwise by "and"
	Exprs []RuleExpr
}

// RuleExpr is one clause of a NodeRule: Attr Op Value, or defined/not_defined Attr.
type RuleExpr struct {
	Attr  string // a node attribute, or #uname (the node's name)
	Op    string // eq ne lt gt lte gte defined not_defined
	Value string
}

// AttrUname is the built-in attribute holding the node's name.
const AttrUname = "#uname"

// String renders a location constraint for people.
func (l Location) String() string {
	where := "node " + l.Node
	if l.Rule != nil {
		where = "nodes where " + l.Rule.Text
	}
	return fmt.Sprintf("%s on %s: %s", l.Target, where, FormatScore(l.Score))
}

// raw* mirror the YAML of this file's settings (see load.go).
type rawMeta struct {
	Stickiness         any    `yaml:"stickiness"`
	MigrationThreshold any    `yaml:"migration_threshold"`
	FailureTimeout     string `yaml:"failure_timeout"`
	TargetRole         string `yaml:"target_role"`
	Managed            *bool  `yaml:"managed"`
}

type rawClone struct {
	Name     string   `yaml:"name"`
	Resource string   `yaml:"resource"`
	Max      *int     `yaml:"max"`
	NodeMax  *int     `yaml:"node_max"`
	Meta     *rawMeta `yaml:"meta"`
}

// placement validates meta attributes, the defaults beyond stickiness and
// clones; it runs after groups and before constraints, which may name clones.
func (v *validator) placement(r *rawConfig, m *Model) {
	if t := r.Defaults.MigrationThreshold; t != nil {
		if n, ok := v.threshold("defaults.migration_threshold", t); ok {
			m.Defaults.MigrationThreshold = n
		}
	}
	m.Defaults.FailureTimeout = v.duration("defaults.failure_timeout", r.Defaults.FailureTimeout, 0, true)
	for i := range min(len(r.Resources), len(m.Resources)) {
		m.Resources[i].Meta = v.meta(fmt.Sprintf("resources[%d].meta", i), r.Resources[i].Meta)
	}
	for i := range min(len(r.Groups), len(m.Groups)) {
		m.Groups[i].Meta = v.meta(fmt.Sprintf("groups[%d].meta", i), r.Groups[i].Meta)
	}
	v.clones(r, m)
}

func (v *validator) meta(p string, r *rawMeta) Meta {
	var mt Meta
	if r == nil {
		return mt
	}
	if r.Stickiness != nil {
		if s, ok := scalar(r.Stickiness); ok {
			if n, err := ParseScore(s); err == nil {
				mt.Stickiness = &n
			} else {
				v.errf(p+".stickiness", "%v", err)
			}
		} else {
			v.errf(p+".stickiness", "must be a single value: a whole number or INFINITY")
		}
	}
	if r.MigrationThreshold != nil {
		if n, ok := v.threshold(p+".migration_threshold", r.MigrationThreshold); ok {
			mt.MigrationThreshold = &n
		}
	}
	if r.FailureTimeout != "" {
		d := v.duration(p+".failure_timeout", r.FailureTimeout, 0, true)
		mt.FailureTimeout = &d
	}
	switch strings.ToLower(r.TargetRole) {
	case "":
	case RoleStarted, RoleStopped:
		mt.TargetRole = strings.ToLower(r.TargetRole)
	default:
		v.errf(p+".target_role", "%q: allowed: started, stopped", r.TargetRole)
	}
	mt.Managed = r.Managed
	return mt
}

// threshold reads a migration threshold: a whole number ≥ 0 or INFINITY.
func (v *validator) threshold(p string, raw any) (int, bool) {
	s, ok := scalar(raw)
	n, err := ParseScore(s)
	if !ok || err != nil || n < 0 {
		v.errf(p, "%v: allowed: a whole number of failures ≥ 0 (0: never ban), or INFINITY (the default)", raw)
		return 0, false
	}
	if n == 0 {
		return NeverBan, true
	}
	return n, true
}

func (v *validator) clones(r *rawConfig, m *Model) {
	taken := map[string]bool{}
	for _, res := range m.Resources {
		taken[res.Name] = true
	}
	for _, g := range m.Groups {
		taken[g.Name] = true
	}
	cloned := map[string]string{}
	for i, c := range r.Clones {
		p := fmt.Sprintf("clones[%d]", i)
		if v.name(p+".name", "clone", c.Name) && taken[c.Name] {
			v.errf(p+".name", "%q is already the name of a resource, group or clone", c.Name)
		}
		taken[c.Name] = true
		cl := Clone{Name: c.Name, Target: c.Resource, Max: len(m.Nodes), NodeMax: 1, Meta: v.meta(p+".meta", c.Meta)}
		switch {
		case c.Resource == "":
			v.errf(p, "resource: RESOURCE_OR_GROUP is required: what runs on every node")
		case m.groupOf(c.Resource) != nil:
			v.errf(p+".resource", "%q is a member of group %q: clone the group", c.Resource, m.groupOf(c.Resource).Name)
		case m.group(c.Resource) == nil:
			v.errf(p+".resource", "no resource or group named %q", c.Resource)
		case cloned[c.Resource] != "":
			v.errf(p+".resource", "%q is already cloned by %q", c.Resource, cloned[c.Resource])
		default:
			for _, mem := range m.group(c.Resource).Members {
				if slices.ContainsFunc(m.Resources, func(r Resource) bool { return r.Name == mem && r.Kind == KindIP }) {
					v.errf(p+".resource", "%q is a floating IP address (%s), which lives on one node at a time: it cannot be cloned", c.Resource, mem)
					break
				}
			}
		}
		cloned[c.Resource] = c.Name
		if c.Max != nil {
			if *c.Max < 0 {
				v.errf(p+".max", "%d: allowed: 0 or more instances (default: one per node)", *c.Max)
			} else {
				cl.Max = *c.Max
			}
		}
		if c.NodeMax != nil {
			if *c.NodeMax < 1 {
				v.errf(p+".node_max", "%d: allowed: 1 or more instances per node (default 1)", *c.NodeMax)
			} else {
				cl.NodeMax = *c.NodeMax
			}
		}
		m.Clones = append(m.Clones, cl)
	}
}

// group finds the group (explicit or implicit) named name.
func (m *Model) group(name string) *Group {
	for i := range m.Groups {
		if m.Groups[i].Name == name {
			return &m.Groups[i]
		}
	}
	return nil
}

// groupOf finds the explicit group resource res is a member of.
func (m *Model) groupOf(res string) *Group {
	for i := range m.Groups {
		if !m.Groups[i].Implicit && slices.Contains(m.Groups[i].Members, res) {
			return &m.Groups[i]
		}
	}
	return nil
}

// CloneOf returns the clone of the group or resource name, if any.
func (m *Model) CloneOf(name string) *Clone {
	for i := range m.Clones {
		if m.Clones[i].Target == name {
			return &m.Clones[i]
		}
	}
	return nil
}

// isTarget reports whether a location constraint may name name.
func (m *Model) isTarget(name string) bool {
	return m.group(name) != nil || slices.ContainsFunc(m.Resources, func(r Resource) bool { return r.Name == name }) ||
		slices.ContainsFunc(m.Clones, func(c Clone) bool { return c.Name == name })
}

// relation validates a colocation or order constraint: both ends are
// groups, ungrouped resources or clones, since members follow their group.
func (v *validator) relation(p string, c rawConstraint, m *Model) {
	end := func(field, name string) bool {
		switch {
		case name == "":
			v.errf(p, "%s: NAME is required", field)
		case !m.isTarget(name):
			v.errf(p+"."+field, "no group, resource or clone named %q", name)
		case m.groupOf(name) != nil:
			v.errf(p+"."+field, "%q is a member of group %q: members go where their group goes, so constrain the group", name, m.groupOf(name).Name)
		case m.CloneOf(name) != nil:
			v.errf(p+"."+field, "%q is cloned by %q: constrain the clone", name, m.CloneOf(name).Name)
		default:
			return true
		}
		return false
	}
	if c.Node != "" || c.Rule != "" {
		v.errf(p, "node and rule belong to a location constraint")
	}
	if c.Colocation != "" {
		if c.Order != "" || c.Then != "" || c.Kind != "" || c.Symmetrical != nil {
			v.errf(p, "a colocation has colocation, with and score; order, then, kind and symmetrical belong to an order")
		}
		ok := end("colocation", c.Colocation) && end("with", c.With)
		if ok && c.Colocation == c.With {
			v.errf(p+".with", "%q cannot be colocated with itself", c.With)
			ok = false
		}
		s, sok := scalar(c.Score)
		score, err := ParseScore(s)
		switch {
		case !sok || s == "":
			v.errf(p+".score", "required: a whole number, INFINITY (always together) or -INFINITY (never together)")
		case err != nil:
			v.errf(p+".score", "%v", err)
		case ok:
			m.Colocations = append(m.Colocations, Colocation{Dependent: c.Colocation, With: c.With, Score: score})
		}
		return
	}
	if c.With != "" || c.Score != nil {
		v.errf(p, "an order has order, then, kind and symmetrical; with and score belong to a colocation")
	}
	ok := end("order", c.Order) && end("then", c.Then)
	if ok && c.Order == c.Then {
		v.errf(p+".then", "%q cannot be ordered after itself", c.Then)
		ok = false
	}
	o := Order{First: c.Order, Then: c.Then, Mandatory: true, Symmetrical: c.Symmetrical == nil || *c.Symmetrical}
	switch c.Kind {
	case "", "mandatory":
	case "optional":
		o.Mandatory = false
	default:
		v.errf(p+".kind", "%q: allowed: mandatory (the default: then starts only after order has, and stays stopped while order cannot run), optional (orders only actions that happen together)", c.Kind)
		ok = false
	}
	if ok {
		m.Orders = append(m.Orders, o)
	}
}

var (
	attrRe  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.:-]*$`)
	ruleOps = []string{"eq", "ne", "lt", "gt", "lte", "gte"}
)

// ParseNodeRule reads a rule: clauses joined by "and" or by "or" (not both),
// each "ATTR OP VALUE" with OP one of eq ne lt gt lte gte, or
// "defined ATTR" / "not_defined ATTR".
func ParseNodeRule(s string) (*NodeRule, error) {
	r := &NodeRule{Text: strings.Join(strings.Fields(s), " ")}
	toks := strings.Fields(s)
	joiner := ""
	for len(toks) > 0 {
		var e RuleExpr
		switch strings.ToLower(toks[0]) {
		case "defined", "not_defined":
			if len(toks) < 2 {
				return nil, fmt.Errorf("%q needs an attribute name after it", toks[0])
			}
			e, toks = RuleExpr{Op: strings.ToLower(toks[0]), Attr: toks[1]}, toks[2:]
		default:
			if len(toks) < 3 {
				return nil, fmt.Errorf("%q: write ATTRIBUTE OP VALUE, e.g. ping.gw.ok eq 1 (OP: %s), or defined/not_defined ATTRIBUTE", strings.Join(toks, " "), strings.Join(ruleOps, " "))
			}
			e = RuleExpr{Attr: toks[0], Op: strings.ToLower(toks[1]), Value: toks[2]}
			toks = toks[3:]
			if !slices.Contains(ruleOps, e.Op) {
				return nil, fmt.Errorf("%q is not an operator: allowed: %s, defined, not_defined", e.Op, strings.Join(ruleOps, " "))
			}
		}
		if strings.HasPrefix(e.Attr, "#") && e.Attr != AttrUname {
			return nil, fmt.Errorf("%q: the built-in attribute is #uname (the node's name)", e.Attr)
		}
		if !strings.HasPrefix(e.Attr, "#") && !attrRe.MatchString(e.Attr) {
			return nil, fmt.Errorf("%q is not an attribute name: letters, digits, '_', '.', ':' and '-'", e.Attr)
		}
		r.Exprs = append(r.Exprs, e)
		if len(toks) == 0 {
			break
		}
		j := strings.ToLower(toks[0])
		if j != "and" && j != "or" {
			return nil, fmt.Errorf("%q: clauses are joined by and or or", toks[0])
		}
		if joiner != "" && j != joiner {
			return nil, fmt.Errorf("mixes and with or: use one of them per rule (write two constraints for the other)")
		}
		joiner, r.Or = j, j == "or"
		toks = toks[1:]
		if len(toks) == 0 {
			return nil, fmt.Errorf("ends with %q: a clause must follow", j)
		}
	}
	if len(r.Exprs) == 0 {
		return nil, fmt.Errorf("empty rule: write e.g. ping.gw.ok eq 1")
	}
	return r, nil
}

// locationRule validates what a location constraint has besides its target
// and score: a node, or a rule (returned), and nothing of the other kinds.
func (v *validator) locationRule(p string, c rawConstraint) *NodeRule {
	if c.Colocation != "" || c.With != "" || c.Order != "" || c.Then != "" || c.Kind != "" || c.Symmetrical != nil {
		v.errf(p, "a location has location, node or rule, and score; colocation/with and order/then/kind/symmetrical are other constraints: write them as their own list item")
	}
	if c.Rule == "" {
		return nil
	}
	if c.Node != "" {
		v.errf(p+".node", "give node or rule, not both (a rule can say #uname eq %s)", c.Node)
	}
	r, err := ParseNodeRule(c.Rule)
	if err != nil {
		v.errf(p+".rule", "%v", err)
		return &NodeRule{Text: c.Rule} // matches nothing; the error stops the load anyway
	}
	return r
}

// placementLines describe colocations, orders and clones for config check.
func (m *Model) placementLines() []string {
	var out []string
	for _, c := range m.Colocations {
		out = append(out, fmt.Sprintf("colocation: %s with %s, score %s", c.Dependent, c.With, FormatScore(c.Score)))
	}
	for _, o := range m.Orders {
		kind := "mandatory"
		if !o.Mandatory {
			kind = "optional"
		}
		sym := ", stopped in reverse"
		if !o.Symmetrical {
			sym = ""
		}
		out = append(out, fmt.Sprintf("order: %s then %s (%s%s)", o.First, o.Then, kind, sym))
	}
	for _, c := range m.Clones {
		out = append(out, fmt.Sprintf("clone %s: %s on up to %d nodes, %d per node", c.Name, c.Target, c.Max, c.NodeMax))
	}
	return out
}

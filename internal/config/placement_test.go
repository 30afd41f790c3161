package config

import (
	"strings"
	"testing"
	"time"
)

const placementYAML = `cluster: t
key_file: /tmp/k
nodes:
  - {name: a, links: [198.18.0.10]}
  - {name: b, links: [198.18.0.11]}
resources:
  - {name: vip, type: exec, params: {daemon: x}, meta: {stickiness: 200, migration_threshold: 3}}
  - {name: svc, type: exec, params: {daemon: x}, meta: {failure_timeout: 1m, target_role: Stopped}}
  - {name: db, type: exec, params: {daemon: x}, meta: {managed: false}}
  - {name: ping, type: exec, params: {daemon: x}}
groups:
  - {name: voice, members: [vip, svc], meta: {stickiness: INFINITY}}
clones:
  - {name: ping-clone, resource: ping, node_max: 2}
defaults: {stickiness: 100, migration_threshold: 5, failure_timeout: 10m}
constraints:
  - {location: voice, rule: "ping.gw.ok lt 1 or not_defined ping.gw.ok", score: -INFINITY}
  - {location: db, node: a, score: 50}
  - {colocation: voice, with: ping-clone, score: INFINITY}
  - {colocation: db, with: voice, score: -100}
  - {order: ping-clone, then: voice}
  - {order: db, then: voice, kind: optional, symmetrical: false}
`

func TestPlacementConfig(t *testing.T) {
	m, err := Parse("t.yaml", []byte(placementYAML))
	if err != nil {
		t.Fatal(err)
	}
	d := m.Defaults
	if d.Stickiness != 100 || d.MigrationThreshold != 5 || NeverBan != -1 || d.FailureTimeout != 10*time.Minute {
		t.Errorf("defaults %+v", d)
	}
	vip, svc, db := m.Resources[0].Meta, m.Resources[1].Meta, m.Resources[2].Meta
	if *vip.Stickiness != 200 || *vip.MigrationThreshold != 3 || *svc.FailureTimeout != time.Minute || svc.TargetRole != RoleStopped || *db.Managed {
		t.Errorf("meta: vip %+v svc %+v db %+v", vip, svc, db)
	}
	if g := m.Groups[0].Meta; *g.Stickiness != ScoreInfinity {
		t.Errorf("group meta %+v", g)
	}
	if c := m.Clones; len(c) != 1 || c[0].Target != "ping" || c[0].Max != 2 || c[0].NodeMax != 2 || m.CloneOf("ping") == nil {
		t.Errorf("clones %+v", c)
	}
	r := m.Constraints[0].Rule
	if r == nil || !r.Or || len(r.Exprs) != 2 || r.Exprs[1] != (RuleExpr{Attr: "ping.gw.ok", Op: "not_defined"}) {
		t.Errorf("rule %+v", r)
	}
	if c := m.Colocations; len(c) != 2 || c[0] != (Colocation{"voice", "ping-clone", ScoreInfinity}) || c[1].Score != -100 {
		t.Errorf("colocations %+v", c)
	}
	if o := m.Orders; len(o) != 2 || o[0] != (Order{"ping-clone", "voice", true, true}) || o[1] != (Order{"db", "voice", false, false}) {
		t.Errorf("orders %+v", o)
	}
	if got := Check(m).String(); !strings.Contains(got, "location: voice avoids nodes where ping.gw.ok lt 1 or not_defined ping.gw.ok with score -INFINITY") ||
		!strings.Contains(got, "order: db then voice (optional)") || !strings.Contains(got, "clone ping-clone: ping on up to 2 nodes, 2 per node") ||
		strings.Count(got, "no node sets ping.gw.ok") != 1 {
		t.Errorf("check report:\n%s", got)
	}
}

// Every placement error names file:line:col, the field, and what is allowed.
func TestPlacementErrors(t *testing.T) {
	tests := []struct{ name, from, to, want string }{
		{"target role", "target_role: Stopped", "target_role: gone", `t.yaml:8:78: resources[1].meta.target_role: "gone": allowed: started, stopped`},
		{"threshold", "migration_threshold: 3", "migration_threshold: -1", `t.yaml:7:74: resources[0].meta.migration_threshold: -1: allowed: a whole number of failures ≥ 0`},
		{"failure timeout", "failure_timeout: 10m", "failure_timeout: soon", `defaults.failure_timeout: "soon" is not a duration`},
		{"stickiness", "stickiness: 200", "stickiness: lots", `resources[0].meta.stickiness: "lots": allowed: a whole number, INFINITY or -INFINITY`},
		{"unknown meta", "managed: false", "managed: false, priority: 1", `resources[2].meta: unknown field "priority"; allowed: stickiness, migration_threshold, failure_timeout, target_role, managed`},
		{"clone of member", "resource: ping,", "resource: vip,", `t.yaml:14:24: clones[0].resource: "vip" is a member of group "voice": clone the group`},
		{"clone of nothing", "resource: ping,", "resource: pong,", `clones[0].resource: no resource or group named "pong"`},
		{"clone name taken", "name: ping-clone", "name: db", `clones[0].name: "db" is already the name of a resource, group or clone`},
		{"clone node max", "node_max: 2", "node_max: 0", `clones[0].node_max: 0: allowed: 1 or more instances per node`},
		{"rule operator", "ping.gw.ok lt 1", "ping.gw.ok below 1", `t.yaml:17:23: constraints[0].rule: "below" is not an operator: allowed: eq ne lt gt lte gte, defined, not_defined`},
		{"rule mixes", "lt 1 or not_defined", "lt 1 and #uname eq a or not_defined", `constraints[0].rule: mixes and with or`},
		{"rule builtin", "ping.gw.ok lt 1 or", "#name lt 1 or", `constraints[0].rule: "#name": the built-in attribute is #uname`},
		{"rule and node", `rule: "ping`, `node: a, rule: "ping`, `constraints[0].node: give node or rule, not both`},
		{"colocation unknown", "with: ping-clone", "with: pong", `constraints[2].with: no group, resource or clone named "pong"`},
		{"colocation member", "colocation: db, with: voice", "colocation: db, with: vip", `constraints[3].with: "vip" is a member of group "voice": members go where their group goes, so constrain the group`},
		{"colocation of cloned", "colocation: voice, with: ping-clone", "colocation: voice, with: ping", `constraints[2].with: "ping" is cloned by "ping-clone": constrain the clone`},
		{"colocation score", "with: voice, score: -100", "with: voice", `constraints[3].score: required`},
		{"colocation self", "colocation: db, with: voice", "colocation: db, with: db", `constraints[3].with: "db" cannot be colocated with itself`},
		{"order kind", "kind: optional", "kind: serialize", `t.yaml:22:30: constraints[5].kind: "serialize": allowed: mandatory`},
		{"order needs then", "order: ping-clone, then: voice", "order: ping-clone", `constraints[4]: then: NAME is required`},
		{"mixed kinds", "order: db, then: voice,", "order: db, then: voice, score: 5,", `constraints[5]: an order has order, then, kind and symmetrical; with and score belong to a colocation`},
		{"location with order keys", "location: db, node: a,", "location: db, node: a, then: voice,", `constraints[1]: a location has location, node or rule, and score`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(placementYAML, tt.from) {
				t.Fatalf("test bug: %q not in the base config", tt.from)
			}
			_, err := Parse("t.yaml", []byte(strings.Replace(placementYAML, tt.from, tt.to, 1)))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error:\n%v\nwant it to contain:\n%s", err, tt.want)
			}
		})
	}
}

func TestCloneOfFloatingIPRefused(t *testing.T) {
	y := strings.Replace(placementYAML, "resource: ping,", "resource: vip2,", 1)
	y = strings.Replace(y, "resources:\n", "resources:\n  - {name: vip2, type: ip, params: {address: 198.18.0.100/24, interface: eth0}}\n", 1)
	_, err := Parse("t.yaml", []byte(y))
	if err == nil || !strings.Contains(err.Error(), `clones[0].resource: "vip2" is a floating IP address (vip2), which lives on one node at a time: it cannot be cloned`) {
		t.Fatalf("clone of an ip: %v", err)
	}
}

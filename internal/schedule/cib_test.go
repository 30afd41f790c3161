package schedule

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"tandem/internal/config"
)

// This file writes a Model and a View as Pacemaker CIB XML and reads back
// where crm_simulate puts every resource: the differential test and the
// benchmark comparison run both schedulers on the same case.

func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// CIB renders m and v as a CIB that Pacemaker 2.1 schedules like tandem
// would: Dummy resources, no fencing, quorum ignored.
func CIB(m *config.Model, v View) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w(`<cib admin_epoch="0" epoch="1" num_updates="1" have-quorum="true" validate-with="pacemaker-3.7">` + "\n<configuration>\n<crm_config><cluster_property_set id=\"o\">\n")
	w(`<nvpair id="o-st" name="stonith-enabled" value="false"/><nvpair id="o-nq" name="no-quorum-policy" value="ignore"/>`)
	if v.ClusterMaintenance {
		w(`<nvpair id="o-mm" name="maintenance-mode" value="true"/>`)
	}
	w("\n</cluster_property_set></crm_config>\n<nodes>\n")
	nodes := make([]string, 0, len(m.Nodes))
	for _, n := range m.Nodes {
		nodes = append(nodes, n.Name)
	}
	for i, n := range nodes {
		w(`<node id="%d" uname="%s"><instance_attributes id="na-%d">`, i+1, n, i+1)
		if v.Standby[n] {
			w(`<nvpair id="na-%d-sb" name="standby" value="on"/>`, i+1)
		}
		if v.Maintenance[n] {
			w(`<nvpair id="na-%d-mt" name="maintenance" value="on"/>`, i+1)
		}
		keys := make([]string, 0, len(v.Attributes[n]))
		for k := range v.Attributes[n] {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for j, k := range keys {
			w(`<nvpair id="na-%d-%d" name="%s" value="%s"/>`, i+1, j, esc(k), esc(v.Attributes[n][k]))
		}
		// quorum.ping is ocf:pacemaker:ping's pingd: multiplier × reachable
		// targets, used below as a score-attribute.
		if c, err := strconv.Atoi(v.Attributes[n][config.QuorumPingAttr]); err == nil && len(m.Quorum.Ping) > 0 {
			c = min(max(c, 0), len(m.Quorum.Ping))
			w(`<nvpair id="na-%d-qp" name="pingd" value="%d"/>`, i+1, c*config.QuorumPingWeight)
		}
		w("</instance_attributes></node>\n")
	}
	w("</nodes>\n<resources>\n")
	res := map[string]config.Resource{}
	for _, r := range m.Resources {
		res[r.Name] = r
	}
	prim := func(name string) {
		w(`<primitive id="%s" class="ocf" provider="heartbeat" type="Dummy">`, name)
		mt := res[name].Meta
		if r := v.Roles[name]; r != "" {
			mt.TargetRole = r // tandem disable/enable is crm_resource's target-role
		}
		cibMeta(&b, name, mt)
		w("</primitive>\n")
	}
	for _, g := range m.Groups {
		c := m.CloneOf(g.Name)
		if c != nil {
			w(`<clone id="%s"><meta_attributes id="%s-meta"><nvpair id="%s-cm" name="clone-max" value="%d"/><nvpair id="%s-cnm" name="clone-node-max" value="%d"/>`,
				c.Name, c.Name, c.Name, c.Max, c.Name, c.NodeMax)
			cm := c.Meta
			if r := v.Roles[c.Name]; r != "" {
				cm.TargetRole = r
			}
			cibMetaPairs(&b, c.Name, cm)
			w("</meta_attributes>\n")
		}
		if g.Implicit {
			prim(g.Members[0])
		} else {
			w(`<group id="%s">`, g.Name)
			gm := g.Meta
			if r := v.Roles[g.Name]; r != "" {
				gm.TargetRole = r
			}
			cibMeta(&b, g.Name, gm)
			for _, mem := range g.Members {
				prim(mem)
			}
			w("</group>\n")
		}
		if c != nil {
			w("</clone>\n")
		}
	}
	w("</resources>\n<rsc_defaults><meta_attributes id=\"rd\">")
	d := m.Defaults
	w(`<nvpair id="rd-st" name="resource-stickiness" value="%d"/>`, d.Stickiness)
	if d.MigrationThreshold != 0 {
		w(`<nvpair id="rd-mt" name="migration-threshold" value="%s"/>`, threshold(d.MigrationThreshold))
	}
	if d.FailureTimeout > 0 {
		w(`<nvpair id="rd-ft" name="failure-timeout" value="%ds"/>`, int(d.FailureTimeout.Seconds()))
	}
	w("</meta_attributes></rsc_defaults>\n<constraints>\n")
	for i, c := range m.Constraints {
		if c.Rule == nil {
			w(`<rsc_location id="loc%d" rsc="%s" node="%s" score="%s"/>`+"\n", i, c.Target, c.Node, config.FormatScore(c.Score))
			continue
		}
		op := "and"
		if c.Rule.Or {
			op = "or"
		}
		w(`<rsc_location id="loc%d" rsc="%s"><rule id="loc%d-r" score="%s" boolean-op="%s">`, i, c.Target, i, config.FormatScore(c.Score), op)
		for j, e := range c.Rule.Exprs {
			if e.Op == "defined" || e.Op == "not_defined" {
				w(`<expression id="loc%d-e%d" attribute="%s" operation="%s"/>`, i, j, esc(e.Attr), e.Op)
			} else {
				w(`<expression id="loc%d-e%d" attribute="%s" operation="%s" value="%s"/>`, i, j, esc(e.Attr), e.Op, esc(e.Value))
			}
		}
		w("</rule></rsc_location>\n")
	}
	if len(m.Quorum.Ping) > 0 {
		for _, g := range m.Groups {
			id := g.Name
			if c := m.CloneOf(g.Name); c != nil {
				id = c.Name
			}
			w(`<rsc_location id="qp-%s" rsc="%s"><rule id="qp-%s-r" score-attribute="pingd"><expression id="qp-%s-e" attribute="pingd" operation="defined"/></rule></rsc_location>`+"\n", id, id, id, id)
		}
	}
	// tandem move and ban are crm_resource's cli-prefer and cli-ban.
	for _, r := range slices.Sorted(maps.Keys(v.Moves)) {
		w(`<rsc_location id="cli-prefer-%s" rsc="%s" node="%s" score="INFINITY"/>`+"\n", r, r, v.Moves[r])
	}
	for _, r := range slices.Sorted(maps.Keys(v.Bans)) {
		for _, n := range v.Bans[r] {
			w(`<rsc_location id="cli-ban-%s-on-%s" rsc="%s" node="%s" score="-INFINITY"/>`+"\n", r, n, r, n)
		}
	}
	for i, c := range m.Colocations {
		w(`<rsc_colocation id="col%d" rsc="%s" with-rsc="%s" score="%s"/>`+"\n", i, c.Dependent, c.With, config.FormatScore(c.Score))
	}
	for i, o := range m.Orders {
		kind := "Mandatory"
		if !o.Mandatory {
			kind = "Optional"
		}
		w(`<rsc_order id="ord%d" first="%s" then="%s" kind="%s" symmetrical="%t"/>`+"\n", i, o.First, o.Then, kind, o.Symmetrical)
	}
	w("</constraints>\n</configuration>\n<status>\n")
	online := map[string]bool{}
	for _, n := range v.Online {
		online[n] = true
	}
	for i, n := range nodes {
		if !online[n] {
			w(`<node_state id="%d" uname="%s" in_ccm="false" crmd="offline" join="down" expected="down"/>`+"\n", i+1, n)
			continue
		}
		w(`<node_state id="%d" uname="%s" in_ccm="true" crmd="online" join="member" expected="member">`, i+1, n)
		w(`<transient_attributes id="%d"><instance_attributes id="st-%d">`, i+1, i+1)
		for _, r := range m.Resources {
			if fc := v.FailCounts[r.Name][n]; fc > 0 {
				w(`<nvpair id="st-%d-fc-%s" name="fail-count-%s" value="%s"/>`, i+1, r.Name, r.Name, config.FormatScore(fc))
				if at := v.FailedAt[r.Name][n]; !at.IsZero() {
					w(`<nvpair id="st-%d-lf-%s" name="last-failure-%s" value="%d"/>`, i+1, r.Name, r.Name, at.Unix())
				}
			}
		}
		w("</instance_attributes></transient_attributes>\n")
		w(`<lrm id="%d"><lrm_resources>`, i+1)
		for _, r := range m.Resources {
			if slices.Contains(activeNodes(m, v, r.Name), n) {
				w(`<lrm_resource id="%s" class="ocf" provider="heartbeat" type="Dummy"><lrm_rsc_op id="%s_last_0" operation_key="%s_start_0" operation="start" crm-debug-origin="tandem" crm_feature_set="3.16.1" transition-key="1:0:0:00000000-0000-0000-0000-000000000000" transition-magic="0:0;1:0:0:00000000-0000-0000-0000-000000000000" call-id="1" rc-code="0" op-status="0" interval="0" exec-time="0" queue-time="0" op-digest="f2317cad3d54cec5d7d7aa7d0bf35cf8" on_node="%s"/></lrm_resource>`,
					r.Name, r.Name, r.Name, n)
			} else {
				// A probe found it stopped: crm_simulate need not probe.
				w(`<lrm_resource id="%s" class="ocf" provider="heartbeat" type="Dummy"><lrm_rsc_op id="%s_last_0" operation_key="%s_monitor_0" operation="monitor" crm-debug-origin="tandem" crm_feature_set="3.16.1" transition-key="1:0:7:00000000-0000-0000-0000-000000000000" transition-magic="0:7;1:0:7:00000000-0000-0000-0000-000000000000" call-id="1" rc-code="7" op-status="0" interval="0" exec-time="0" queue-time="0" op-digest="f2317cad3d54cec5d7d7aa7d0bf35cf8" on_node="%s"/></lrm_resource>`,
					r.Name, r.Name, r.Name, n)
			}
		}
		w("</lrm_resources></lrm></node_state>\n")
	}
	w("</status>\n</cib>\n")
	return b.String()
}

func threshold(n int) string {
	if n == config.NeverBan {
		return "0"
	}
	return config.FormatScore(n)
}

func cibMeta(b *strings.Builder, id string, mt config.Meta) {
	fmt.Fprintf(b, `<meta_attributes id="%s-meta">`, id)
	cibMetaPairs(b, id, mt)
	b.WriteString("</meta_attributes>")
}

func cibMetaPairs(b *strings.Builder, id string, mt config.Meta) {
	if mt.Stickiness != nil {
		fmt.Fprintf(b, `<nvpair id="%s-st" name="resource-stickiness" value="%s"/>`, id, config.FormatScore(*mt.Stickiness))
	}
	if mt.MigrationThreshold != nil {
		fmt.Fprintf(b, `<nvpair id="%s-mt" name="migration-threshold" value="%s"/>`, id, threshold(*mt.MigrationThreshold))
	}
	if mt.FailureTimeout != nil {
		fmt.Fprintf(b, `<nvpair id="%s-ft" name="failure-timeout" value="%ds"/>`, id, int(mt.FailureTimeout.Seconds()))
	}
	if mt.TargetRole != "" {
		role := "Started"
		if mt.TargetRole == config.RoleStopped {
			role = "Stopped"
		}
		fmt.Fprintf(b, `<nvpair id="%s-tr" name="target-role" value="%s"/>`, id, role)
	}
	if mt.Managed != nil {
		fmt.Fprintf(b, `<nvpair id="%s-im" name="is-managed" value="%t"/>`, id, *mt.Managed)
	}
}

// pmResult is what crm_simulate ended with: resource → nodes where it runs.
type pmResult map[string][]string

type pmResource struct {
	ID    string `xml:"id,attr"`
	Role  string `xml:"role,attr"`
	Nodes []struct {
		Name string `xml:"name,attr"`
	} `xml:"node"`
}

type pmOutput struct {
	Revised struct {
		Resources struct {
			Inner []byte `xml:",innerxml"`
		} `xml:"resources"`
	} `xml:"revised_cluster_status"`
}

// crmSimulate runs crm_simulate on cib (at now) and reads the placement.
func crmSimulate(ctx context.Context, dir, cib string, now time.Time) (pmResult, error) {
	f := filepath.Join(dir, "cib.xml")
	if err := os.WriteFile(f, []byte(cib), 0o644); err != nil {
		return nil, err
	}
	args := []string{"-x", f, "-S", "--output-as=xml"}
	if !now.IsZero() {
		args = append(args, "-t", now.UTC().Format("2006-01-02 15:04:05Z"))
	}
	out, err := exec.CommandContext(ctx, "crm_simulate", args...).Output()
	if err != nil {
		return nil, fmt.Errorf("crm_simulate: %w\n%s", err, out)
	}
	var o pmOutput
	if err := xml.Unmarshal(out, &o); err != nil {
		return nil, fmt.Errorf("crm_simulate output: %w", err)
	}
	r := pmResult{}
	dec := xml.NewDecoder(bytes.NewReader(o.Revised.Resources.Inner))
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "resource" {
			continue
		}
		var pr pmResource
		if err := dec.DecodeElement(&pr, &se); err != nil {
			return nil, err
		}
		id, _, _ := strings.Cut(pr.ID, ":")
		if _, ok := r[id]; !ok {
			r[id] = []string{}
		}
		if pr.Role == "Started" {
			for _, n := range pr.Nodes {
				r[id] = append(r[id], n.Name)
			}
		}
	}
	for k := range r {
		slices.Sort(r[k])
	}
	return r, nil
}

// ours is tandem's placement in the same shape: resource → nodes.
func ours(m *config.Model, r Result) pmResult {
	out := pmResult{}
	for _, g := range m.Groups {
		for _, mem := range g.Members {
			switch c := m.CloneOf(g.Name); {
			case c != nil:
				out[mem] = slices.Clone(r.Clones[c.Name])
			case r.Members[mem] != "":
				out[mem] = []string{r.Members[mem]}
			default:
				out[mem] = []string{}
			}
			slices.Sort(out[mem])
		}
	}
	return out
}

// diff lists the resources the two placements disagree on.
func (a pmResult) diff(b pmResult) []string {
	var out []string
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Equal(a[k], b[k]) {
			out = append(out, k+": tandem "+strconv.Quote(strings.Join(a[k], " "))+", crm_simulate "+strconv.Quote(strings.Join(b[k], " ")))
		}
	}
	return out
}

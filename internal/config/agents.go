package config

import (
	"cmp"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// OCFParams name an OCF resource agent, /usr/lib/ocf/resource.d/PROVIDER/TYPE
// (written type: ocf:PROVIDER:TYPE, Pacemaker's class:provider:type), and
// its parameters. Load cannot know which parameters the agent takes: that
// is in the agent's meta-data, checked by ocf.Check (config check, agent start).
type OCFParams struct {
	Provider string            // e.g. heartbeat
	Type     string            // e.g. IPaddr2
	Params   map[string]string // as written; the agent sees each as OCF_RESKEY_<name>
}

// Agent is the agent's name as Pacemaker writes it: ocf:heartbeat:IPaddr2.
func (p OCFParams) Agent() string { return KindOCF + ":" + p.Provider + ":" + p.Type }

// Describe is the agent and its parameters: ocf:heartbeat:IPaddr2 ip=… nic=….
func (p OCFParams) Describe() string {
	s := p.Agent()
	for _, k := range slices.Sorted(maps.Keys(p.Params)) {
		s += " " + k + "=" + p.Params[k]
	}
	return s
}

// LSBParams name an init script (type: lsb:NAME).
type LSBParams struct {
	Name string
	Path string // /etc/init.d/NAME, unless params.path says otherwise
}

// LSBDir is where lsb:NAME's script is.
const LSBDir = "/etc/init.d"

var (
	// agentNameRe: a provider, an OCF type or an init script's name, each one
	// path component (no '/', not '.' or '..').
	agentNameRe = regexp.MustCompile(`^[A-Za-z0-9_+-][A-Za-z0-9_.+-]*$`)
	// ocfParamRe: parameters become environment variables OCF_RESKEY_<name>.
	ocfParamRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	lsbParams  = []string{"path"}
)

// ocfParams validates the agent part of type: ocf:PROVIDER:TYPE and the
// shape of the parameter names.
func (v *validator) ocfParams(p, typ, agent string, params map[string]string) *OCFParams {
	provider, name, ok := strings.Cut(agent, ":")
	if !ok || !agentNameRe.MatchString(provider) || !agentNameRe.MatchString(name) {
		v.errf(p+".type", "%q: write ocf:PROVIDER:TYPE, the agent /usr/lib/ocf/resource.d/PROVIDER/TYPE, e.g. ocf:heartbeat:IPaddr2", typ)
		return &OCFParams{Params: maps.Clone(params)}
	}
	for k := range params {
		switch {
		case !ocfParamRe.MatchString(k):
			v.errf(p+".params."+k, "not a parameter name: the agent gets it as OCF_RESKEY_%s, so letters, digits and '_' only", k)
		case strings.HasPrefix(k, "CRM_meta_"):
			v.errf(p+".params."+k, "CRM_meta_* are set by tandem (OCF_RESKEY_CRM_meta_timeout from the ops timeouts)")
		}
	}
	return &OCFParams{Provider: provider, Type: name, Params: maps.Clone(params)}
}

// lsbParams validates type: lsb:NAME and params.path.
func (v *validator) lsbParams(p, typ, name string, params map[string]string) *LSBParams {
	l := &LSBParams{Name: name, Path: filepath.Join(LSBDir, name)}
	if !agentNameRe.MatchString(name) {
		v.errf(p+".type", "%q: write lsb:NAME for the init script %s/NAME, e.g. lsb:dahdi", typ, LSBDir)
	}
	if path, ok := params["path"]; ok {
		if !filepath.IsAbs(path) {
			v.errf(p+".params.path", "%q: allowed: an absolute path to the init script", path)
		}
		l.Path = path
	}
	return l
}

// Sort puts the errors in file order.
func (es Errors) Sort() {
	slices.SortStableFunc(es, func(a, b Error) int {
		if c := cmp.Compare(a.Line, b.Line); c != 0 {
			return c
		}
		return cmp.Compare(a.Col, b.Col)
	})
}

// ErrorAt is an error located at field, a path like resources[1].params.ip
// (a field not written in the file is placed at its nearest written
// parent), for checks made after Load: an OCF agent's meta-data, whether an
// init script is installed. A Model not from Load has no positions.
func (m *Model) ErrorAt(field, format string, a ...any) Error {
	e := Error{File: m.Path, Field: field, Msg: fmt.Sprintf(format, a...)}
	if m.idx != nil {
		e.Line, e.Col = m.idx.pos(field)
	}
	return e
}

// SystemdParams are a systemd resource's: the unit, and the unit its
// drop-in binds it to (BindsTo=, so the service stops with the agent).
type SystemdParams struct {
	Unit string // nginx.service (a bare name gets .service)
	// BindsTo is the unit to bind to; empty: the service unit the agent
	// itself runs in, if any (binding to a unit that is not running would
	// make systemd start it along with this one).
	BindsTo string
	Unbound bool // binds_to: none
}

var systemdParams = []string{"unit", "binds_to"}

// systemdParams validates type: systemd:UNIT, or type: systemd with
// params.unit, and params.binds_to.
func (v *validator) systemdParams(p, typ, unit string, params map[string]string) *SystemdParams {
	field, shown := p+".type", typ
	if u, ok := params["unit"]; ok {
		if unit != "" && u != unit {
			v.errf(p+".params.unit", "%q: the type already names unit %q; write one of them", u, unit)
		}
		unit, field, shown = u, p+".params.unit", u
	}
	s := &SystemdParams{Unit: unit}
	if !strings.Contains(unit, ".") {
		s.Unit = unit + ".service"
	}
	if unit == "" || strings.ContainsAny(unit, "/ ") {
		v.errf(field, "%q: write systemd:UNIT, e.g. systemd:nginx or systemd:freeswitch.service, or type systemd with params.unit", shown)
	}
	switch b, ok := params["binds_to"]; {
	case !ok:
	case b == "none":
		s.Unbound = true
	case strings.Contains(b, ".") && !strings.ContainsAny(b, "/ "):
		s.BindsTo = b
	default:
		v.errf(p+".params.binds_to", "%q: allowed: a unit name such as tandem.service, or none", b)
	}
	return s
}

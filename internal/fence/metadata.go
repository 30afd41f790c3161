package fence

import (
	"context"
	"encoding/xml"
	"fmt"
	"slices"
	"strings"
)

// Meta is what an agent's metadata says: its parameters and actions.
type Meta struct {
	Agent   string
	Params  map[string]Param
	Actions []string
}

// Param is one parameter of an agent.
type Param struct {
	Required  bool
	Obsoletes string // an older name this one replaces (ip obsoletes ipaddr)
}

type xmlMeta struct {
	Name   string `xml:"name,attr"`
	Params []struct {
		Name      string `xml:"name,attr"`
		Required  string `xml:"required,attr"`
		Obsoletes string `xml:"obsoletes,attr"`
	} `xml:"parameters>parameter"`
	Actions []struct {
		Name string `xml:"name,attr"`
	} `xml:"actions>action"`
}

// ReadMetadata runs the agent's metadata action and parses it.
func ReadMetadata(ctx context.Context, path string) (Meta, error) {
	a := &Agent{DeviceName: path, Path: path}
	code, out, err := a.exec(ctx, "action=metadata\n")
	if err != nil || code != 0 {
		return Meta{}, fmt.Errorf("%s metadata: exit %d: %v", path, code, err)
	}
	return ParseMetadata(out)
}

// ParseMetadata parses an agent's metadata XML (warnings Python prints
// before it are skipped).
func ParseMetadata(out string) (Meta, error) {
	if i := strings.Index(out, "<?xml"); i > 0 {
		out = out[i:]
	} else if i := strings.Index(out, "<resource-agent"); i > 0 {
		out = out[i:]
	}
	var x xmlMeta
	if err := xml.Unmarshal([]byte(out), &x); err != nil {
		return Meta{}, fmt.Errorf("metadata: %w", err)
	}
	m := Meta{Agent: x.Name, Params: map[string]Param{}}
	for _, p := range x.Params {
		m.Params[p.Name] = Param{Required: p.Required == "1", Obsoletes: p.Obsoletes}
	}
	for _, a := range x.Actions {
		m.Actions = append(m.Actions, a.Name)
	}
	if len(m.Params) == 0 {
		return Meta{}, fmt.Errorf("metadata of %q lists no parameters", x.Name)
	}
	return m, nil
}

// Check reports the parameters the agent does not know and the required
// ones missing (action and plug are tandem's to set).
func (m Meta) Check(params map[string]string) []string {
	var probs []string
	known := map[string]bool{}
	for n, p := range m.Params {
		known[n] = true
		if p.Obsoletes != "" {
			known[p.Obsoletes] = true
		}
	}
	for _, k := range sortedKeys(params) {
		if !known[k] {
			probs = append(probs, fmt.Sprintf("%s: unknown parameter for %s; it takes: %s", k, m.Agent, strings.Join(m.names(), ", ")))
		}
	}
	for _, n := range m.names() {
		p := m.Params[n]
		if !p.Required || n == "action" || n == "plug" || n == "port" {
			continue
		}
		if _, ok := params[n]; ok {
			continue
		}
		if _, ok := params[p.Obsoletes]; ok && p.Obsoletes != "" {
			continue
		}
		probs = append(probs, fmt.Sprintf("%s: required by %s", n, m.Agent))
	}
	return probs
}

func (m Meta) names() []string {
	var ns []string
	for n := range m.Params {
		ns = append(ns, n)
	}
	slices.Sort(ns)
	return ns
}

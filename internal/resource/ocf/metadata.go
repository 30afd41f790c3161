package ocf

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"tandem/internal/config"
	"tandem/internal/resource/pgroup"
)

// MetaDataTimeout bounds one run of an agent's meta-data action.
const MetaDataTimeout = 5 * time.Second

// MetaData is what an agent's meta-data says about its parameters.
type MetaData struct {
	Name   string
	Params []Param // in the agent's order
}

// Param is one parameter an agent takes.
type Param struct {
	Name     string
	Required bool // the resource must set it
	Unique   bool // no two resources of this agent may set the same value
	Default  string
}

// Param returns the parameter called name, if the agent takes it.
func (md *MetaData) Param(name string) (Param, bool) {
	i := slices.IndexFunc(md.Params, func(p Param) bool { return p.Name == name })
	if i < 0 {
		return Param{}, false
	}
	return md.Params[i], true
}

// xmlAgent mirrors the part of ra-api-1.dtd we read.
type xmlAgent struct {
	XMLName xml.Name `xml:"resource-agent"`
	Name    string   `xml:"name,attr"`
	Params  []struct {
		Name     string `xml:"name,attr"`
		Required string `xml:"required,attr"`
		Unique   string `xml:"unique,attr"`
		Content  struct {
			Default string `xml:"default,attr"`
		} `xml:"content"`
	} `xml:"parameters>parameter"`
}

// xmlBool reads the DTD's booleans: "1" or "0" (OCF 1.1 also allows true/false, yes/no).
func xmlBool(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

// ParseMetaData reads an agent's meta-data XML.
func ParseMetaData(b []byte) (*MetaData, error) {
	var x xmlAgent
	if err := xml.Unmarshal(b, &x); err != nil {
		return nil, fmt.Errorf("meta-data is not resource-agent XML: %w", err)
	}
	md := &MetaData{Name: x.Name}
	for _, p := range x.Params {
		if p.Name == "" {
			continue
		}
		md.Params = append(md.Params, Param{Name: p.Name, Required: xmlBool(p.Required), Unique: xmlBool(p.Unique), Default: p.Content.Default})
	}
	return md, nil
}

// ReadMetaData runs the agent's meta-data action (at most
// MetaDataTimeout) and parses what it prints.
func ReadMetaData(ctx context.Context, root string, p config.OCFParams, log *slog.Logger) (*MetaData, error) {
	path := Path(root, p)
	ctx, cancel := context.WithTimeout(ctx, MetaDataTimeout)
	defer cancel()
	r, err := pgroup.Run(ctx, pgroup.Spec{Argv: []string{path, "meta-data"}, Env: baseEnv(root, p), Log: log, Op: "meta-data", Capture: true})
	if err != nil {
		return nil, fmt.Errorf("%s meta-data: %w", p.Agent(), execErr(err))
	}
	if r.Code != 0 {
		return nil, fmt.Errorf("%s meta-data: exit status %d", p.Agent(), r.Code)
	}
	md, err := ParseMetaData(r.Stdout)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.Agent(), err)
	}
	return md, nil
}

// Check reads the meta-data of every ocf resource's agent (once per agent)
// and returns what is wrong, located in m's file: an agent not installed
// here, a parameter the agent does not take, a required one not set, a
// unique one set to the same value as another resource of the agent.
// Load cannot do this (it runs nothing); `tandem config check` and the
// agent's start do. log receives what the agents print on stderr.
func Check(ctx context.Context, m *config.Model, log *slog.Logger) []config.Error {
	return check(ctx, m, DefaultRoot, log)
}

func check(ctx context.Context, m *config.Model, root string, log *slog.Logger) []config.Error {
	var errs []config.Error
	type mdErr struct {
		md  *MetaData
		err error
	}
	cache := map[string]mdErr{}
	type uniqueKey struct{ agent, param, value string }
	unique := map[uniqueKey]string{}
	for i, r := range m.Resources {
		if r.OCF == nil {
			continue
		}
		p := fmt.Sprintf("resources[%d]", i)
		agent := r.OCF.Agent()
		path := Path(root, *r.OCF)
		if st, err := os.Stat(path); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			msg := "not found"
			if err == nil {
				msg = "not an executable file"
			} else if !errors.Is(err, os.ErrNotExist) {
				msg = err.Error()
			}
			errs = append(errs, m.ErrorAt(p+".type", "%s is not installed here: %s: %s (Debian and Ubuntu: apt install resource-agents)", agent, path, msg))
			continue
		}
		c, ok := cache[path]
		if !ok {
			c.md, c.err = ReadMetaData(ctx, root, *r.OCF, log)
			cache[path] = c
		}
		if c.err != nil {
			errs = append(errs, m.ErrorAt(p+".type", "cannot check its params: %v", c.err))
			continue
		}
		var names []string
		for _, mp := range c.md.Params {
			names = append(names, mp.Name)
		}
		for _, k := range slices.Sorted(maps.Keys(r.OCF.Params)) {
			mp, ok := c.md.Param(k)
			if !ok {
				errs = append(errs, m.ErrorAt(p+".params."+k, "unknown parameter of %s%s; allowed: %s", agent, suggest(k, names), strings.Join(names, ", ")))
				continue
			}
			if mp.Unique {
				key := uniqueKey{agent, k, r.OCF.Params[k]}
				if other, dup := unique[key]; dup {
					errs = append(errs, m.ErrorAt(p+".params."+k, "%q is already %s's %s: %s declares %s unique", r.OCF.Params[k], other, k, agent, k))
				} else {
					unique[key] = r.Name
				}
			}
		}
		for _, mp := range c.md.Params {
			if _, set := r.OCF.Params[mp.Name]; mp.Required && !set {
				errs = append(errs, m.ErrorAt(p+".params", "%s requires parameter %q", agent, mp.Name))
			}
		}
	}
	return errs
}

// suggest names the parameter closest to a misspelt one, if any is close.
func suggest(k string, names []string) string {
	best, bestD := "", 3 // at most two edits away
	for _, n := range names {
		if d := editDistance(strings.ToLower(k), strings.ToLower(n)); d < bestD {
			best, bestD = n, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

package config

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// EventKinds are the names of the events the core raises (node.EventKind),
// in the order docs/alerts.md lists them. The config cannot import package
// node (node imports config), so the list lives here; a test in package node
// keeps the two equal.
var EventKinds = []string{
	"node_up", "node_down",
	"link_up", "link_down",
	"quorum_gained", "quorum_lost",
	"resource_started", "resource_stopped", "resource_failed",
	"group_moved", "split_brain_healed",
	"became_active", "became_backup",
	"node_fenced", "fence_failed", "fence_device_failed",
}

// DefaultAlertTimeout is how long a hook may run before it is killed
// (Pacemaker's alert timeout default).
const DefaultAlertTimeout = 30 * time.Second

// Alert is a hook program run on events, with the event in TANDEM_*
// environment variables (docs/alerts.md).
type Alert struct {
	Name    string
	Path    string        // absolute; existence is checked when the agent starts
	Timeout time.Duration // then the hook's whole process group is killed
	Events  []string      // the kinds it runs on; nil means every kind
	Env     []string      // extra environment, KEY=VALUE, sorted by key
}

// Wants reports whether the hook runs on events of kind.
func (a *Alert) Wants(kind string) bool {
	return a.Events == nil || slices.Contains(a.Events, kind)
}

type rawAlert struct {
	Name    string         `yaml:"name"`
	Path    string         `yaml:"path"`
	Timeout string         `yaml:"timeout"`
	Events  []string       `yaml:"events"`
	Env     map[string]any `yaml:"env"`
}

var envKeyRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (v *validator) alerts(r *rawConfig, m *Model) {
	seen := map[string]bool{}
	for i, ra := range r.Alerts {
		p := fmt.Sprintf("alerts[%d]", i)
		a := Alert{Name: ra.Name, Path: ra.Path}
		if v.name(p+".name", "alert", ra.Name) {
			if seen[ra.Name] {
				v.errf(p+".name", "alert %q is defined twice", ra.Name)
			}
			seen[ra.Name] = true
		}
		switch {
		case ra.Path == "":
			v.errf(p+".path", "required: the hook program, an absolute path like /etc/tandem/alerts/webhook.sh")
		case !filepath.IsAbs(ra.Path):
			v.errf(p+".path", "%q: allowed: an absolute path (the agent's working directory is not yours)", ra.Path)
		default:
			a.Path = filepath.Clean(ra.Path)
		}
		a.Timeout = v.duration(p+".timeout", ra.Timeout, DefaultAlertTimeout, false)
		if ra.Events != nil {
			if len(ra.Events) == 0 {
				v.errf(p+".events", "an empty list never runs the hook: leave events out for every kind, or list some of: %s", strings.Join(EventKinds, ", "))
			}
			a.Events = []string{}
			for j, k := range ra.Events {
				ep := fmt.Sprintf("%s.events[%d]", p, j)
				switch {
				case !slices.Contains(EventKinds, k):
					v.errf(ep, "%q is not an event; allowed: %s", k, strings.Join(EventKinds, ", "))
				case slices.Contains(a.Events, k):
					v.errf(ep, "%q is listed twice", k)
				default:
					a.Events = append(a.Events, k)
				}
			}
		}
		keys := make([]string, 0, len(ra.Env))
		for k := range ra.Env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ep := p + ".env." + k
			s, ok := scalar(ra.Env[k])
			switch {
			case !envKeyRe.MatchString(k):
				v.errf(ep, "%q is not a variable name: allowed: letters, digits and '_', not starting with a digit", k)
			case strings.HasPrefix(strings.ToUpper(k), "TANDEM_"):
				v.errf(ep, "TANDEM_* variables carry the event and are set by the agent: choose another name")
			case !ok:
				v.errf(ep, "must be a single value (a string or number), not a list or map")
			default:
				a.Env = append(a.Env, k+"="+s)
			}
		}
		m.Alerts = append(m.Alerts, a)
	}
}

package agent

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"tandem/internal/config"
)

// HostWarnings are config check's warnings about this machine, which the
// sans-IO config package cannot read: net.ipv4.ip_nonlocal_bind (or
// net.ipv6's) at 0 on a node that may run a group where FreeSWITCH binds
// the group's floating IP before the address is on the node (warm mode,
// or cold mode with FreeSWITCH before the ip resource): its profiles then
// fail to start. (Binding 0.0.0.0 instead is no way out: such a server
// answers from the node's own address, which clients locked to the
// floating IP drop.) self is this node's name; a machine that is not one
// of the nodes gets no warnings.
func HostWarnings(m *config.Model, self string) []string {
	return hostWarnings(m, self, func(name string) (string, error) {
		b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(name, ".", "/"))
		return strings.TrimSpace(string(b)), err
	})
}

func hostWarnings(m *config.Model, self string, sysctl func(name string) (string, error)) []string {
	if !slices.ContainsFunc(m.Nodes, func(n config.Node) bool { return n.Name == self }) {
		return nil
	}
	byName := map[string]config.Resource{}
	for _, r := range m.Resources {
		byName[r.Name] = r
	}
	var out []string
	warned := map[string]bool{}
	for _, g := range m.Groups {
		if bannedHere(m, g, self) {
			continue
		}
		// FreeSWITCH binds an address that is not here: always in warm mode
		// (it runs on the standby too), in cold mode when it starts before
		// the address is added.
		var fs []string
		var vips []config.Resource
		for _, name := range g.Members {
			switch r := byName[name]; {
			case r.FreeSWITCH != nil && (r.FreeSWITCH.Mode == config.FSWarm || len(vips) == 0):
				fs = append(fs, r.Name)
			case r.IP != nil:
				vips = append(vips, r)
			}
		}
		if len(fs) == 0 {
			continue
		}
		for _, v := range vips {
			key := "net.ipv4.ip_nonlocal_bind"
			if v.IP.Address.Addr().Is6() {
				key = "net.ipv6.ip_nonlocal_bind"
			}
			val, err := sysctl(key)
			switch {
			case err != nil:
				out = append(out, fmt.Sprintf("cannot read %s on %s (%v): FreeSWITCH (%s) binds the floating IP %s and needs it at 1",
					key, self, err, strings.Join(fs, ", "), v.IP.Address.Addr()))
			case val == "0" && !warned[key]:
				warned[key] = true
				out = append(out, fmt.Sprintf("%s is 0 on %s: FreeSWITCH (%s) cannot bind the floating IP %s while it is on the other node; set %s=1 (sysctl -w, and in /etc/sysctl.d) on every node",
					key, self, strings.Join(fs, ", "), v.IP.Address.Addr(), key))
			}
		}
	}
	return out
}

// bannedHere: a plain location constraint keeps g off self for good.
func bannedHere(m *config.Model, g config.Group, self string) bool {
	for _, c := range m.Constraints {
		if c.Node == self && c.Score <= -config.ScoreInfinity && (c.Target == g.Name || slices.Contains(g.Members, c.Target)) {
			return true
		}
	}
	return false
}

package schedule

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"tandem/internal/config"
)

// differentialCases is how many random configurations TestDifferential
// runs through both schedulers (about 20 ms each in crm_simulate).
const differentialCases = 150

// needCrmSimulate skips a test when Pacemaker's crm_simulate is missing.
func needCrmSimulate(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("crm_simulate"); err != nil {
		t.Skip("crm_simulate not installed (Debian: apt-get install pacemaker-cli-utils pacemaker; scripts/deps.sh does it): differential checks skipped")
	}
}

// allowList reads testdata/differential.allow: "CASE: reason" lines, CASE
// being "seed N" or "FILE:LINE" of a scenario, for the placements tandem
// knowingly makes differently from Pacemaker.
func allowList(t *testing.T) map[string]string {
	f, err := os.Open("testdata/differential.allow")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		k, why, ok := strings.Cut(l, ": ")
		if !ok || strings.TrimSpace(why) == "" {
			t.Fatalf("differential.allow: %q: write CASE: REASON", l)
		}
		out[k] = why
	}
	return out
}

// TestDifferential runs random small configurations in the supported
// subset through Place and crm_simulate: placements must match, or the
// case is in testdata/differential.allow with the reason.
func TestDifferential(t *testing.T) {
	needCrmSimulate(t)
	allow := allowList(t)
	dir := t.TempDir()
	used := map[string]bool{}
	for seed := 1; seed <= differentialCases; seed++ {
		m, v, src := randomCase(uint64(seed))
		got := ours(m, Place(m, v))
		want, err := crmSimulate(context.Background(), dir, CIB(m, v), v.Now)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		key := fmt.Sprintf("seed %d", seed)
		d := got.diff(want)
		switch {
		case len(d) == 0 && allow[key] != "":
			t.Errorf("%s matches Pacemaker now: remove it from differential.allow", key)
		case len(d) > 0 && allow[key] == "":
			t.Errorf("%s: placement differs from crm_simulate:\n  %s\nconfig:\n%s\nview: %s", key, strings.Join(d, "\n  "), src, viewString(v))
		}
		used[key] = true
	}
	for k := range allow {
		if strings.HasPrefix(k, "seed ") && !used[k] {
			t.Errorf("differential.allow lists %s, which is not run", k)
		}
	}
}

func viewString(v View) string {
	return fmt.Sprintf("online %v running %v active %v fail %v standby %v maintenance %v attrs %v", v.Online, v.Running, v.Active, v.FailCounts, v.Standby, v.Maintenance, v.Attributes)
}

// randomCase builds a small configuration and state from seed, in the
// subset both schedulers model the same way.
func randomCase(seed uint64) (*config.Model, View, string) {
	rng := rand.New(rand.NewPCG(seed, 0x7a6d))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	nn := 2 + rng.IntN(3)
	var nodes []string
	for i := range nn {
		nodes = append(nodes, fmt.Sprintf("n%d", i+1))
	}
	nr := 2 + rng.IntN(5)
	var res []string
	var b strings.Builder
	b.WriteString("resources:\n")
	for i := range nr {
		r := fmt.Sprintf("r%d", i+1)
		res = append(res, r)
		var meta []string
		switch rng.IntN(10) {
		case 0:
			meta = append(meta, "target_role: stopped")
		case 1:
			meta = append(meta, "managed: false")
		case 2:
			meta = append(meta, "stickiness: "+pick("0", "30", "200"))
		case 3:
			meta = append(meta, "migration_threshold: "+pick("1", "2", "3"))
		}
		fmt.Fprintf(&b, "  - {name: %s", r)
		if len(meta) > 0 {
			fmt.Fprintf(&b, ", meta: {%s}", strings.Join(meta, ", "))
		}
		b.WriteString("}\n")
	}
	// Units: the first resources may form a group; one later one a clone.
	var units []string
	grouped := map[string]bool{}
	if nr >= 3 && rng.IntN(2) == 0 {
		n := 2 + rng.IntN(2)
		fmt.Fprintf(&b, "groups: [{name: g1, members: [%s]}]\n", strings.Join(res[:n], ", "))
		units = append(units, "g1")
		for _, r := range res[:n] {
			grouped[r] = true
		}
	}
	cloned := ""
	for _, r := range res {
		if !grouped[r] {
			if cloned == "" && rng.IntN(4) == 0 {
				cloned = r
				fmt.Fprintf(&b, "clones: [{name: %s-clone, resource: %s", r, r)
				if rng.IntN(2) == 0 {
					fmt.Fprintf(&b, ", max: %d", 1+rng.IntN(nn))
				}
				if rng.IntN(3) == 0 {
					b.WriteString(", node_max: 2")
				}
				b.WriteString("}]\n")
				units = append(units, r+"-clone")
				continue
			}
			units = append(units, r)
		}
	}
	fmt.Fprintf(&b, "defaults: {stickiness: %s}\n", pick("0", "0", "50", "100"))
	b.WriteString("constraints:\n")
	scores := []string{"INFINITY", "-INFINITY", "100", "50", "-100", "20"}
	for range rng.IntN(4) {
		fmt.Fprintf(&b, "  - {location: %s, node: %s, score: %s}\n", pick(units...), pick(nodes...), pick(scores...))
	}
	if rng.IntN(3) == 0 {
		fmt.Fprintf(&b, "  - {location: %s, rule: \"%s\", score: %s}\n", pick(units...),
			pick("ping.gw.ok lt 1", "#uname eq "+pick(nodes...), "link.eth0.up eq 0 or not_defined link.eth0.up", "ping.gw.ok gte 1 and #uname ne "+pick(nodes...)), pick(scores...))
	}
	for range rng.IntN(3) {
		a, c := pick(units...), pick(units...)
		if a != c {
			fmt.Fprintf(&b, "  - {colocation: %s, with: %s, score: %s}\n", a, c, pick("INFINITY", "-INFINITY", "100", "-50"))
		}
	}
	for range rng.IntN(2) {
		a, c := pick(units...), pick(units...)
		if a != c {
			fmt.Fprintf(&b, "  - {order: %s, then: %s, kind: %s}\n", a, c, pick("mandatory", "optional"))
		}
	}
	src := b.String()
	m, err := scenarioConfig(nodes, src)
	if err != nil {
		panic(fmt.Sprintf("seed %d: %v\n%s", seed, err, src))
	}
	v := View{Now: epoch, Running: map[string]string{}, Active: map[string][]string{}, FailCounts: map[string]map[string]int{},
		FailedAt: map[string]map[string]time.Time{}, Attributes: map[string]map[string]string{}, Standby: map[string]bool{}, Maintenance: map[string]bool{}}
	for _, n := range nodes {
		if rng.IntN(6) > 0 || len(v.Online) == 0 {
			v.Online = append(v.Online, n)
		}
		v.Attributes[n] = map[string]string{"ping.gw.ok": pick("0", "1", "1"), "link.eth0.up": pick("0", "1", "1")}
	}
	if rng.IntN(4) == 0 {
		v.Standby[pick(v.Online...)] = true
	}
	if rng.IntN(10) == 0 {
		v.Maintenance[pick(v.Online...)] = true
	}
	for _, u := range units {
		switch {
		case strings.HasSuffix(u, "-clone"):
			var on []string
			for _, n := range v.Online {
				if rng.IntN(2) == 0 {
					on = append(on, n)
				}
			}
			v.Active[strings.TrimSuffix(u, "-clone")] = on
		case rng.IntN(2) == 0:
			v.Running[u] = pick(v.Online...)
		}
	}
	for range rng.IntN(3) {
		r, n := pick(res...), pick(nodes...)
		if v.FailCounts[r] == nil {
			v.FailCounts[r], v.FailedAt[r] = map[string]int{}, map[string]time.Time{}
		}
		v.FailCounts[r][n] = 1 + rng.IntN(3)
		v.FailedAt[r][n] = epoch.Add(-time.Duration(rng.IntN(600)) * time.Second)
	}
	return m, v, src
}

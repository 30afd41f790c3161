package schedule

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"tandem/internal/config"
)

// benchCase builds the benchmark's cluster: n resources on 32 nodes, half
// of them in groups of five, a location constraint on every other unit, a
// colocation and an order on every tenth, half of the units running.
func benchCase(n int) (*config.Model, View) {
	rng := rand.New(rand.NewPCG(uint64(n), 4))
	m := &config.Model{Defaults: config.Defaults{Stickiness: 100}}
	var nodes []string
	for i := range 32 {
		name := fmt.Sprintf("node%02d", i+1)
		nodes = append(nodes, name)
		m.Nodes = append(m.Nodes, config.Node{Name: name})
	}
	v := View{Online: nodes, Running: map[string]string{}}
	for i := range n {
		m.Resources = append(m.Resources, config.Resource{Name: fmt.Sprintf("r%05d", i)})
	}
	for g := range n / 10 {
		grp := config.Group{Name: fmt.Sprintf("g%04d", g)}
		for j := range 5 {
			grp.Members = append(grp.Members, m.Resources[g*5+j].Name)
		}
		m.Groups = append(m.Groups, grp)
	}
	for _, r := range m.Resources[n/2:] {
		m.Groups = append(m.Groups, config.Group{Name: r.Name, Members: []string{r.Name}, Implicit: true})
	}
	for i, g := range m.Groups {
		if i%2 == 0 {
			m.Constraints = append(m.Constraints, config.Location{Target: g.Name, Node: nodes[rng.IntN(32)], Score: 10 + rng.IntN(500)})
		}
		if i%10 == 5 {
			m.Colocations = append(m.Colocations, config.Colocation{Dependent: g.Name, With: m.Groups[i-1].Name, Score: 100})
			m.Orders = append(m.Orders, config.Order{First: m.Groups[i-2].Name, Then: g.Name, Mandatory: true, Symmetrical: true})
		}
		if rng.IntN(2) == 0 {
			v.Running[g.Name] = nodes[rng.IntN(32)]
		}
	}
	return m, v
}

// BenchmarkPlace measures one placement of 100, 1,000 and 10,000
// resources on 32 nodes (docs/benchmarks.md has the numbers and how they
// compare with crm_simulate: scripts/schedule-bench.sh).
func BenchmarkPlace(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("resources=%d", n), func(b *testing.B) {
			m, v := benchCase(n)
			b.ReportAllocs()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for b.Loop() {
				Place(m, v)
			}
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/(1<<20), "MB/placement")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/resource")
		})
	}
}

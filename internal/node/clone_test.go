package node

import (
	"slices"
	"testing"
	"time"

	"tandem/internal/config"
)

func cloneModel(max int) *config.Model {
	m := testModel(100, 50)
	ops := m.Resources[1].Ops
	m.Resources = append(m.Resources, config.Resource{Name: "mon", Kind: config.KindExec, Ops: ops, Exec: &config.ExecParams{Daemon: "m"}})
	m.Groups = append(m.Groups, config.Group{Name: "mon", Members: []string{"mon"}, Implicit: true})
	m.Clones = []config.Clone{{Name: "mon-clone", Target: "mon", Max: max, NodeMax: 1}}
	return m
}

// A clone runs an instance on every node at once (no S1 between them),
// follows node death and return, and shows its instances in status.
func TestCloneRunsOnEveryNode(t *testing.T) {
	p := newPair(t, cloneModel(2))
	p.run(2 * time.Second)
	p.expect("mon", "a,b")
	p.expect("vip", "a")
	st := p.nodes["b"].Status()
	g := st.Groups[1]
	if g.Clone != "mon-clone" || !slices.Equal(g.Instances, []string{"a", "b"}) || !slices.Equal(g.Targets, []string{"a", "b"}) || g.Owner != "" {
		t.Fatalf("status of the clone: %+v", g)
	}
	if st.DC != "a" {
		t.Fatalf("DC %q: a clone must not make its first instance's node the DC", st.DC)
	}
	p.admin("a", Admin{Op: AdminStandby, Node: "b"})
	p.run(500 * time.Millisecond)
	p.expect("mon", "a")
	p.admin("a", Admin{Op: AdminOnline, Node: "b"})
	p.run(500 * time.Millisecond)
	p.expect("mon", "a,b")
	p.crash("a", true)
	p.run(2 * time.Second)
	p.expect("mon", "b")
	p.expect("vip", "b")
	for _, e := range p.events {
		if e == "b group_moved mon a" {
			t.Fatalf("a clone instance reported as moved: %v", p.events)
		}
	}
}

// max 1: one instance in the cluster, and it moves like a group.
func TestCloneMaxOne(t *testing.T) {
	p := newPair(t, cloneModel(1))
	p.run(2 * time.Second)
	p.expect("mon", "b") // a carries voice: the instance goes where the load is less
	if p.logged("a: start mon") {
		t.Fatalf("a started an instance of a clone with max 1:\n%s", p.tail())
	}
	p.admin("a", Admin{Op: AdminBan, Resource: "mon-clone", Node: "b"})
	p.run(500 * time.Millisecond)
	p.expect("mon", "a")
}

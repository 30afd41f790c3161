package node

import (
	"maps"
	"testing"
	"time"

	"tandem/internal/schedule"
)

// The core hands the agent one scheduler input per change, not one per
// tick, and the newest replays to the placement the node acts on: what
// tandem simulate starts from is what the node really placed with.
func TestSavedInputsOnePerChange(t *testing.T) {
	p := newPair(t, testModel(100, 50))
	p.run(2 * time.Second)
	p.expect("vip", "a")
	settled := len(p.placed["a"])
	if settled == 0 {
		t.Fatal("a handed over no scheduler input while starting the group")
	}
	p.run(2 * time.Second) // 2000 ticks, the clock moving, nothing else
	if got := len(p.placed["a"]); got != settled {
		t.Fatalf("a handed over %d inputs in a quiet second and more, want none", got-settled)
	}
	p.admin("b", Admin{Op: AdminStandby, Node: "a"})
	p.run(300 * time.Millisecond)
	p.expect("vip", "b")
	in := p.placed["a"]
	if len(in) == settled {
		t.Fatal("standby of a handed over no new input")
	}
	for i := 1; i < len(in); i++ {
		if schedule.SameInput(in[i-1], in[i]) {
			t.Fatalf("inputs %d and %d are the same: %+v", i-1, i, in[i])
		}
	}
	last := in[len(in)-1]
	if !last.Standby["a"] {
		t.Fatalf("newest input does not have a in standby: %+v", last)
	}
	if got, want := schedule.Place(p.m, last).Placement, p.nodes["a"].placement.Placement; !maps.Equal(got, want) {
		t.Fatalf("newest input places %v, the node placed %v", got, want)
	}
	t.Logf("a handed over %d inputs: %d while starting, %d for the standby", len(in), settled, len(in)-settled)
}

// In majority mode the DC places: its input is the one saved and the one
// explain reads as the placer's; a follower hands over none and says so.
func TestMajoritySchedulerInputIsTheDCs(t *testing.T) {
	p := newMajorityPair(t)
	p.run(6 * time.Second)
	p.expect("vip", "a")
	if _, placer := p.nodes["a"].SchedulerInput(); !placer {
		t.Fatal("a, the DC, is not the placer")
	}
	if _, placer := p.nodes["b"].SchedulerInput(); placer {
		t.Fatal("b, a follower, claims to place")
	}
	if len(p.placed["a"]) == 0 || len(p.placed["b"]) != 0 {
		t.Fatalf("inputs handed over: a %d, b %d; want some on the DC only", len(p.placed["a"]), len(p.placed["b"]))
	}
	in := p.placed["a"][len(p.placed["a"])-1]
	if got, want := schedule.Place(p.m, in).Placement, p.nodes["a"].placement.Placement; !maps.Equal(got, want) {
		t.Fatalf("the DC's newest input places %v, it placed %v", got, want)
	}
}

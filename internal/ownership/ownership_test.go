package ownership

import (
	"testing"

	"tandem/internal/wire"
)

func group(states ...wire.ResState) *Group {
	g := &Group{Name: "voice"}
	names := []string{"vip", "dahdi", "fs"}
	for i, s := range states {
		g.Members = append(g.Members, &Member{Name: names[i], IsIP: i == 0, State: s})
	}
	return g
}

const (
	stopped = wire.ResStopped
	running = wire.ResRunning
	failed  = wire.ResFailed
	unknown = wire.ResUnknown
	blocked = wire.ResBlocked
)

func TestNext(t *testing.T) {
	tests := []struct {
		name      string
		g         *Group
		want      bool
		mayStart  bool
		wantOp    Op
		wantRes   string
		wantClaim bool
	}{
		{"claim starts first member", group(stopped, stopped, stopped), true, true, OpStart, "vip", true},
		{"then the next in order", group(running, stopped, stopped), true, true, OpStart, "dahdi", false},
		{"held while a peer holds it", group(stopped, stopped, stopped), true, false, 0, "", false},
		{"placed elsewhere stops the last first", group(running, running, running), false, true, OpStop, "fs", false},
		{"then the middle", group(running, running, stopped), false, true, OpStop, "dahdi", false},
		{"recovery stops after the failed member first", group(running, failed, running), true, true, OpStop, "fs", false},
		{"then the failed member", group(running, failed, stopped), true, true, OpStop, "dahdi", false},
		{"then starts again", group(running, stopped, stopped), true, true, OpStart, "dahdi", false},
		{"gap closes before starting", group(running, stopped, running), true, true, OpStop, "fs", false},
		{"probe pending: wait", group(unknown, stopped, stopped), true, true, 0, "", false},
		{"blocked: do nothing", group(running, blocked, stopped), false, true, 0, "", false},
		{"all running: nothing", group(running, running, running), true, true, 0, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, ok := tt.g.Next(tt.want, tt.mayStart)
			if tt.wantOp == 0 {
				if ok {
					t.Fatalf("got %s %s, want nothing", st.Op, st.Member.Name)
				}
				return
			}
			if !ok || st.Op != tt.wantOp || st.Member.Name != tt.wantRes || st.Claim != tt.wantClaim {
				t.Fatalf("got ok=%v %+v, want %s %s claim=%v", ok, st, tt.wantOp, tt.wantRes, tt.wantClaim)
			}
		})
	}
}

func TestDemoteStopsAddressesFirst(t *testing.T) {
	g := group(running, running, running)
	g.Demote = true
	var order []string
	for range 4 {
		st, ok := g.Next(true, true)
		if !ok {
			break
		}
		order = append(order, st.Member.Name)
		st.Member.Dispatched(st.Op) // none has returned yet: the stops go out together
	}
	if got := order; len(got) != 3 || got[0] != "vip" || got[1] != "fs" || got[2] != "dahdi" {
		t.Fatalf("demote order %v, want [vip fs dahdi]: addresses first, then the rest in reverse, all at once", got)
	}
}

func TestDemoteWithBlockedMemberStillDropsAddresses(t *testing.T) {
	g := group(running, blocked, stopped)
	g.Demote = true
	st, ok := g.Next(true, true)
	if !ok || st.Op != OpStop || st.Member.Name != "vip" {
		t.Fatalf("got ok=%v %+v, want stop vip", ok, st)
	}
	g.Demote = false
	if st, ok := g.Next(false, true); ok {
		t.Fatalf("blocked group placed elsewhere did %s %s, want nothing", st.Op, st.Member.Name)
	}
}

func TestDemoteDoesNotWaitForOtherMembers(t *testing.T) {
	g := group(running, stopped, stopped)
	g.Members[1].State, g.Members[1].Busy = wire.ResStarting, true
	g.Demote = true
	if st, ok := g.Next(true, true); !ok || st.Op != OpStop || st.Member.Name != "vip" {
		t.Fatalf("got ok=%v %+v, want stop vip at once", ok, st)
	}
}

func TestFinished(t *testing.T) {
	m := &Member{Name: "fs", State: stopped}
	m.Dispatched(OpStart)
	if !m.Busy || m.State != wire.ResStarting {
		t.Fatal("dispatch did not mark starting")
	}
	if !m.Finished(OpStart, Outcome{Err: "exit 1"}) || m.State != failed {
		t.Fatal("failed start not reported")
	}
	m.Dispatched(OpStop)
	m.Finished(OpStop, Outcome{Err: "timed out"})
	if m.State != blocked {
		t.Fatal("failed stop must block")
	}
	m = &Member{Name: "fs", State: running}
	m.Finished(OpMonitor, Outcome{Stopped: true})
	if m.State != failed {
		t.Fatal("monitor finding it stopped must fail it")
	}
	m = &Member{Name: "fs", State: unknown}
	m.Finished(OpProbe, Outcome{Running: true})
	if m.State != running {
		t.Fatal("probe must adopt a running resource")
	}
}

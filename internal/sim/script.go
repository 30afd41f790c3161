package sim

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"tandem/internal/config"
	"tandem/internal/node"
)

// A script is a fault schedule written out, so a bug the random generator
// once found replays from a readable file (internal/sim/testdata) without it:
// no loss, duplication, jitter, clock skew or random faults; operations take
// 5 ms; only what the script says happens. One line per fault:
//
//	AT isolate N FOR      N cut from every other member, both ways
//	AT cut A B FOR        A and B cut from each other, both ways
//	AT oneway A B FOR     A → B cut
//	AT delay A B D FOR    A ⇄ B delayed by D
//	AT pause N FOR        N's agent frozen
//	AT pausereply N FOR   N frozen right after its next quorum message
//	AT crash N            the machine dies (restarts 1 s later)
//	AT kill N             the agent dies, addresses stay (restarts 1 s later)
//	AT stop N             SIGTERM: a graceful stop (restarts 1 s later)
//	AT slowstop N D       from now on every stop on N takes D
//	AT fail N OP RES      N's next OP (start, stop, monitor) of RES fails
//	AT hang N OP RES      N's next OP of RES hangs until its timeout
//	AT admin N OP ARGS    the operator's instruction on N: standby NODE,
//	                      online NODE, maintenance-on [NODE], move RES NODE,
//	                      ban RES NODE, clear RES, cleanup RES [NODE],
//	                      enable RES, disable RES
//
// The cluster: the layout's members, one link, groups voice (vip, svc)
// preferring a with 50 and vip2 (an address alone) preferring b with 100,
// stickiness 100, stop timeouts 2 s.

// scriptOp is one parsed script line.
type scriptOp struct {
	at   time.Duration
	verb string
	args []string
	dur  time.Duration // FOR, or D for delay
	dur2 time.Duration // FOR of delay
}

func parseScript(lines []string, names []string) ([]scriptOp, error) {
	var ops []scriptOp
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		bad := func(why string) error { return fmt.Errorf("script line %d %q: %s", i+1, l, why) }
		if len(f) < 3 {
			return nil, bad("want AT VERB ARGS")
		}
		at, err := time.ParseDuration(f[0])
		if err != nil {
			return nil, bad(err.Error())
		}
		op := scriptOp{at: at, verb: f[1]}
		if op.verb == "admin" {
			if !slices.Contains(names, f[2]) {
				return nil, bad(fmt.Sprintf("no member %q (members: %s)", f[2], strings.Join(names, ", ")))
			}
			if len(f) < 4 {
				return nil, bad("want AT admin N OP ARGS")
			}
			op.args = f[2:]
			ops = append(ops, op)
			continue
		}
		want := map[string]int{"isolate": 1, "cut": 2, "oneway": 2, "delay": 2, "pause": 1, "pausereply": 1, "crash": 1, "kill": 1, "stop": 1, "slowstop": 1, "fail": 3, "hang": 3}
		durs := map[string]int{"isolate": 1, "cut": 1, "oneway": 1, "delay": 2, "pause": 1, "pausereply": 1, "slowstop": 1}
		n, ok := want[op.verb]
		if !ok {
			return nil, bad("unknown verb")
		}
		if len(f) != 2+n+durs[op.verb] {
			return nil, bad(fmt.Sprintf("%s takes %d names and %d durations", op.verb, n, durs[op.verb]))
		}
		op.args = f[2 : 2+n]
		members := op.args
		if op.verb == "fail" || op.verb == "hang" {
			members = op.args[:1]
			if !slices.Contains([]string{"start", "stop", "monitor"}, op.args[1]) {
				return nil, bad(fmt.Sprintf("operation %q: allowed: start, stop, monitor", op.args[1]))
			}
			if !slices.Contains([]string{"vip", "svc", "vip2"}, op.args[2]) {
				return nil, bad(fmt.Sprintf("no resource %q (resources: vip, svc, vip2)", op.args[2]))
			}
		}
		for _, a := range members {
			if !slices.Contains(names, a) {
				return nil, bad(fmt.Sprintf("no member %q (members: %s)", a, strings.Join(names, ", ")))
			}
		}
		for j, d := range f[2+n:] {
			v, err := time.ParseDuration(d)
			if err != nil {
				return nil, bad(err.Error())
			}
			if j == 0 {
				op.dur = v
			} else {
				op.dur2 = v
			}
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// scriptModel is the fixed cluster of a scripted run.
func (s *Sim) scriptModel() *config.Model {
	p := s.opt.Profile
	m := &config.Model{Path: "script.yaml", Cluster: "sim", Port: 694, Hash: 1,
		Timing: config.Timing{Keepalive: p.Keepalive, Warntime: p.Warntime, Deadtime: p.Deadtime, Initdead: p.Initdead, Lease: p.Lease},
		Quorum: config.Quorum{Mode: config.ModeTwoNode, WaitForAll: true}}
	names, witnesses := layoutMembers(s.opt.Layout)
	if s.opt.Layout.Majority() {
		m.Quorum = config.Quorum{Mode: config.ModeMajority}
	}
	for i, n := range slices.Concat(names, witnesses) {
		nd := config.Node{Name: n, Voter: true, Links: []netip.Addr{netip.AddrFrom4([4]byte{198, 18, 0, byte(10 + i)})}}
		if i < len(names) {
			m.Nodes = append(m.Nodes, nd)
		} else {
			m.Witnesses = append(m.Witnesses, nd)
		}
	}
	ops := config.Ops{StartTimeout: 2 * time.Second, StopTimeout: 2 * time.Second, MonitorInterval: time.Second, MonitorTimeout: time.Second}
	m.Resources = []config.Resource{
		{Name: "vip", Kind: config.KindIP, Ops: ops, IP: &config.IPParams{ARPCount: 1, ARPInterval: time.Millisecond}},
		{Name: "svc", Kind: config.KindExec, Ops: ops, Exec: &config.ExecParams{Daemon: "svc"}},
		{Name: "vip2", Kind: config.KindIP, Ops: ops, IP: &config.IPParams{ARPCount: 1, ARPInterval: time.Millisecond}},
	}
	m.Groups = []config.Group{{Name: "voice", Members: []string{"vip", "svc"}}, {Name: "vip2", Members: []string{"vip2"}, Implicit: true}}
	m.Constraints = []config.Location{{Target: "voice", Node: "a", Score: 50}, {Target: "vip2", Node: "b", Score: 100}}
	m.Defaults.Stickiness = 100
	return m
}

func layoutMembers(l Layout) (names, witnesses []string) {
	switch l {
	case Witness:
		return []string{"a", "b"}, []string{"w"}
	case Three:
		return []string{"a", "b", "c"}, nil
	case Five:
		return []string{"a", "b", "c", "d", "e"}, nil
	}
	return []string{"a", "b"}, nil
}

// scheduleScript turns the script into fault events.
func (s *Sim) scheduleScript(ops []scriptOp) {
	for _, op := range ops {
		s.push(&event{at: op.at, kind: evFault, fault: func() { s.runOp(op) }})
	}
}

func (s *Sim) runOp(op scriptOp) {
	idx := func(name string) int { return s.peerIndex(name) }
	block := func(from, to int, on bool) {
		for l := range s.blocked[from][to] {
			s.blocked[from][to][l] = on
		}
	}
	later := func(d time.Duration, what string, fn func()) {
		s.push(&event{at: s.now + d, kind: evFault, fault: func() { fn(); s.lastHeal = s.now; s.logf("%s ends", what) }})
	}
	what := op.verb + " " + strings.Join(op.args, " ")
	s.logf("script: %s", what)
	switch op.verb {
	case "isolate":
		i := idx(op.args[0])
		for j := range s.nodes {
			if j != i {
				block(i, j, true)
				block(j, i, true)
			}
		}
		later(op.dur, what, func() {
			for j := range s.nodes {
				block(i, j, false)
				block(j, i, false)
			}
		})
	case "cut":
		i, j := idx(op.args[0]), idx(op.args[1])
		block(i, j, true)
		block(j, i, true)
		later(op.dur, what, func() { block(i, j, false); block(j, i, false) })
	case "oneway":
		i, j := idx(op.args[0]), idx(op.args[1])
		block(i, j, true)
		later(op.dur, what, func() { block(i, j, false) })
	case "delay":
		i, j := idx(op.args[0]), idx(op.args[1])
		s.spike[[2]int{i, j}], s.spike[[2]int{j, i}] = op.dur, op.dur
		later(op.dur2, what, func() { delete(s.spike, [2]int{i, j}); delete(s.spike, [2]int{j, i}) })
	case "pause":
		if n := s.nodes[idx(op.args[0])]; n.up && !n.paused {
			s.pause(idx(op.args[0]), op.dur, false)
		}
	case "pausereply":
		s.nodes[idx(op.args[0])].pauseAfterSend = op.dur
	case "slowstop":
		s.nodes[idx(op.args[0])].slowStop = op.dur
	case "fail", "hang":
		n := s.nodes[idx(op.args[0])]
		if n.scripted == nil {
			n.scripted = map[string]string{}
		}
		n.scripted[op.args[1]+" "+op.args[2]] = op.verb
	case "admin":
		i := idx(op.args[0])
		a := node.Admin{Op: node.AdminOp(op.args[1]), By: "script"}
		rest := op.args[2:]
		switch a.Op {
		case node.AdminStandby, node.AdminOnline, node.AdminMaintenanceOn, node.AdminMaintenanceOff:
			if len(rest) > 0 {
				a.Node = rest[0]
			}
		default:
			if len(rest) > 0 {
				a.Resource = rest[0]
			}
			if len(rest) > 1 {
				a.Node = rest[1]
			}
		}
		if err := node.CheckAdmin(s.m, a); err != nil {
			s.logf("script: refused: %v", err)
			return
		}
		if n := s.nodes[i]; n.up && !n.paused {
			n.core.Step(s.local(n), a)
			s.afterStep(i)
		}
	case "crash", "kill":
		i := idx(op.args[0])
		if s.nodes[i].up {
			s.crash(i, op.verb == "crash", true)
		}
	case "stop":
		i := idx(op.args[0])
		if n := s.nodes[i]; n.up && !n.paused {
			n.core.Step(s.local(n), node.Shutdown{})
			s.afterStep(i)
		}
	}
}

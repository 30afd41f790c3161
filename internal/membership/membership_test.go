package membership

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
)

// TestTranscripts runs testdata/*.txt (rewrite with -rewrite):
//
//	new keepalive=100ms warntime=500ms deadtime=1s initdead=10s peers=b:2
//	heard t=150ms peer=b link=0 seq=1 [inc=1] [rtt=2ms]
//	left t=2s peer=b inc=1
//	tick t=1.2s
//	show
func TestTranscripts(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		var d *Detector
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			args := map[string]string{}
			for _, a := range td.CmdArgs {
				args[a.Key] = strings.Join(a.Vals, ",")
			}
			dur := func(k string) time.Duration {
				v, err := time.ParseDuration(args[k])
				if err != nil {
					td.Fatalf(t, "%s: %v", k, err)
				}
				return v
			}
			num := func(k string, def uint64) uint64 {
				if args[k] == "" {
					return def
				}
				v, err := strconv.ParseUint(args[k], 10, 64)
				if err != nil {
					td.Fatalf(t, "%s: %v", k, err)
				}
				return v
			}
			var evs []Event
			switch td.Cmd {
			case "new":
				cfg := Config{Keepalive: dur("keepalive"), Warntime: dur("warntime"), Deadtime: dur("deadtime"), Initdead: dur("initdead")}
				for _, p := range strings.Split(args["peers"], ",") {
					name, links, _ := strings.Cut(p, ":")
					n, _ := strconv.Atoi(links)
					cfg.Peers = append(cfg.Peers, Peer{Name: name, Links: n})
				}
				d = New(cfg, 0)
				return "ok"
			case "heard":
				rtt := time.Duration(-1)
				if args["rtt"] != "" {
					rtt = dur("rtt")
				}
				li, _ := strconv.Atoi(args["link"])
				evs = d.Heard(dur("t"), args["peer"], li, num("inc", 1), uint32(num("seq", 1)), rtt)
			case "left":
				evs = d.Left(dur("t"), args["peer"], num("inc", 1))
			case "tick":
				evs = d.Tick(dur("t"))
			case "show":
				var b strings.Builder
				for _, p := range d.Peers() {
					fmt.Fprintf(&b, "%s %s seen=%v\n", p.Name, p.State, p.Seen)
					for i, l := range p.Links {
						fmt.Fprintf(&b, "  link %d %s rtt=%v loss=%.2f\n", i, l.State, l.RTT, l.Loss)
					}
				}
				if nd, ok := d.NextDeadline(); ok {
					fmt.Fprintf(&b, "next deadline %v\n", nd)
				}
				return b.String()
			default:
				td.Fatalf(t, "unknown command %s", td.Cmd)
			}
			if len(evs) == 0 {
				return "no change"
			}
			var b strings.Builder
			for _, e := range evs {
				what := "peer " + e.Peer
				if e.Link >= 0 {
					what = fmt.Sprintf("link %d of %s", e.Link, e.Peer)
				}
				fmt.Fprintf(&b, "%s: %s -> %s (%s)\n", what, e.From, e.To, e.Reason)
			}
			return b.String()
		})
	})
}

// L2 of DESIGN.md: a peer is declared dead only if no packet arrived on any
// link within deadtime before; and nothing panics on random input.
func TestNoFalseDeath(t *testing.T) {
	for seed := uint64(1); seed <= 200; seed++ {
		r := rand.New(rand.NewPCG(seed, 0))
		cfg := Config{Keepalive: 10 * time.Millisecond, Warntime: 50 * time.Millisecond, Deadtime: 100 * time.Millisecond, Initdead: 300 * time.Millisecond,
			Peers: []Peer{{Name: "b", Links: 2}, {Name: "c", Links: 1}}}
		d := New(cfg, 0)
		last := map[string]time.Duration{}
		heard := map[string]bool{}
		var now time.Duration
		for range 2000 {
			now += time.Duration(r.IntN(30)) * time.Millisecond
			if r.IntN(3) == 0 {
				p := []string{"b", "c", "x"}[r.IntN(3)]
				li := r.IntN(3) - 1
				if evs := d.Heard(now, p, li, 1, uint32(r.IntN(500)), -1); p != "x" && li >= 0 && li < map[string]int{"b": 2, "c": 1}[p] {
					last[p], heard[p] = now, true
					_ = evs
				}
				continue
			}
			for _, e := range d.Tick(now) {
				if e.Link == -1 && e.To == "dead" && heard[e.Peer] && now-last[e.Peer] < cfg.Deadtime {
					t.Fatalf("seed %d: %s declared dead at %v, last heard %v (deadtime %v)", seed, e.Peer, now, last[e.Peer], cfg.Deadtime)
				}
			}
		}
	}
}

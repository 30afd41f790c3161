// Command failover measures what a client sees when the active node of a
// pair fails, for tandem and for keepalived (Debian's package), in the same
// run and the same topology: two node namespaces and an observer on a
// bridge, a floating IP, and a UDP echo service behind it. The observer
// sends a numbered datagram every millisecond; the outage is the longest run
// of unanswered sequence numbers (a 10 ms prober cannot resolve 20 ms).
//
//	go run ./bench/failover -reps 10 -out docs/benchmarks.md
//
// Needs root, keepalived and nftables (scripts/deps.sh installs them).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"tandem/internal/api"
	"tandem/internal/lab"
	"tandem/internal/netns"
	"tandem/internal/probe"
)

// system is one contender: something that moves the floating IP.
type system struct {
	name string
	// start builds a pair with a as the active node.
	start func(ctx context.Context, bin string) (pair, error)
}

// pair is a running two-node setup of one system.
type pair interface {
	topo() *netns.Topology
	waitActive(ctx context.Context, n string) error
	hardFail(n string) error    // link down + SIGKILL of the cluster daemon
	switchover(n string) error  // graceful: SIGTERM of the daemon on n
	serviceFail(n string) error // the service on n dies
	pids(n string) []int        // the daemon's processes on n
	close() error
}

type scenario struct {
	name   string
	inject func(p pair) error
}

var scenarios = []scenario{
	{"hard failure", func(p pair) error { return p.hardFail("a") }},
	{"graceful switchover", func(p pair) error { return p.switchover("a") }},
	{"service failure", func(p pair) error { return p.serviceFail("a") }},
}

type result struct {
	system, scenario string
	outages          []time.Duration
	failed           []string
}

const interval = time.Millisecond

// agentLog receives tandem's agent logs with -v.
var agentLog io.Writer = io.Discard

func main() {
	reps := flag.Int("reps", 10, "repetitions of each scenario")
	out := flag.String("out", "", "write the markdown report here")
	only := flag.String("systems", "", "comma-separated systems to run (default all)")
	idle := flag.Duration("idle", 20*time.Second, "how long to sample idle CPU and RSS (0 skips)")
	lossFor := flag.Duration("loss", 60*time.Second, "how long to run each system under 10 % loss, counting owner changes (0 skips)")
	verbose := flag.Bool("v", false, "show tandem's agent logs")
	flag.Parse()
	if *verbose {
		agentLog = os.Stderr
	}
	if os.Geteuid() != 0 {
		fatal(errors.New("needs root: creates network namespaces"))
	}
	if _, err := exec.LookPath("keepalived"); err != nil {
		fatal(errors.New("keepalived is not installed: apt-get install keepalived (scripts/deps.sh does)"))
	}
	bin, err := buildTandem()
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(filepath.Dir(bin))
	ctx := context.Background()
	var results []result
	for _, sys := range systems() {
		if *only != "" && !slices.Contains(strings.Split(*only, ","), sys.name) {
			continue
		}
		for _, sc := range scenarios {
			r := result{system: sys.name, scenario: sc.name}
			for i := range *reps {
				d, err := measure(ctx, sys, sc, bin)
				if err != nil {
					r.failed = append(r.failed, err.Error())
					fmt.Fprintf(os.Stderr, "%-22s %-20s rep %2d: %v\n", sys.name, sc.name, i+1, err)
					continue
				}
				r.outages = append(r.outages, d)
				fmt.Fprintf(os.Stderr, "%-22s %-20s rep %2d: outage %v\n", sys.name, sc.name, i+1, d)
			}
			results = append(results, r)
		}
	}
	var losses []lossResult
	if *lossFor > 0 {
		for _, sys := range systems() {
			if *only != "" && !slices.Contains(strings.Split(*only, ","), sys.name) {
				continue
			}
			lr, err := measureLoss(ctx, sys, bin, *lossFor)
			if err != nil {
				fmt.Fprintf(os.Stderr, "loss %s: %v\n", sys.name, err)
				continue
			}
			fmt.Fprintf(os.Stderr, "%-32s under 10%% loss: %d owner changes, %v with two holders, max loop lag %s\n", sys.name, lr.changes, lr.double, lr.lag)
			losses = append(losses, lr)
		}
	}
	var idles []idleResult
	if *idle > 0 {
		for _, ir := range []struct {
			name string
			sys  system
		}{
			{"tandem, 1 s heartbeats", tandemSystem("tandem-1s", time.Second, 5*time.Second)},
			{"keepalived v2, advert_int 1", keepalivedSystem("keepalived-v2", 2, "1")},
			{"tandem, 10 ms heartbeats", tandemSystem("tandem-10ms", 10*time.Millisecond, 100*time.Millisecond)},
			{"keepalived v3, advert_int 0.01", keepalivedSystem("keepalived-v3-fast", 3, "0.01")},
		} {
			res, err := measureIdle(ctx, ir.sys, bin, *idle)
			if err != nil {
				fmt.Fprintf(os.Stderr, "idle %s: %v\n", ir.name, err)
				continue
			}
			res.name = ir.name
			idles = append(idles, res)
		}
	}
	report := render(results, losses, idles, *reps, *idle)
	fmt.Print(report)
	if *out != "" {
		if err := os.WriteFile(*out, []byte(report), 0o644); err != nil {
			fatal(err)
		}
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "failover bench:", err)
	os.Exit(1)
}

func buildTandem() (string, error) {
	dir, err := os.MkdirTemp("", "tandem-bench-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "tandem")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/tandem")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build tandem: %v\n%s", err, out)
	}
	return bin, nil
}

func systems() []system {
	return []system{
		tandemSystem("tandem (default)", 100*time.Millisecond, time.Second),
		tandemSystem("tandem (fast)", 2*time.Millisecond, 30*time.Millisecond),
		keepalivedSystem("keepalived v2 (advert_int 1)", 2, "1"),
		keepalivedSystem("keepalived v3 (advert_int 0.01)", 3, "0.01"),
	}
}

// measure runs one repetition: build, settle, probe at 1 kHz, inject, wait
// for the other node to answer, and return the longest unanswered run.
func measure(ctx context.Context, sys system, sc scenario, bin string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	p, err := sys.start(ctx, bin)
	if err != nil {
		return 0, err
	}
	defer p.close()
	if err := p.waitActive(ctx, "a"); err != nil {
		return 0, err
	}
	pr := probe.NewProber(netipPort(), interval)
	if err := p.topo().Do(netns.Observer, pr.Listen); err != nil {
		return 0, err
	}
	pctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- pr.Run(pctx) }()
	defer func() { stop(); <-done }()
	if err := lab.WaitFor(ctx, 10*time.Second, "a answers", func() (bool, error) { return pr.Answering() == "a", nil }); err != nil {
		return 0, err
	}
	time.Sleep(300 * time.Millisecond) // a steady stream before the fault
	if err := sc.inject(p); err != nil {
		return 0, err
	}
	injected := time.Now()
	// Done when b answers, or — a service failure that tandem restarts in
	// place — when a answers again after a gap, instead of waiting out 30 s.
	recovered := func() (bool, error) {
		if pr.Answering() == "b" {
			return true, nil
		}
		lost, _, _ := pr.LongestLoss()
		return sc.name == "service failure" && lost > 0 && time.Since(pr.LastAnswer()) < 20*time.Millisecond &&
			time.Since(injected) > 50*time.Millisecond, nil
	}
	if err := lab.WaitFor(ctx, 30*time.Second, "the service answers again", recovered); err != nil {
		return 0, err
	}
	time.Sleep(300 * time.Millisecond)
	lost, _, _ := pr.LongestLoss()
	return time.Duration(lost) * interval, nil
}

func netipPort() netip.AddrPort { return netip.AddrPortFrom(lab.Floating, lab.EchoPort) }

// --- tandem ---

type tandemPair struct{ cl *lab.Cluster }

func tandemSystem(name string, keepalive, deadtime time.Duration) system {
	return system{name: name, start: func(ctx context.Context, bin string) (pair, error) {
		cl, err := lab.Start(ctx, lab.Spec{Prefix: "tbench", Binary: bin, Nodes: []string{"a", "b"}, Links: 1, Log: agentLog,
			Stickiness: 100, Prefer: "a", PreferScore: 50, WaitForAll: true,
			Keepalive: keepalive, Deadtime: deadtime, Initdead: max(3*deadtime, time.Second)})
		if err != nil {
			return nil, err
		}
		return &tandemPair{cl: cl}, nil
	}}
}

func (t *tandemPair) topo() *netns.Topology { return t.cl.Topo }
func (t *tandemPair) waitActive(ctx context.Context, n string) error {
	return t.cl.WaitActive(ctx, n, 20*time.Second)
}
func (t *tandemPair) hardFail(n string) error {
	if err := t.cl.Topo.SetLink(n, 0, false); err != nil {
		return err
	}
	return t.cl.Kill(n)
}
func (t *tandemPair) switchover(n string) error {
	go t.cl.Stop(n, 20*time.Second) // the outage is measured by the observer, not by when it exits
	return nil
}
func (t *tandemPair) serviceFail(n string) error { return killMatching("--name " + n) }
func (t *tandemPair) pids(n string) []int {
	if p := t.cl.Pid(n); p != 0 {
		return []int{p}
	}
	return nil
}
func (t *tandemPair) close() error { return t.cl.Close() }

// --- keepalived ---

type keepalivedPair struct {
	t    *netns.Topology
	dir  string
	bin  string
	proc map[string]*exec.Cmd
}

func keepalivedSystem(name string, version int, advert string) system {
	return system{name: name, start: func(ctx context.Context, bin string) (pair, error) {
		t, err := netns.Build(ctx, netns.Spec{Prefix: "kbench", Nodes: []string{"a", "b"}, Links: 1})
		if err != nil {
			return nil, err
		}
		dir, err := os.MkdirTemp("", "keepalived-bench-")
		if err != nil {
			t.Close()
			return nil, err
		}
		k := &keepalivedPair{t: t, dir: dir, bin: bin, proc: map[string]*exec.Cmd{}}
		for i, n := range []string{"a", "b"} {
			// The service runs on both nodes, bound to the floating IP, as
			// keepalived setups do; the VIP decides who answers.
			echo := exec.Command(bin, "echo", "--listen", fmt.Sprintf("%s:%d", lab.Floating, lab.EchoPort), "--name", n)
			echo.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			if err := t.Start(n, echo); err != nil {
				k.close()
				return nil, err
			}
			conf := filepath.Join(dir, n+".conf")
			if err := os.WriteFile(conf, []byte(keepalivedConf(n, 150-50*i, version, advert)), 0o644); err != nil {
				k.close()
				return nil, err
			}
			cmd := exec.Command("keepalived", "--dont-fork", "--log-console", "--vrrp", "--use-file", conf,
				"--pid", filepath.Join(dir, n+".pid"), "--vrrp_pid", filepath.Join(dir, n+".vrrp.pid"))
			cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
			if err := t.Start(n, cmd); err != nil {
				k.close()
				return nil, err
			}
			k.proc[n] = cmd
		}
		return k, nil
	}}
}

func keepalivedConf(node string, prio, version int, advert string) string {
	return fmt.Sprintf(`global_defs {
  router_id %s
  vrrp_version %d
  script_user root
  enable_script_security
}
vrrp_script service {
  script "/usr/bin/pgrep -f -- '--name %s$'"
  interval 1
  fall 1
  rise 1
}
vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority %d
  advert_int %s
  virtual_ipaddress {
    %s/24 dev eth0 label eth0:0
  }
  track_script {
    service
  }
}
`, node, version, node, prio, advert, lab.Floating)
}

func (k *keepalivedPair) topo() *netns.Topology { return k.t }
func (k *keepalivedPair) waitActive(ctx context.Context, n string) error {
	return lab.WaitFor(ctx, 20*time.Second, n+" holds the VIP", func() (bool, error) {
		addrs, err := k.t.Addrs(n)
		if err != nil {
			return false, err
		}
		for _, a := range addrs {
			if a.Addr() == lab.Floating {
				return true, nil
			}
		}
		return false, nil
	})
}
func (k *keepalivedPair) hardFail(n string) error {
	if err := k.t.SetLink(n, 0, false); err != nil {
		return err
	}
	return syscall.Kill(-k.proc[n].Process.Pid, syscall.SIGKILL)
}
func (k *keepalivedPair) switchover(n string) error {
	return k.proc[n].Process.Signal(syscall.SIGTERM)
}
func (k *keepalivedPair) serviceFail(n string) error { return killMatching("--name " + n) }
func (k *keepalivedPair) pids(n string) []int {
	var out []int
	for _, f := range []string{n + ".pid", n + ".vrrp.pid"} {
		if b, err := os.ReadFile(filepath.Join(k.dir, f)); err == nil {
			if p, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				out = append(out, p)
			}
		}
	}
	return out
}
func (k *keepalivedPair) close() error {
	for _, c := range k.proc {
		if c.Process != nil {
			_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
			_ = c.Wait()
		}
	}
	err := k.t.Close()
	os.RemoveAll(k.dir)
	return err
}

// killMatching SIGKILLs the echo service whose command line ends with pattern.
func killMatching(pattern string) error {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	killed := 0
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		cl := strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")
		if strings.Contains(cl, " echo --listen ") && strings.HasSuffix(cl, pattern) {
			if syscall.Kill(pid, syscall.SIGKILL) == nil {
				killed++
			}
		}
	}
	if killed == 0 {
		return fmt.Errorf("no echo service matching %q", pattern)
	}
	return nil
}

// --- loss ---

type lossResult struct {
	system   string
	changes  int
	double   time.Duration
	duration time.Duration
	lag      string // the agents' worst loop lag over the run, "n/a" where the daemon does not export it
}

// loopLagger is a pair whose daemons report their worst event-loop lag.
type loopLagger interface {
	maxLoopLag(ctx context.Context) (time.Duration, error)
}

func (t *tandemPair) maxLoopLag(ctx context.Context) (time.Duration, error) {
	var worst time.Duration
	for _, n := range []string{"a", "b"} {
		b, err := api.NewClient(t.cl.Socket(n)).Metrics(ctx)
		if err != nil {
			return 0, fmt.Errorf("metrics of %s: %w", n, err)
		}
		found := false
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "tandem_loop_lag_max_seconds "); ok {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil {
					return 0, fmt.Errorf("metrics of %s: %q: %w", n, line, err)
				}
				worst, found = max(worst, time.Duration(f*float64(time.Second))), true
			}
		}
		if !found {
			return 0, fmt.Errorf("metrics of %s: no tandem_loop_lag_max_seconds", n)
		}
	}
	return worst, nil
}

// lossRules drops 10 % of every packet arriving on a node's eth0.
const lossRules = `table netdev tandem_bench_loss {
  chain ingress {
    type filter hook ingress device eth0 priority 0; policy accept;
    numgen random mod 100 < 10 drop
  }
}
`

func measureLoss(ctx context.Context, sys system, bin string, d time.Duration) (lossResult, error) {
	res := lossResult{system: sys.name, duration: d}
	p, err := sys.start(ctx, bin)
	if err != nil {
		return res, err
	}
	defer p.close()
	if err := p.waitActive(ctx, "a"); err != nil {
		return res, err
	}
	time.Sleep(time.Second)
	for _, n := range []string{"a", "b"} {
		cmd := exec.Command("nft", "-f", "-")
		cmd.Stdin = strings.NewReader(lossRules)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := p.topo().Start(n, cmd); err != nil {
			return res, err
		}
		if err := cmd.Wait(); err != nil {
			return res, fmt.Errorf("nft on %s: %v: %s", n, err, out.String())
		}
	}
	holders := func() string {
		var h []string
		for _, n := range []string{"a", "b"} {
			addrs, _ := p.topo().Addrs(n)
			for _, a := range addrs {
				if a.Addr() == lab.Floating {
					h = append(h, n)
				}
			}
		}
		return strings.Join(h, ",")
	}
	last := holders()
	end := time.Now().Add(d)
	tick := 10 * time.Millisecond
	for time.Now().Before(end) {
		time.Sleep(tick)
		h := holders()
		if h != last {
			res.changes++
			last = h
		}
		if strings.Contains(h, ",") {
			res.double += tick
		}
	}
	res.lag = "n/a"
	if ll, ok := p.(loopLagger); ok {
		lag, err := ll.maxLoopLag(ctx)
		if err != nil {
			return res, err
		}
		res.lag = lag.Round(100 * time.Microsecond).String()
	}
	return res, nil
}

// --- idle cost ---

type idleResult struct {
	name     string
	cpuPct   float64 // of one core, both nodes' daemons together
	rssKiB   int     // both nodes' daemons together
	duration time.Duration
}

func measureIdle(ctx context.Context, sys system, bin string, d time.Duration) (idleResult, error) {
	p, err := sys.start(ctx, bin)
	if err != nil {
		return idleResult{}, err
	}
	defer p.close()
	if err := p.waitActive(ctx, "a"); err != nil {
		return idleResult{}, err
	}
	time.Sleep(2 * time.Second) // past start-up work
	var pids []int
	for _, n := range []string{"a", "b"} {
		pids = append(pids, p.pids(n)...)
	}
	before := cpuTicks(pids)
	time.Sleep(d)
	after := cpuTicks(pids)
	hz := 100.0 // USER_HZ on Linux
	res := idleResult{duration: d, cpuPct: float64(after-before) / hz / d.Seconds() * 100}
	for _, pid := range pids {
		res.rssKiB += rssKiB(pid)
	}
	return res, nil
}

func cpuTicks(pids []int) int {
	total := 0
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 12 {
			u, _ := strconv.Atoi(f[11])
			st, _ := strconv.Atoi(f[12])
			total += u + st
		}
	}
	return total
}

func rssKiB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				v, _ := strconv.Atoi(f[1])
				return v
			}
		}
	}
	return 0
}

// --- report ---

func stats(ds []time.Duration) (lo, med, hi time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[0], s[len(s)/2], s[len(s)-1]
}

func render(results []result, losses []lossResult, idles []idleResult, reps int, idle time.Duration) string {
	var b strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "# Failover benchmark\n\nMeasured %s on %s (%d cores, %s), `go run ./bench/failover -reps %d`.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), host, runtime.NumCPU(), kernel(), reps)
	b.WriteString("Outage = the longest run of unanswered datagrams of a 1 kHz stream from the observer to the\n" +
		"floating IP's echo service, in the same namespace topology for every system (two nodes and an\n" +
		"observer on a bridge). Hard failure = the active node's link down + SIGKILL of its cluster daemon;\n" +
		"graceful switchover = SIGTERM of the active daemon; service failure = SIGKILL of the service on the\n" +
		"active node, found by a 1 s check (tandem's monitor restarts it in place; keepalived's vrrp_script\n" +
		"moves the address to the backup, whose service already runs).\n\n")
	b.WriteString("| system | scenario | min | median | max | reps | failed |\n|---|---|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		lo, med, hi := stats(r.outages)
		fmt.Fprintf(&b, "| %s | %s | %v | %v | %v | %d | %d |\n", r.system, r.scenario, lo, med, hi, len(r.outages), len(r.failed))
	}
	b.WriteString("\nRatios of medians (tandem / keepalived):\n\n| scenario | tandem default / keepalived default | tandem fast / keepalived fastest |\n|---|---:|---:|\n")
	med := func(sys, sc string) time.Duration {
		for _, r := range results {
			if r.system == sys && r.scenario == sc {
				_, m, _ := stats(r.outages)
				return m
			}
		}
		return 0
	}
	ratio := func(a, b time.Duration) string {
		if a == 0 || b == 0 {
			return "–"
		}
		return fmt.Sprintf("%.3f", float64(a)/float64(b))
	}
	for _, sc := range scenarios {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", sc.name,
			ratio(med("tandem (default)", sc.name), med("keepalived v2 (advert_int 1)", sc.name)),
			ratio(med("tandem (fast)", sc.name), med("keepalived v3 (advert_int 0.01)", sc.name)))
	}
	if len(losses) > 0 {
		fmt.Fprintf(&b, "\nUnder 10 %% random loss on every node's ingress (nftables `numgen random mod 100 < 10 drop`), active node up, nothing else failing, for %v: every change of the VIP's holder is a false failover. Max loop lag: the worst delay of any agent's event-loop tick over the run (tandem's `tandem_loop_lag_max_seconds`), to tell a false failover from a starved agent.\n\n| system | owner changes | time with two holders | max loop lag |\n|---|---:|---:|---:|\n", losses[0].duration)
		for _, l := range losses {
			fmt.Fprintf(&b, "| %s | %d | %v | %s |\n", l.system, l.changes, l.double, l.lag)
		}
	}
	if len(idles) > 0 {
		fmt.Fprintf(&b, "\nIdle cost of both nodes' daemons over %v, VIP placed, nothing failing:\n\n| setup | CPU (%% of one core) | RSS |\n|---|---:|---:|\n", idle)
		for _, r := range idles {
			fmt.Fprintf(&b, "| %s | %.2f | %.1f MiB |\n", r.name, r.cpuPct, float64(r.rssKiB)/1024)
		}
	}
	return b.String()
}

func kernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "linux"
	}
	return "Linux " + strings.TrimSpace(string(b))
}

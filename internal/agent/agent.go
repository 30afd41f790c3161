// Package agent is the I/O shell around the sans-IO core (package node): it
// owns the UDP links, the clock, the executor that runs resource agents, the
// state directory and the API socket, and carries out what the core decides.
// It decides nothing itself.
package agent

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"time"

	"tandem/internal/alert"
	"tandem/internal/api"
	"tandem/internal/authkey"
	"tandem/internal/config"
	"tandem/internal/fence"
	"tandem/internal/gate"
	"tandem/internal/health"
	"tandem/internal/metrics"
	"tandem/internal/node"
	"tandem/internal/resource"
	"tandem/internal/schedule"
	"tandem/internal/status"
	"tandem/internal/watchdog"
	"tandem/internal/wire"

	"golang.org/x/sys/unix"
)

// Options configure an agent run.
type Options struct {
	Model  *config.Model
	Self   string // this node's name
	Socket string // API socket path
	Log    *slog.Logger
}

type packet struct {
	link int
	from netip.AddrPort
	data []byte
}

// schedInput is the core's scheduler input, and whether this node places
// with it (a majority mode follower does not: the DC does).
type schedInput struct {
	View   schedule.View
	Placer bool
}

type statusReq struct {
	reply chan status.Status
	input node.Input  // an operator's command for the core, or nil
	view  *schedInput // if set, filled with the scheduler's input before the reply
}

// Agent runs one cluster node.
type Agent struct {
	o         Options
	log       *slog.Logger
	bootStart time.Duration // CLOCK_BOOTTIME at start: the core's clock counts from it
	core      *node.Node
	sealer    *wire.Sealer
	opener    *wire.Opener
	conns     []*net.UDPConn
	peers     map[string][]netip.AddrPort // peer → address per link
	exec      *executor
	alerts    *alert.Dispatcher
	recv      chan packet
	attrs     chan health.Attr      // from the health prober
	devices   chan node.FenceDevice // from the fence devices' monitors
	watchdog  *watchdog.Device      // petted while the core allows; nil without one
	petHeld   bool                  // the core last said not to pet
	reqs      chan statusReq
	drops     *dropLog
	events    *history
	sendErr   map[string]time.Time // rate-limits send error lines per peer/link
	notify    *notifier            // systemd: READY, WATCHDOG from the loop, STOPPING
	gates     *gates               // majority mode: the floating IPs' lease gates
	fatal     error                // set by carryOut when the agent must stop (raft state not durable)
	metrics   *metrics.Metrics     // Prometheus: events, operations, loop lag; state at scrape
	pe        *peInputs            // the scheduler's inputs as placement changed (tandem simulate)
}

// now is the agent's monotonic clock as the core sees it.
// It is CLOCK_BOOTTIME, which keeps counting while the machine is
// suspended (Go's monotonic clock does not): a lease must not look young
// after a suspend, and the gap must show as a stall.
func (a *Agent) now() time.Duration { return bootTime() - a.bootStart }

func bootTime() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		panic(fmt.Sprintf("CLOCK_BOOTTIME: %v", err)) // Linux has had it since 2.6.39
	}
	return time.Duration(ts.Nano())
}

// Run runs the agent until ctx is cancelled (SIGTERM), then releases every
// resource in order, tells the peers and returns.
func Run(ctx context.Context, o Options) error {
	m := o.Model
	a := &Agent{o: o, log: o.Log, bootStart: bootTime(), peers: map[string][]netip.AddrPort{},
		recv: make(chan packet, 1024), attrs: make(chan health.Attr, 16), devices: make(chan node.FenceDevice, 4), reqs: make(chan statusReq), sendErr: map[string]time.Time{}}
	var self *config.Node
	var peerNames []string
	members := slices.Concat(m.Nodes, m.Witnesses)
	for i, nd := range members {
		if nd.Name == o.Self {
			self = &members[i]
			continue
		}
		peerNames = append(peerNames, nd.Name)
		for _, l := range nd.Links {
			a.peers[nd.Name] = append(a.peers[nd.Name], netip.AddrPortFrom(l, uint16(m.Port)))
		}
	}
	if self == nil {
		return fmt.Errorf("node %q is not listed in %s: use --node NAME with one of its nodes or witnesses", o.Self, m.Path)
	}
	witness := slices.ContainsFunc(m.Witnesses, func(w config.Node) bool { return w.Name == o.Self })
	key, err := authkey.Load(m.KeyFile)
	if err != nil {
		return err
	}
	st, err := openState(m.StateDir)
	if err != nil {
		return err
	}
	inc, err := st.nextIncarnation(time.Now())
	if err != nil {
		return err
	}
	if a.pe, err = newPEInputs(m.StateDir, 20, a.log); err != nil {
		return err
	}
	defer a.pe.close()
	saved, err := st.loadLog()
	if err != nil {
		return err
	}
	raftState, raftLost, why, err := st.loadRaft()
	if err != nil {
		return err
	}
	if raftLost && m.Quorum.Mode == config.ModeMajority {
		a.log.Warn("raft state lost: this node follows but does not vote until `tandem node rejoin "+o.Self+"`", "why", why)
	}
	if a.events, err = loadHistory(m.StateDir); err != nil {
		return err
	}
	a.events.add(time.Now(), fmt.Sprintf("agent started (incarnation %d, config %016x)", inc, m.Hash))
	if a.sealer, err = wire.NewSealer(key, m.Cluster, o.Self, inc, rand.Reader); err != nil {
		return err
	}
	if a.opener, err = wire.NewOpener(key, m.Cluster, peerNames); err != nil {
		return err
	}
	a.drops = newDropLog(a.log)
	if err := alert.Check(m.Alerts); err != nil {
		a.log.Error("alert hooks will fail until this is fixed", "err", err)
	}
	a.alerts = alert.New(alert.Options{Hooks: m.Alerts, Cluster: m.Cluster, Node: o.Self, Log: a.log})
	defer a.alerts.Close(alertGrace)
	// After the dispatcher: a scrape reads its counters.
	a.metrics = newMetrics(a)
	agents := map[string]resource.Agent{}
	if !witness { // a witness votes and runs nothing
		var lifetime time.Duration
		if m.Quorum.Mode == config.ModeMajority {
			lifetime = gate.Lifetime(m.Timing.Lease)
		}
		if agents, err = buildAgents(m, a.log, lifetime); err != nil {
			return err
		}
		for _, w := range HostWarnings(m, o.Self) {
			a.log.Warn(w)
		}
	}
	if m.Quorum.Mode == config.ModeMajority && !witness {
		if a.gates, err = newGates(m, a.now, a.log); err != nil {
			return err
		}
		defer a.gates.close()
	}
	for i, l := range self.Links {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(l, uint16(m.Port))))
		if err != nil {
			a.closeConns()
			return fmt.Errorf("link %d: listen on %s port %d: %w", i, l, m.Port, err)
		}
		a.conns = append(a.conns, c)
	}
	defer a.closeConns()
	ln, err := api.Listen(o.Socket)
	if err != nil {
		return err
	}
	apiCtx, stopAPI := context.WithCancel(context.Background())
	defer stopAPI()
	go func() {
		if err := api.Serve(apiCtx, ln, a); err != nil {
			a.log.Error("api stopped", "err", err)
		}
	}()
	if err := a.listenMetrics(apiCtx); err != nil {
		return err
	}
	a.exec = newExecutor(agents, a.log, a.metrics)
	if m.Fencing.Enabled {
		a.exec.fence = func(ctx context.Context, node string) (string, error) {
			return fence.Fence(ctx, fence.PlanFor(m, node, a.log))
		}
	}
	defer a.exec.close()
	if !witness && len(m.HealthAttrs()) > 0 {
		prober, err := health.Open(m, a.log)
		if err != nil {
			return err
		}
		defer prober.Close()
		hctx, stopHealth := context.WithCancel(context.Background())
		ran := make(chan struct{})
		go func() { prober.Run(hctx, a.attrs); close(ran) }()
		defer func() { stopHealth(); <-ran }()
	}
	if !witness && m.Fencing.Enabled {
		fctx, stopFence := context.WithCancel(context.Background())
		ran := make(chan struct{})
		go func() { monitorFencing(fctx, m, a.log, a.devices); close(ran) }()
		defer func() { stopFence(); <-ran }()
	}
	for i, c := range a.conns {
		go a.read(i, c)
	}
	a.core, err = node.New(node.Config{Model: m, Self: o.Self, Incarnation: inc, State: saved, Quorum: raftState, QuorumLost: raftLost}, a.now())
	if err != nil {
		return err
	}
	if m.Watchdog.Device != "" {
		if a.watchdog, err = watchdog.Open(m.Watchdog.Device, m.Watchdog.Timeout); err != nil {
			return err
		}
		defer func() {
			// A graceful stop disarms it; an agent that dies leaves it armed.
			if err := a.watchdog.Close(); err != nil {
				a.log.Warn("watchdog", "err", err)
			}
		}()
		a.log.Info("watchdog armed: the machine resets if the agent stops petting it", "device", m.Watchdog.Device, "timeout", m.Watchdog.Timeout, "set", a.watchdog.Timeout() > 0)
	}
	a.log.Info("agent up", "node", o.Self, "cluster", m.Cluster, "incarnation", inc, "links", len(a.conns),
		"config_hash", fmt.Sprintf("%016x", m.Hash), "socket", o.Socket)
	a.notify = newNotifier(a.log)
	a.notify.ready(fmt.Sprintf("node %s of cluster %s up, %d link(s)", o.Self, m.Cluster, len(a.conns)), time.Now())
	return a.loop(ctx, st)
}

func (a *Agent) closeConns() {
	for _, c := range a.conns {
		c.Close()
	}
}

// read feeds packets from one link to the loop. Decoding happens in the loop:
// the replay window is the loop's state.
func (a *Agent) read(link int, c *net.UDPConn) {
	for {
		buf := make([]byte, 64<<10)
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			a.log.Warn("link read", "link", link, "err", err)
			time.Sleep(10 * time.Millisecond) // a persistent error must not spin
			continue
		}
		select {
		case a.recv <- packet{link: link, from: from, data: buf[:n]}:
		default:
			a.drops.count("queue-full", "")
		}
	}
}

func (a *Agent) loop(ctx context.Context, st *stateDir) error {
	m := a.o.Model
	// The loop sleeps until the core's next deadline (a heartbeat, a
	// failure-detector or monitor deadline), at most a keepalive: an idle
	// agent wakes about once per keepalive, not at a fixed fast rate.
	wake := time.NewTimer(0)
	defer wake.Stop()
	nextWake := func() {
		d := a.core.NextDeadline() - a.now()
		wake.Reset(min(max(d, 500*time.Microsecond), m.Timing.Keepalive))
	}
	// δ of docs/design.md: the loop never waits longer than a keepalive, so
	// a gap of 2·keepalive between turns means it was paused (SIGSTOP, a VM
	// freeze, starvation).
	stall := 2 * m.Timing.Keepalive
	lastTurn := a.now()
	turn := func() {
		if gap := a.now() - lastTurn; gap > stall {
			// What the peers sent meanwhile waits in the sockets: take it in
			// before letting time pass, or a peer that never stopped talking
			// would be judged dead. Our own lease may have ended meanwhile.
			a.log.Warn("agent loop stalled: draining links before judging peers", "gap", gap.Round(time.Millisecond), "expected", m.Timing.Keepalive)
			a.core.Step(a.now(), node.Paused{})
			a.drain(2 * time.Millisecond)
		}
	}
	shutdown := ctx.Done()
	var deadline <-chan time.Time
	a.carryOut(st)
	for {
		select {
		case p := <-a.recv:
			turn()
			a.deliver(p)
		case r := <-a.exec.results:
			turn()
			a.core.Step(a.now(), r)
		case at := <-a.attrs:
			turn()
			a.core.Step(a.now(), node.Attribute{Name: at.Name, Value: at.Value})
		case d := <-a.devices:
			turn()
			a.core.Step(a.now(), d)
		case <-a.refusedGates():
			turn()
			a.core.Step(a.now(), node.Paused{}) // our gate lapsed under us: the lease is gone
		case due := <-wake.C:
			a.metrics.LoopLag(time.Since(due))
			turn()
			a.core.Step(a.now(), node.Tick{Wall: time.Now()})
		case req := <-a.reqs:
			turn()
			if req.input != nil {
				a.core.Step(a.now(), req.input)
			}
			if req.view != nil {
				req.view.View, req.view.Placer = a.core.SchedulerInput()
			}
			s := a.core.Status()
			s.Drops = a.drops.snapshot(a.opener)
			s.Events = a.events.last(64)
			req.reply <- s
		case <-shutdown:
			turn()
			shutdown = nil
			a.notify.stopping("stopping: releasing resources in order, then telling the peers")
			a.core.Step(a.now(), node.Shutdown{})
			var worst time.Duration
			for _, r := range m.Resources {
				worst += r.Ops.StopTimeout
			}
			deadline = time.After(worst + 5*time.Second)
		case <-deadline:
			return fmt.Errorf("shutdown: resources not released within their stop timeouts; exiting anyway")
		}
		if a.carryOut(st) {
			if a.fatal != nil {
				return a.fatal
			}
			a.log.Info("agent stopped, peers told")
			a.events.add(time.Now(), "agent stopped, peers told")
			a.events.save(st, true, a.log)
			return nil
		}
		lastTurn = a.now()
		a.notify.watchdog(time.Now())
		a.pet()
		nextWake()
	}
}

// pet pets the hardware watchdog when the core allows it (MayPet): a node
// that keeps resources without a lease, or whose loop stops, is reset.
func (a *Agent) pet() {
	if a.watchdog == nil {
		return
	}
	if !a.core.MayPet() {
		if !a.petHeld {
			a.petHeld = true
			a.log.Error("watchdog no longer petted: resources still run here without a lease; the hardware resets this machine unless they stop in time")
		}
		return
	}
	if a.petHeld {
		a.petHeld = false
		a.log.Info("watchdog petted again")
	}
	if err := a.watchdog.Pet(); err != nil {
		a.log.Error("watchdog", "err", err)
	}
}

// drain delivers every packet already received, waiting up to quiet for the
// readers (resumed with us) to hand over what the kernel buffered.
func (a *Agent) drain(quiet time.Duration) {
	t := time.NewTimer(quiet)
	defer t.Stop()
	for range cap(a.recv) + 1 {
		select {
		case p := <-a.recv:
			a.deliver(p)
		case <-t.C:
			return
		}
	}
}

func (a *Agent) deliver(p packet) {
	pk, err := a.opener.Open(p.data)
	if err != nil {
		var de *wire.DropError
		if errors.As(err, &de) {
			a.drops.note(de, p.from)
		}
		return
	}
	a.core.Step(a.now(), node.Receive{From: pk.Sender, Link: p.link, Incarnation: pk.Incarnation, Msg: &pk.Msg})
}

// carryOut does what the core's Ready says; it reports whether the agent is done.
func (a *Agent) carryOut(st *stateDir) bool {
	rd := a.core.Ready()
	now := time.Now()
	a.metrics.Events(rd.Events)
	for _, l := range rd.Logs {
		a.log.LogAttrs(context.Background(), l.Level, l.Msg, l.Attrs...)
		if l.Level >= slog.LevelInfo {
			a.events.add(now, l.Msg)
		}
	}
	a.events.save(st, false, a.log)
	if rd.PersistQuorum != nil {
		// Durable before any message of this Ready leaves: a vote or an
		// ack forgotten in a crash could elect two leaders in one term.
		if err := st.saveRaft(*rd.PersistQuorum); err != nil {
			a.fatal = fmt.Errorf("persist raft state: %w (stopping: this node must not vote without it)", err)
			a.core.Advance()
			return true
		}
	}
	// A gate released from a maintenance hold is tied to the lease again
	// before this Ready's messages leave: they may carry the write that
	// lets the DC give its group to another node.
	gatesFirst := slices.ContainsFunc(rd.Gates, func(g node.Gate) bool { return g.Release })
	if gatesFirst {
		a.setGates(rd.Gates)
	}
	for _, o := range rd.Messages {
		a.send(o)
	}
	if !gatesFirst {
		a.setGates(rd.Gates) // before the actions: a grant opens the gate the start announces through
	}
	for _, act := range rd.Actions {
		a.exec.run(act)
	}
	if rd.Placed != nil {
		a.pe.add(PEInput{Node: a.o.Self, At: now, ConfigHash: fmt.Sprintf("%016x", a.o.Model.Hash), View: *rd.Placed})
	}
	if rd.PersistState {
		if err := st.saveLog(a.core.StateLog()); err != nil {
			a.log.Error("persist cluster state", "err", err)
		}
	}
	for _, e := range rd.Events {
		// Never blocks (a full queue drops and counts): hooks cannot delay
		// heartbeats or failover. See package alert.
		a.alerts.Notify(alert.Event{Event: e, At: now})
	}
	a.core.Advance()
	return rd.Done
}

func (a *Agent) setGates(gs []node.Gate) {
	if a.gates == nil {
		return
	}
	for _, g := range gs {
		a.gates.set(g)
	}
}

func (a *Agent) send(o node.Outbound) {
	addrs := a.peers[o.To]
	if o.Link >= len(addrs) || o.Link >= len(a.conns) {
		return
	}
	pkt, err := a.sealer.Seal(nil, &o.Msg)
	if err != nil {
		a.log.Error("seal", "peer", o.To, "err", err)
		return
	}
	if _, err := a.conns[o.Link].WriteToUDPAddrPort(pkt, addrs[o.Link]); err != nil {
		k := fmt.Sprintf("%s/%d", o.To, o.Link)
		if time.Since(a.sendErr[k]) > 5*time.Second {
			a.sendErr[k] = time.Now()
			a.log.Warn("send heartbeat", "peer", o.To, "link", o.Link, "addr", addrs[o.Link], "err", err)
		}
	}
}

// Status implements api.Backend: the loop answers, so the view is consistent.
func (a *Agent) Status(ctx context.Context) (status.Status, error) {
	return a.ask(ctx, nil)
}

// Unblock implements api.Backend.
func (a *Agent) Unblock(ctx context.Context) error {
	_, err := a.ask(ctx, node.Unblock{})
	return err
}

// Admin implements api.Backend: the instruction is checked against the
// config here, so a typo comes back to the operator instead of the log.
func (a *Agent) Admin(ctx context.Context, req api.AdminRequest) error {
	in := node.Admin{Op: node.AdminOp(req.Op), Resource: req.Resource, Node: req.Node, By: "tandem " + req.Op + " on " + a.o.Self}
	if req.Lifetime != "" {
		d, err := time.ParseDuration(req.Lifetime)
		if err != nil || d <= 0 {
			return fmt.Errorf("%s: lifetime %q: want a positive duration such as 30m or 2h", req.Op, req.Lifetime)
		}
		in.Until = time.Now().Add(d)
	}
	if err := node.CheckAdmin(a.o.Model, in); err != nil {
		return err
	}
	_, err := a.ask(ctx, in)
	return err
}

// Explain implements api.Backend: the core's current scheduler input,
// placed and explained for target off the loop.
func (a *Agent) Explain(ctx context.Context, target string) (schedule.Explanation, error) {
	var in schedInput
	req := statusReq{reply: make(chan status.Status, 1), view: &in}
	select {
	case a.reqs <- req:
	case <-ctx.Done():
		return schedule.Explanation{}, fmt.Errorf("agent busy: %w", ctx.Err())
	}
	select {
	case <-req.reply:
	case <-ctx.Done():
		return schedule.Explanation{}, fmt.Errorf("agent busy: %w", ctx.Err())
	}
	e, err := schedule.Explain(a.o.Model, in.View, target)
	if err == nil && !in.Placer {
		e.Note = a.o.Self + " is not the DC: these are its own view's scores; the DC places, and its view may differ (run explain there)"
	}
	return e, err
}

// Rejoin implements api.Backend.
func (a *Agent) Rejoin(ctx context.Context, name string) error {
	if name != a.o.Self {
		return fmt.Errorf("rejoin %s: this is %s; run it on %s, whose agent keeps the not-voting flag in its state", name, a.o.Self, name)
	}
	st, err := a.ask(ctx, node.Rejoin{})
	if err != nil {
		return err
	}
	if st.Quorum.Mode != config.ModeMajority {
		return fmt.Errorf("rejoin %s: quorum mode %s has no votes to rejoin", name, st.Quorum.Mode)
	}
	for _, n := range st.Nodes {
		if n.Self && n.Votes == 0 {
			return fmt.Errorf("rejoin %s: refused: it is not a voter (voter: false, or a learner)", name)
		}
	}
	return nil
}

func (a *Agent) ask(ctx context.Context, in node.Input) (status.Status, error) {
	req := statusReq{reply: make(chan status.Status, 1), input: in}
	select {
	case a.reqs <- req:
	case <-ctx.Done():
		return status.Status{}, fmt.Errorf("agent busy: %w", ctx.Err())
	}
	select {
	case s := <-req.reply:
		return s, nil
	case <-ctx.Done():
		return status.Status{}, fmt.Errorf("agent busy: %w", ctx.Err())
	}
}

// refusedGates is the channel of gates whose renewal the kernel refused (nil
// when there are no gates: a nil channel never delivers).
func (a *Agent) refusedGates() <-chan string {
	if a.gates == nil {
		return nil
	}
	return a.gates.refused
}

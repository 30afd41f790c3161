// Package systemd runs systemd units (type: systemd:UNIT) over D-Bus, as
// Pacemaker's systemd class does: start and stop are jobs whose result the
// agent waits for, and monitor reads the unit's ActiveState. Before each
// start it writes a runtime drop-in (Pacemaker writes 50-pacemaker.conf)
// binding the unit to the agent's own unit and turning off systemd's
// restarts: tandem does recovery, and a unit must not outlive the agent
// that manages it.
package systemd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	sd "github.com/coreos/go-systemd/v22/dbus"

	"tandem/internal/config"
	"tandem/internal/resource"
)

// Agent is one systemd resource.
type Agent struct {
	name string
	p    config.SystemdParams
	log  *slog.Logger
	// dial connects to the systemd to drive; DropInDir is where runtime
	// drop-ins go (/run/systemd/system for the host's systemd).
	dial      func(context.Context) (*sd.Conn, error)
	DropInDir string
	// PID is the process whose unit the drop-in binds to by default: the
	// agent's own (tests set a process inside their container).
	PID  int
	mu   sync.Mutex
	conn *sd.Conn
}

// New returns the agent for resource name, talking to this host's systemd
// over its private socket (root only, no dbus-daemon needed).
func New(name string, p config.SystemdParams, log *slog.Logger) (*Agent, error) {
	return NewWith(name, p, log, sd.NewSystemdConnectionContext, "/run/systemd/system"), nil
}

// NewWith is New with another systemd: tests drive one in a container.
func NewWith(name string, p config.SystemdParams, log *slog.Logger, dial func(context.Context) (*sd.Conn, error), dropInDir string) *Agent {
	return &Agent{name: name, p: p, log: log.With("resource", name), dial: dial, DropInDir: dropInDir, PID: os.Getpid()}
}

func (a *Agent) connect(ctx context.Context) (*sd.Conn, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.conn != nil && a.conn.Connected() {
		return a.conn, nil
	}
	c, err := a.dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to systemd: %w", err)
	}
	a.conn = c
	return c, nil
}

// Close drops the connection.
func (a *Agent) Close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.conn != nil {
		a.conn.Close()
		a.conn = nil
	}
}

// Validate implements resource.Agent: the unit must exist.
func (a *Agent) Validate(ctx context.Context) error {
	_, err := a.props(ctx)
	return err
}

type unitState struct{ load, active, sub, result string }

func (a *Agent) props(ctx context.Context) (unitState, error) {
	c, err := a.connect(ctx)
	if err != nil {
		return unitState{}, err
	}
	ps, err := c.GetUnitPropertiesContext(ctx, a.p.Unit)
	if err != nil {
		return unitState{}, fmt.Errorf("unit %s: %w", a.p.Unit, err)
	}
	str := func(k string) string { s, _ := ps[k].(string); return s }
	st := unitState{load: str("LoadState"), active: str("ActiveState"), sub: str("SubState")}
	if st.load == "not-found" {
		return st, fmt.Errorf("unit %s: %w: systemd has no such unit", a.p.Unit, resource.ErrNotInstalled)
	}
	if sp, err := c.GetServicePropertyContext(ctx, a.p.Unit, "Result"); err == nil {
		st.result, _ = sp.Value.Value().(string)
	}
	return st, nil
}

// bindTo returns the unit the drop-in binds to, or "" for none. BindsTo=
// also pulls the unit bound to in when this one starts, so it must already
// run: binding to an inactive tandem.service would start a second agent
// (or fail when none is installed) beside one run by hand.
func (a *Agent) bindTo(ctx context.Context, c *sd.Conn) (string, error) {
	if a.p.Unbound {
		return "", nil
	}
	if a.p.BindsTo == "" {
		own, err := c.GetUnitNameByPID(ctx, uint32(a.PID))
		if err != nil || !strings.HasSuffix(own, ".service") {
			a.log.Info("the agent does not run in a systemd service: the unit is not bound to it", "unit", a.p.Unit, "own", own, "err", err)
			return "", nil
		}
		return own, nil
	}
	p, err := c.GetUnitPropertyContext(ctx, a.p.BindsTo, "ActiveState")
	if err != nil {
		return "", fmt.Errorf("binds_to %s: %w", a.p.BindsTo, err)
	}
	if st, _ := p.Value.Value().(string); st != "active" && st != "reloading" {
		return "", fmt.Errorf("binds_to %s is %s: starting %s would start it too; run tandem as %s or set binds_to: none", a.p.BindsTo, st, a.p.Unit, a.p.BindsTo)
	}
	return a.p.BindsTo, nil
}

// dropIn writes the runtime drop-in and reloads systemd when it changed.
// Before= (as Pacemaker's) orders the unit's stop after the agent's: when
// the agent's unit stops, the agent stops its groups in order first, and
// systemd stops whatever is left only then.
func (a *Agent) dropIn(ctx context.Context, c *sd.Conn) error {
	bind, err := a.bindTo(ctx, c)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by tandem for resource %s: tandem starts, stops and recovers this unit.\n[Unit]\n", a.name)
	if bind != "" {
		fmt.Fprintf(&b, "BindsTo=%s\nBefore=%s\n", bind, bind)
	}
	if strings.HasSuffix(a.p.Unit, ".service") {
		b.WriteString("[Service]\nRestart=no\n")
	}
	dir := filepath.Join(a.DropInDir, a.p.Unit+".d")
	path := filepath.Join(dir, "50-tandem.conf")
	if old, err := os.ReadFile(path); err == nil && string(old) == b.String() {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("drop-in for %s: %w", a.p.Unit, err)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("drop-in for %s: %w", a.p.Unit, err)
	}
	if err := c.ReloadContext(ctx); err != nil {
		return fmt.Errorf("daemon-reload after the drop-in for %s: %w", a.p.Unit, err)
	}
	return nil
}

// job runs a start or stop job and waits for its result.
func (a *Agent) job(ctx context.Context, op string) error {
	c, err := a.connect(ctx)
	if err != nil {
		return err
	}
	ch := make(chan string, 1)
	switch op {
	case "start":
		if err := a.dropIn(ctx, c); err != nil {
			return err
		}
		// A unit that failed before would refuse to start in a tight loop.
		_ = c.ResetFailedUnitContext(ctx, a.p.Unit)
		_, err = c.StartUnitContext(ctx, a.p.Unit, "replace", ch)
	default:
		_, err = c.StopUnitContext(ctx, a.p.Unit, "replace", ch)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, a.p.Unit, err)
	}
	select {
	case res := <-ch:
		if res == "done" {
			return nil
		}
		st, _ := a.props(ctx)
		return fmt.Errorf("%s %s: job %s (unit %s/%s, result %s)", op, a.p.Unit, res, st.active, st.sub, orDash(st.result))
	case <-ctx.Done():
		return fmt.Errorf("%s %s: %w: %v", op, a.p.Unit, resource.ErrTimeout, ctx.Err())
	}
}

// Start implements resource.Agent.
func (a *Agent) Start(ctx context.Context) error { return a.job(ctx, "start") }

// Stop implements resource.Agent: stopping a stopped unit succeeds. A unit
// the stop left failed (killed in ExecStartPre, say) is down: its failed
// mark is reset so that the next probe does not count the stop as a failure.
func (a *Agent) Stop(ctx context.Context) error {
	err := a.job(ctx, "stop")
	st, perr := a.props(ctx)
	switch {
	case perr != nil:
		return err
	case st.active == "failed":
		a.log.Info("stopped; the unit failed on the way down: failed state reset", "result", st.result, "err", err)
		if c, cerr := a.connect(ctx); cerr == nil {
			_ = c.ResetFailedUnitContext(ctx, a.p.Unit)
		}
		return nil
	case err != nil && st.active == "inactive":
		a.log.Warn("stop reported an error but the unit is down", "err", err)
		return nil
	}
	return err
}

// Monitor implements resource.Agent: active is running, inactive stopped,
// failed a failure with the unit's result; activating or deactivating
// outside the agent's own jobs is a failure too (Restart=no: nothing but
// the agent should be moving the unit).
func (a *Agent) Monitor(ctx context.Context) (resource.State, error) {
	st, err := a.props(ctx)
	if err != nil {
		if errors.Is(err, resource.ErrNotInstalled) {
			return resource.Stopped, err
		}
		return resource.Failed, err
	}
	switch st.active {
	case "active", "reloading":
		return resource.Running, nil
	case "inactive":
		return resource.Stopped, nil
	case "failed":
		return resource.Failed, fmt.Errorf("unit %s failed (result %s)", a.p.Unit, orDash(st.result))
	}
	return resource.Failed, fmt.Errorf("unit %s is %s/%s", a.p.Unit, st.active, st.sub)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Package freeswitch runs FreeSWITCH as a resource (type: freeswitch),
// checked and switched over its event socket (package esl).
//
// Health is `api status` saying "is ready" and, for every configured sofia
// profile, `sofia status profile NAME` answering with the profile (mod_sofia
// answers "Invalid Profile!" for one that is not RUNNING).
//
// mode: warm keeps FreeSWITCH running on every node (started at boot, not
// by tandem). The active role is the profiles started (`sofia profile NAME
// start`) and then `sofia recover`, which takes over the calls the old node
// tracked (track-calls and a shared core database); standby is the profiles
// stopped. Failover is then a profile start, not a FreeSWITCH cold start.
//
// mode: cold starts and stops FreeSWITCH itself, through the lsb agent (an
// init script) or the exec agent (start/stop commands): their rules apply
// unchanged (status before start, idempotent stop, process groups, timeouts).
package freeswitch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"syscall"
	"time"

	"tandem/internal/config"
	"tandem/internal/esl"
	"tandem/internal/resource"
	"tandem/internal/resource/exec"
	"tandem/internal/resource/lsb"
)

const (
	// pollEvery is how often a start or stop looks again at FreeSWITCH
	// coming up or profiles changing state.
	pollEvery = 200 * time.Millisecond
	// maxPolls bounds those looks whatever the operation's deadline.
	maxPolls = 600
)

// Agent runs one freeswitch resource.
type Agent struct {
	name string
	p    config.FreeSWITCHParams
	log  *slog.Logger
	// svc starts and stops FreeSWITCH in cold mode (nil in warm mode).
	svc resource.Agent
	// svcTells: svc's monitor knows whether FreeSWITCH runs (an init
	// script's status, a monitor command); else the event socket decides.
	svcTells bool
}

// New returns the agent for resource name.
func New(name string, p config.FreeSWITCHParams, log *slog.Logger) (*Agent, error) {
	a := &Agent{name: name, p: p, log: log.With("resource", name)}
	var err error
	switch p.Mode {
	case config.FSWarm:
		if len(p.Profiles) == 0 {
			return nil, fmt.Errorf("freeswitch %s: warm mode needs sofia profiles", name)
		}
	case config.FSCold:
		switch {
		case p.Init != nil:
			a.svc, err = lsb.New(name, *p.Init, log)
			a.svcTells = true
		case p.Commands != nil:
			a.svc, err = exec.New(name, *p.Commands, log)
			a.svcTells = p.Commands.Monitor != ""
		default:
			return nil, fmt.Errorf("freeswitch %s: cold mode needs an init script or start and stop commands", name)
		}
		if err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("freeswitch %s: mode %q: allowed: warm, cold", name, p.Mode)
	}
	return a, nil
}

// refused: nothing listens on the event socket, so FreeSWITCH is not running.
func refused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// dial connects to the event socket. A refused password is a configuration
// error, the same on every node.
func (a *Agent) dial(ctx context.Context) (*esl.Conn, error) {
	c, err := esl.Dial(ctx, a.p.ESL, a.p.Password)
	switch {
	case errors.Is(err, esl.ErrAuth):
		return nil, fmt.Errorf("freeswitch %s: event socket %s: %w: %w", a.name, a.p.ESL, resource.ErrNotConfigured, err)
	case err != nil:
		return nil, fmt.Errorf("freeswitch %s: event socket %s: %w", a.name, a.p.ESL, err)
	}
	return c, nil
}

// api runs one api command, its error naming the resource.
func (a *Agent) api(ctx context.Context, c *esl.Conn, cmd string) (string, error) {
	out, err := c.API(ctx, cmd)
	if err != nil {
		return out, fmt.Errorf("freeswitch %s: %w", a.name, err)
	}
	return out, nil
}

// ready checks `api status`: FreeSWITCH is up and accepting calls.
func (a *Agent) ready(ctx context.Context, c *esl.Conn) error {
	out, err := a.api(ctx, c, "status")
	if err != nil {
		return err
	}
	if !strings.HasPrefix(out, "UP ") || !strings.Contains(out, " is ready") {
		first, _, _ := strings.Cut(out, "\n")
		second := ""
		if _, rest, ok := strings.Cut(out, "\n"); ok {
			second, _, _ = strings.Cut(rest, "\n")
		}
		return fmt.Errorf("freeswitch %s: not ready: status says %q %q", a.name, first, second)
	}
	return nil
}

// profiles splits the configured profiles into those RUNNING and the rest.
func (a *Agent) profiles(ctx context.Context, c *esl.Conn) (up, down []string, err error) {
	for _, p := range a.p.Profiles {
		out, err := a.api(ctx, c, "sofia status profile "+p)
		if err != nil {
			return nil, nil, err
		}
		switch {
		case profileShown(out, p):
			up = append(up, p)
		case strings.HasPrefix(out, "Invalid Profile!"):
			down = append(down, p)
		default:
			return nil, nil, fmt.Errorf("freeswitch %s: sofia status profile %s: unexpected answer %q", a.name, p, clipText(out))
		}
	}
	return up, down, nil
}

// profileShown: mod_sofia shows a profile's details, starting with its
// Name, only while it is RUNNING.
func profileShown(out, name string) bool {
	for _, l := range strings.SplitN(out, "\n", 4) {
		if k, v, ok := strings.Cut(l, "\t"); ok && strings.TrimSpace(k) == "Name" && strings.TrimSpace(v) == name {
			return true
		}
	}
	return false
}

func clipText(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

// Monitor implements resource.Agent.
//
// Warm: nothing listening, or every profile stopped, is stopped (a
// standby); every profile RUNNING and status ready is running; anything
// between is failed. Cold: the init script's status (or the monitor
// command) first; then the event socket must answer, be ready and run
// every profile.
func (a *Agent) Monitor(ctx context.Context) (resource.State, error) {
	if a.svc != nil && a.svcTells {
		st, err := a.svc.Monitor(ctx)
		if err != nil || st != resource.Running {
			return st, err
		}
	}
	c, err := a.dial(ctx)
	if err != nil {
		if refused(err) && !a.svcTells {
			return resource.Stopped, nil
		}
		return resource.Failed, err
	}
	defer c.Close()
	up, down, err := a.profiles(ctx, c)
	if err != nil {
		return resource.Failed, err
	}
	if a.p.Mode == config.FSWarm && len(up) == 0 {
		return resource.Stopped, nil
	}
	if err := a.ready(ctx, c); err != nil {
		return resource.Failed, err
	}
	if len(down) > 0 {
		return resource.Failed, fmt.Errorf("freeswitch %s: sofia profiles not running: %s", a.name, strings.Join(down, ", "))
	}
	return resource.Running, nil
}

// Start implements resource.Agent: cold mode starts FreeSWITCH; both modes
// then wait for it to be ready, start the profiles (warm) or wait for them
// (cold: they start with FreeSWITCH), and run `sofia recover`.
func (a *Agent) Start(ctx context.Context) error {
	if a.svc != nil {
		if err := a.svc.Start(ctx); err != nil {
			return fmt.Errorf("start %s: %w", a.name, err)
		}
	}
	c, err := a.waitReady(ctx)
	if err != nil {
		return fmt.Errorf("start %s: %w", a.name, err)
	}
	defer c.Close()
	_, down, err := a.profiles(ctx, c)
	if err != nil {
		return fmt.Errorf("start %s: %w", a.name, err)
	}
	if a.p.Mode == config.FSWarm {
		for _, p := range down {
			if _, err := a.api(ctx, c, "sofia profile "+p+" start"); err != nil {
				return fmt.Errorf("start %s: %w", a.name, err)
			}
		}
	}
	if err := a.waitProfiles(ctx, c, true); err != nil {
		return fmt.Errorf("start %s: %w", a.name, err)
	}
	if a.p.Recover {
		// A failed recovery loses the old node's calls, not new ones: no
		// reason to give up the node.
		if out, err := a.api(ctx, c, "sofia recover"); err != nil {
			a.log.Warn("sofia recover failed: calls from before the takeover are lost", "err", err)
		} else {
			a.log.Info("sofia recover", "said", strings.TrimSpace(out))
		}
	}
	return nil
}

// Stop implements resource.Agent: cold mode stops FreeSWITCH; warm mode
// stops the profiles and waits until none runs. A FreeSWITCH that is not
// running at all has nothing to stop.
func (a *Agent) Stop(ctx context.Context) error {
	if a.svc != nil {
		if err := a.svc.Stop(ctx); err != nil {
			return fmt.Errorf("stop %s: %w", a.name, err)
		}
		return nil
	}
	c, err := a.dial(ctx)
	if err != nil {
		if refused(err) {
			a.log.Info("stop: the event socket refuses connections: FreeSWITCH is not running, no profile to stop")
			return nil
		}
		return fmt.Errorf("stop %s: %w", a.name, err)
	}
	defer c.Close()
	up, _, err := a.profiles(ctx, c)
	if err != nil {
		return fmt.Errorf("stop %s: %w", a.name, err)
	}
	for _, p := range up {
		if _, err := a.api(ctx, c, "sofia profile "+p+" stop"); err != nil {
			return fmt.Errorf("stop %s: %w", a.name, err)
		}
	}
	if err := a.waitProfiles(ctx, c, false); err != nil {
		return fmt.Errorf("stop %s: %w", a.name, err)
	}
	return nil
}

// waitReady dials until the event socket answers and status says ready:
// FreeSWITCH takes seconds to come up after its start, or after a boot.
func (a *Agent) waitReady(ctx context.Context) (*esl.Conn, error) {
	var last error
	for range maxPolls {
		c, err := a.dial(ctx)
		if err == nil {
			if err = a.ready(ctx, c); err == nil {
				return c, nil
			}
			c.Close()
		}
		if errors.Is(err, resource.ErrNotConfigured) {
			return nil, err
		}
		if last == nil || ctx.Err() == nil {
			last = err // an attempt cut short by the deadline says less than the one before
		}
		if !sleep(ctx, pollEvery) {
			return nil, fmt.Errorf("FreeSWITCH not ready in time: %w", last)
		}
	}
	return nil, fmt.Errorf("FreeSWITCH not ready after %d tries: %w", maxPolls, last)
}

// waitProfiles polls until every profile runs (running) or none does.
func (a *Agent) waitProfiles(ctx context.Context, c *esl.Conn, running bool) error {
	for range maxPolls {
		up, down, err := a.profiles(ctx, c)
		if err != nil {
			return err
		}
		pending := down
		if !running {
			pending = up
		}
		if len(pending) == 0 {
			return nil
		}
		if !sleep(ctx, pollEvery) {
			state := "RUNNING"
			if !running {
				state = "stopped"
			}
			return fmt.Errorf("sofia profiles not %s in time: %s: %w", state, strings.Join(pending, ", "), resource.ErrTimeout)
		}
	}
	return fmt.Errorf("sofia profiles did not settle after %d looks", maxPolls)
}

// sleep waits d, or returns false when ctx ends first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Check returns, located in m's file, every cold-mode freeswitch resource
// whose init script is not installed here (the lsb kind's rule).
func Check(m *config.Model) []config.Error {
	var errs []config.Error
	for i, r := range m.Resources {
		if r.FreeSWITCH == nil || r.FreeSWITCH.Init == nil {
			continue
		}
		if err := lsb.Installed(r.FreeSWITCH.Init.Path); err != nil {
			errs = append(errs, m.ErrorAt(fmt.Sprintf("resources[%d].params.init", i), "%v", err))
		}
	}
	return errs
}

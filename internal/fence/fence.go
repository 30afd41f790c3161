// Package fence powers nodes off through fence devices: the fence agents
// operators already have (Debian's fence-agents: fence_ipmilan,
// fence_redfish, …) driven through their standard interface, or any
// command. Devices do I/O; the core decides when to fence.
//
// The fence-agents interface, as Pacemaker's fencer uses it: the agent is
// run with no arguments and reads key=value lines on stdin,
//
//	action=off|on|reboot|status|monitor|list|metadata
//	plug=NAME        (the outlet or VM, for devices that fence several nodes)
//	ip=198.18.0.1    (and the device's other parameters)
//
// and exits 0 on success; status exits 0 for "on", 2 for "off" and 1 on
// error. metadata prints the agent's parameters as XML.
package fence

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"slices"
	"strings"

	"tandem/internal/resource/pgroup"
)

// Actions a device runs.
const (
	Off     = "off"
	On      = "on"
	Reboot  = "reboot"
	Status  = "status"
	Monitor = "monitor"
)

// Power is what status found.
type Power int

const (
	PowerUnknown Power = iota
	PowerOn
	PowerOff
)

func (p Power) String() string {
	switch p {
	case PowerOn:
		return "on"
	case PowerOff:
		return "off"
	}
	return "unknown"
}

// ErrFailed wraps every failed fence action.
var ErrFailed = errors.New("fence action failed")

// Device is one configured fence device.
type Device interface {
	// Run runs action for the node behind plug ("" for a device of one
	// node) and, for status, reports the power state.
	Run(ctx context.Context, action, plug string) (Power, error)
	Name() string
}

// Agent is a fence-agents program.
type Agent struct {
	DeviceName string
	Path       string            // /usr/sbin/fence_ipmilan
	Params     map[string]string // written to stdin as key=value, with action and plug
	Log        *slog.Logger
}

// Name implements Device.
func (a *Agent) Name() string { return a.DeviceName }

// Run implements Device. Secrets in Params (passwords) go over stdin,
// never the command line, where ps would show them.
func (a *Agent) Run(ctx context.Context, action, plug string) (Power, error) {
	var in strings.Builder
	fmt.Fprintf(&in, "action=%s\n", action)
	if plug != "" {
		fmt.Fprintf(&in, "plug=%s\n", plug)
	}
	for _, k := range sortedKeys(a.Params) {
		fmt.Fprintf(&in, "%s=%s\n", k, a.Params[k])
	}
	code, out, err := a.exec(ctx, in.String())
	if err != nil {
		return PowerUnknown, fmt.Errorf("%s %s: %w: %v", a.DeviceName, action, ErrFailed, err)
	}
	if action == Status {
		switch code {
		case 0:
			return PowerOn, nil
		case 2:
			return PowerOff, nil
		}
	} else if code == 0 {
		return PowerUnknown, nil
	}
	return PowerUnknown, fmt.Errorf("%s %s: %w: exit %d: %s", a.DeviceName, action, ErrFailed, code, lastLine(out))
}

func (a *Agent) exec(ctx context.Context, stdin string) (int, string, error) {
	cmd := exec.CommandContext(ctx, a.Path)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = pgroup.Environ()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee) && ctx.Err() == nil:
		return ee.ExitCode(), out.String(), nil
	case ctx.Err() != nil:
		return -1, out.String(), fmt.Errorf("timed out: %w", ctx.Err())
	case err != nil:
		return -1, out.String(), err
	}
	return 0, out.String(), nil
}

// Command is a device of kind exec: any command, run with TANDEM_FENCE_ACTION
// and TANDEM_FENCE_NODE (the plug) set; exit 0 is success, and for status
// 0 means on and 2 off, as for fence agents.
type Command struct {
	DeviceName string
	Argv       []string
}

// Name implements Device.
func (c *Command) Name() string { return c.DeviceName }

// Run implements Device.
func (c *Command) Run(ctx context.Context, action, plug string) (Power, error) {
	cmd := exec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	cmd.Env = append(pgroup.Environ(), "TANDEM_FENCE_ACTION="+action, "TANDEM_FENCE_NODE="+plug)
	out, err := cmd.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return PowerUnknown, fmt.Errorf("%s %s: %w: timed out", c.DeviceName, action, ErrFailed)
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		return PowerUnknown, fmt.Errorf("%s %s: %w: %v", c.DeviceName, action, ErrFailed, err)
	}
	if action == Status && (code == 0 || code == 2) {
		return map[int]Power{0: PowerOn, 2: PowerOff}[code], nil
	}
	if code != 0 {
		return PowerUnknown, fmt.Errorf("%s %s: %w: exit %d: %s", c.DeviceName, action, ErrFailed, code, lastLine(string(out)))
	}
	return PowerUnknown, nil
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// lastLine is the agent's last non-empty output line: its verdict.
func lastLine(s string) string {
	ls := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(ls) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(ls[i]); l != "" {
			return l
		}
	}
	return "(no output)"
}

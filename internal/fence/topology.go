package fence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"tandem/internal/config"
)

// Level is one topology level: every device in it must power the node off.
type Level struct {
	Devices []Device
	Plugs   []string // per device: the plug for this node ("" for none)
}

// Plan is how to fence one node: levels tried in order, each device
// attempted Retries+1 times, the whole within Timeout (stonith-timeout).
type Plan struct {
	Node    string
	Levels  []Level
	Retries int
	Timeout time.Duration
}

// Fence powers the node off: the first level whose devices all succeed
// confirms it. The error lists what every level said.
func Fence(ctx context.Context, p Plan) (by string, err error) {
	if len(p.Levels) == 0 {
		return "", fmt.Errorf("fence %s: %w: no device can fence it", p.Node, ErrFailed)
	}
	if p.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.Timeout)
		defer cancel()
	}
	var errs []string
	for i, l := range p.Levels {
		var names []string
		ok := true
		for j, d := range l.Devices {
			plug := ""
			if j < len(l.Plugs) {
				plug = l.Plugs[j]
			}
			if err := runRetried(ctx, d, Off, plug, p.Retries); err != nil {
				errs = append(errs, fmt.Sprintf("level %d: %v", i+1, err))
				ok = false
				break
			}
			names = append(names, d.Name())
		}
		if ok {
			return strings.Join(names, "+"), nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return "", fmt.Errorf("fence %s: %w: %s", p.Node, ErrFailed, strings.Join(errs, "; "))
}

func runRetried(ctx context.Context, d Device, action, plug string, retries int) error {
	var err error
	for range retries + 1 {
		if _, err = d.Run(ctx, action, plug); err == nil || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return err
		}
	}
	return err
}

// DeviceFor is the Device of a configured fence device.
func DeviceFor(d config.FenceDevice, log *slog.Logger) Device {
	if d.Agent != "" {
		return &Agent{DeviceName: d.Name, Path: d.Agent, Params: d.Params, Log: log}
	}
	return &Command{DeviceName: d.Name, Argv: []string{"sh", "-c", d.Command}}
}

// PlanFor is how m's fencing fences node: its topology levels (without a
// topology, each of its devices a level of its own, in order), each device
// with the node's plug, and m's retries and timeout.
func PlanFor(m *config.Model, node string, log *slog.Logger) Plan {
	f := m.Fencing
	p := Plan{Node: node, Retries: f.Retries, Timeout: f.Timeout}
	for _, names := range f.Topology[node] {
		var l Level
		for _, name := range names {
			for _, d := range f.Devices {
				if d.Name != name {
					continue
				}
				l.Devices = append(l.Devices, DeviceFor(d, log))
				plug := d.Plugs[node]
				if plug == "" && d.Command != "" {
					plug = node // an exec device is told which node in TANDEM_FENCE_NODE
				}
				l.Plugs = append(l.Plugs, plug)
			}
		}
		p.Levels = append(p.Levels, l)
	}
	return p
}

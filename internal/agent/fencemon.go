package agent

import (
	"context"
	"log/slog"
	"time"

	"tandem/internal/config"
	"tandem/internal/fence"
	"tandem/internal/node"
)

// monitorFencing runs every fence device's monitor action each
// fencing.monitor_interval, first at start (Pacemaker monitors its stonith
// devices too), and hands the outcomes to the core: a device that would
// fail a fence shows in status and alerts before a fence needs it.
func monitorFencing(ctx context.Context, m *config.Model, log *slog.Logger, out chan<- node.FenceDevice) {
	f := m.Fencing
	if !f.Enabled || f.MonitorInterval <= 0 {
		return
	}
	tick := time.NewTicker(f.MonitorInterval)
	defer tick.Stop()
	for {
		for _, d := range f.Devices {
			dctx, cancel := context.WithTimeout(ctx, min(f.MonitorInterval, f.Timeout))
			_, err := fence.DeviceFor(d, log).Run(dctx, fence.Monitor, "")
			cancel()
			r := node.FenceDevice{Name: d.Name}
			if err != nil {
				r.Err = err.Error()
			}
			select {
			case out <- r:
			case <-ctx.Done():
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

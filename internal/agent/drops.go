package agent

import (
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"tandem/internal/status"
	"tandem/internal/wire"
)

// dropLog rate-limits the log line for dropped packets: one line per reason
// every few seconds, with the count since the last line.
type dropLog struct {
	log    *slog.Logger
	last   map[string]time.Time
	since  map[string]uint64
	agent  map[string]uint64 // drops counted by the agent itself (queue full)
	period time.Duration
}

func newDropLog(log *slog.Logger) *dropLog {
	return &dropLog{log: log, last: map[string]time.Time{}, since: map[string]uint64{}, agent: map[string]uint64{}, period: 5 * time.Second}
}

func (d *dropLog) note(e *wire.DropError, from netip.AddrPort) {
	d.line(e.Reason.String(), e.Error(), from)
}

func (d *dropLog) count(reason, detail string) {
	d.agent[reason]++
	d.line(reason, detail, netip.AddrPort{})
}

func (d *dropLog) line(reason, detail string, from netip.AddrPort) {
	d.since[reason]++
	if time.Since(d.last[reason]) < d.period {
		return
	}
	d.last[reason] = time.Now()
	d.log.Warn("dropped packet", "reason", reason, "detail", detail, "from", from, "dropped_since_last_line", d.since[reason])
	d.since[reason] = 0
}

func (d *dropLog) snapshot(o *wire.Opener) []status.Drop {
	out := []status.Drop{}
	for r, c := range o.Drops() {
		if c > 0 {
			out = append(out, status.Drop{Reason: r.String(), Count: c})
		}
	}
	for r, c := range d.agent {
		out = append(out, status.Drop{Reason: r, Count: c})
	}
	slices.SortFunc(out, func(a, b status.Drop) int {
		if a.Reason < b.Reason {
			return -1
		}
		if a.Reason > b.Reason {
			return 1
		}
		return 0
	})
	return out
}

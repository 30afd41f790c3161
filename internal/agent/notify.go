package agent

import (
	"log/slog"
	"os"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// notifier speaks systemd's notify protocol (dist/systemd/tandem.service is
// Type=notify): READY=1 once the agent is up, WATCHDOG=1 from the event loop,
// STOPPING=1 when shutdown begins. Without NOTIFY_SOCKET (not started by
// systemd) every method is a no-op.
//
// The watchdog ping is sent from the loop's tick and nowhere else: a loop that
// is stuck stops pinging, and systemd kills and restarts the agent
// (WatchdogSec). A pinging goroutine of its own would keep a dead loop alive.
type notifier struct {
	log     *slog.Logger
	enabled bool          // NOTIFY_SOCKET is set
	every   time.Duration // watchdog ping period: WatchdogSec/2; 0 = no watchdog
	last    time.Time     // last ping (or READY=1, which starts systemd's watchdog timer)
	failed  bool          // a send failed: logged once, not on every tick
}

func newNotifier(log *slog.Logger) *notifier {
	n := &notifier{log: log, enabled: os.Getenv("NOTIFY_SOCKET") != ""}
	if !n.enabled {
		return n
	}
	// WATCHDOG_USEC is for the main process only (WATCHDOG_PID): the library
	// returns 0 in any other process.
	wd, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		log.Warn("systemd watchdog: ignoring WATCHDOG_USEC", "err", err)
	}
	n.every = wd / 2
	return n
}

// ready tells systemd the agent is up: sockets bound, API listening, core built.
func (n *notifier) ready(status string, now time.Time) {
	n.last = now
	n.send(daemon.SdNotifyReady + "\nSTATUS=" + status)
}

// stopping tells systemd the agent is releasing its resources.
func (n *notifier) stopping(status string) {
	n.send(daemon.SdNotifyStopping + "\nSTATUS=" + status)
}

// watchdog pings systemd's watchdog if half its period has passed. Call it
// from the event loop only.
func (n *notifier) watchdog(now time.Time) {
	if n.every <= 0 || now.Sub(n.last) < n.every {
		return
	}
	n.last = now
	n.send(daemon.SdNotifyWatchdog)
}

func (n *notifier) send(state string) {
	if !n.enabled {
		return
	}
	if _, err := daemon.SdNotify(false, state); err != nil {
		if !n.failed {
			n.log.Warn("sd_notify failed (not logged again until one succeeds)", "socket", os.Getenv("NOTIFY_SOCKET"), "err", err)
		}
		n.failed = true
		return
	}
	n.failed = false
}

package agent

import (
	"time"

	"tandem/internal/alert"
)

// alertGrace bounds how long a stopping agent, its resources released and
// its peers told, waits for alert hooks still queued or running; then it
// kills them.
const alertGrace = 5 * time.Second

// AlertStats counts alert hook runs (delivered, failed, timed out, dropped);
// safe from any goroutine, e.g. a metrics scrape.
func (a *Agent) AlertStats() alert.Stats {
	return a.alerts.Stats()
}

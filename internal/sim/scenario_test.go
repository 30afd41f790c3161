package sim

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
)

// TestScenarios replays the fault scripts in testdata/scenarios: each pins a
// bug the random generator once found, as a schedule anyone can read, with
// the transcript of what the cluster did. go test ./internal/sim -run
// TestScenarios -rewrite regenerates the transcripts; review the diff.
//
//	run layout=three [duration=40s] [control=r2-zero]
//	<script lines, see script.go>
//	----
//	<ok, or the violation; then assignments, starts, stops and faults>
func TestScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata/scenarios", func(t *testing.T, path string) {
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd != "run" {
				d.Fatalf(t, "unknown command %q", d.Cmd)
			}
			opt := Options{Duration: 40 * time.Second, TraceLen: 1 << 20}
			for _, a := range d.CmdArgs {
				if len(a.Vals) != 1 {
					d.Fatalf(t, "%s: one value", a.Key)
				}
				switch a.Key {
				case "layout":
					opt.Layout = Layout(a.Vals[0])
				case "duration":
					v, err := time.ParseDuration(a.Vals[0])
					if err != nil {
						d.Fatalf(t, "duration: %v", err)
					}
					opt.Duration = v
				case "control":
					opt.Control = Control(a.Vals[0])
				default:
					d.Fatalf(t, "unknown argument %q", a.Key)
				}
			}
			s, err := NewScript(opt, strings.Split(d.Input, "\n"))
			if err != nil {
				d.Fatalf(t, "%v", err)
			}
			r := s.Run()
			var b strings.Builder
			if r.Violation != "" {
				fmt.Fprintf(&b, "violation: %s\n", strings.TrimSpace(r.Violation))
			} else {
				b.WriteString("ok\n")
			}
			for _, l := range r.Trace {
				if scenarioLine(l) {
					b.WriteString(strings.TrimSpace(l) + "\n")
				}
			}
			return b.String()
		})
	})
}

// scenarioLine keeps the transcript to what an operator would follow.
func scenarioLine(l string) bool {
	for _, k := range []string{"script:", " ends", "assigned ", ": start ", ": stop ", "lease lost", "lease granted", "elected DC", "crashes", "boots", "paused", "resumes", "VIOLATION", "gate of", "maintenance", "DC keeps"} {
		if strings.Contains(l, k) && !strings.Contains(l, "dispatched") {
			return true
		}
	}
	return false
}

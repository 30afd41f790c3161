package schedule

import (
	"context"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"tandem/internal/config"
)

// TestScenariosMatchPacemaker runs every scenario's place commands through
// crm_simulate too: placements must match, or FILE:LINE is in
// testdata/differential.allow with the reason.
func TestScenariosMatchPacemaker(t *testing.T) {
	needCrmSimulate(t)
	if *update {
		t.Skip("-update rewrites transcripts only")
	}
	allow := allowList(t)
	tmp := t.TempDir()
	for _, dir := range []string{"testdata/scenarios", "testdata/pacemaker"} {
		datadriven.Walk(t, dir, func(t *testing.T, path string) {
			var m *config.Model
			var nodes []string
			datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
				switch d.Cmd {
				case "config":
					nodes = strings.Split(argOr(d, "nodes", "a,b"), ",")
					m, _ = scenarioConfig(nodes, d.Input)
				case "place", "simulate":
					if m == nil {
						break
					}
					v, err := scenarioView(nodes, d.Input)
					if err != nil {
						d.Fatalf(t, "%v", err)
					}
					if d.Cmd == "simulate" {
						// The hypothesis's after state must place as Pacemaker would.
						h := scenarioHypothesis(t, d)
						if v, err = h.Apply(m, v); err != nil {
							break // an error case: nothing to place
						}
					}
					want, err := crmSimulate(context.Background(), tmp, CIB(m, v), v.Now)
					if err != nil {
						d.Fatalf(t, "%v", err)
					}
					key := strings.TrimPrefix(d.Pos, "testdata/")
					diff := ours(m, Place(m, v)).diff(want)
					switch {
					case len(diff) > 0 && allow[key] == "":
						t.Errorf("%s: placement differs from crm_simulate:\n  %s", d.Pos, strings.Join(diff, "\n  "))
					case len(diff) == 0 && allow[key] != "":
						t.Errorf("%s matches Pacemaker now: remove it from differential.allow", key)
					}
				}
				return d.Expected
			})
		})
	}
}

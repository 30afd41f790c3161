package schedule

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCompareWithCrmSimulate times Place and crm_simulate on the
// benchmark's case of $SCHEDULE_COMPARE resources (scripts/schedule-bench.sh)
// and prints the ratio, but only once both placed every resource alike.
func TestCompareWithCrmSimulate(t *testing.T) {
	n, err := strconv.Atoi(os.Getenv("SCHEDULE_COMPARE"))
	if err != nil {
		t.Skip("set SCHEDULE_COMPARE=N (scripts/schedule-bench.sh does)")
	}
	needCrmSimulate(t)
	m, v := benchCase(n)
	start := time.Now()
	r := Place(m, v)
	mine := time.Since(start)
	start = time.Now()
	want, err := crmSimulate(context.Background(), t.TempDir(), CIB(m, v), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	theirs := time.Since(start)
	if d := ours(m, r).diff(want); len(d) > 0 {
		t.Fatalf("%d resources: placements differ on %d resources, no ratio:\n  %s", n, len(d), strings.Join(d[:min(len(d), 20)], "\n  "))
	}
	t.Logf("%d resources on 32 nodes: same placement; tandem %v, crm_simulate %v (includes its XML parsing and process start): ratio %.0f×",
		n, mine.Round(time.Microsecond), theirs.Round(time.Millisecond), float64(theirs)/float64(mine))
}

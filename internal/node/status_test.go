package node

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

// The status a node reports, in virtual time, as JSON: a golden file shows
// any change to what operators and scripts read.
func TestStatusGolden(t *testing.T) {
	p := newPair(t, testModel(100, 50))
	p.failOn["svc"] = "a"
	p.run(3 * time.Second)
	st := p.nodes["b"].Status()
	got, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "status-b.json")
	if *update {
		if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if string(append(got, '\n')) != string(want) {
		t.Fatalf("status changed (rerun with -update and review the diff):\n%s", got)
	}
}

package agent

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tandem/internal/schedule"
)

// The saved inputs are a bounded ring of whole files: the newest keep
// survive, no temporary file is left, an input equal to the newest on disk
// (a restart) is not saved twice, and each reads back as written.
func TestPEInputsRing(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	t0 := time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC)
	input := func(i int) PEInput {
		return PEInput{Node: "a", At: t0.Add(time.Duration(i) * time.Second), ConfigHash: "00000000000000ff",
			View: schedule.View{Online: []string{"a", "b"}, Now: t0.Add(time.Duration(i) * time.Second),
				Running: map[string]string{"voice": "a"}, FailCounts: map[string]map[string]int{"fs": {"a": i}}}}
	}
	p, err := newPEInputs(dir, 5, log)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 12; i++ {
		p.in <- input(i) // blocking here (not add) so the test sees every write
	}
	p.close()
	files, err := ListPEInputs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 5 {
		t.Fatalf("%d files kept, want 5: %v", len(files), files)
	}
	for i, f := range files {
		in, err := ReadPEInput(f)
		if err != nil {
			t.Fatal(err)
		}
		if want := 8 + i; in.View.FailCounts["fs"]["a"] != want || !in.At.Equal(input(want).At) {
			t.Errorf("%s holds input %d at %v, want %d", f, in.View.FailCounts["fs"]["a"], in.At, want)
		}
	}
	es, _ := os.ReadDir(filepath.Join(dir, PEInputDir))
	if len(es) != 5 {
		t.Errorf("pe-input holds %d entries, want the 5 inputs and no temporary file", len(es))
	}

	// Restart: the same input as the newest, a moment later, is not saved.
	p, err = newPEInputs(dir, 5, log)
	if err != nil {
		t.Fatal(err)
	}
	again := input(12)
	again.At, again.View.Now = again.At.Add(time.Minute), again.View.Now.Add(time.Minute)
	p.in <- again
	p.close()
	if files2, _ := ListPEInputs(dir); files2[len(files2)-1] != files[len(files)-1] {
		t.Errorf("an input equal to the newest was saved again as %s", files2[len(files2)-1])
	}

	if _, err := ReadPEInput(filepath.Join(dir, "nope.json")); err == nil {
		t.Error("reading a missing input did not fail")
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("{"), 0o600)
	if _, err := ReadPEInput(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("a truncated input: %v, want an error naming the file", err)
	}
}

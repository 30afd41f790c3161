package schedule

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCoverage keeps testdata/COVERAGE true: every feature of the model is
// tagged ("# covers: ...") in at least two scenario files, every listed
// pair of features shares at least one, and there are at least ten pairs.
// The file lists the scenarios itself; -update rewrites those lists.
func TestCoverage(t *testing.T) {
	tags := map[string][]string{} // feature → files
	files, _ := filepath.Glob("testdata/scenarios/*.txt")
	more, _ := filepath.Glob("testdata/pacemaker/*.txt")
	byFile := map[string][]string{}
	for _, f := range append(files, more...) {
		name := strings.TrimPrefix(f, "testdata/")
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(data), "\n") {
			if rest, ok := strings.CutPrefix(l, "# covers:"); ok {
				for _, tag := range strings.Split(rest, ",") {
					tag = strings.TrimSpace(tag)
					tags[tag] = append(tags[tag], name)
					byFile[name] = append(byFile[name], tag)
				}
			}
		}
	}
	f, err := os.Open("testdata/COVERAGE")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out strings.Builder
	features, pairs := map[string]bool{}, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		key, _, _ := strings.Cut(l, ":")
		key = strings.TrimSpace(key)
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
			out.WriteString(l + "\n")
		case strings.Contains(key, " × "):
			a, b, _ := strings.Cut(key, " × ")
			var both []string
			for _, file := range tags[a] {
				if slices.Contains(byFile[file], b) {
					both = append(both, file)
				}
			}
			if len(both) == 0 {
				t.Errorf("COVERAGE: no scenario covers both %s and %s", a, b)
			}
			pairs++
			fmt.Fprintf(&out, "%s: %s\n", key, strings.Join(both, " "))
		default:
			features[key] = true
			if len(tags[key]) < 2 {
				t.Errorf("COVERAGE: feature %s is covered by %d scenario files, want at least 2", key, len(tags[key]))
			}
			fmt.Fprintf(&out, "%s: %s\n", key, strings.Join(tags[key], " "))
		}
	}
	for tag, fs := range tags {
		if !features[tag] {
			t.Errorf("%s tag %q, which COVERAGE does not list", fs[0], tag)
		}
	}
	if pairs < 10 {
		t.Errorf("COVERAGE lists %d interactions, want at least 10", pairs)
	}
	if *update {
		if err := os.WriteFile("testdata/COVERAGE", []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	data, _ := os.ReadFile("testdata/COVERAGE")
	if string(data) != out.String() {
		t.Errorf("testdata/COVERAGE is stale: rerun with -update and review the diff")
	}
}

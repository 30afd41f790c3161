package internal_test

import (
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The sans-IO core must stay deterministic: no sockets, files, processes,
// syscalls, wall clocks or goroutines, so the simulator can drive it.
var corePkgs = []string{"membership", "node", "ownership", "schedule", "statelog", "status", "wire"}

var forbidden = map[string]bool{"net": true, "os": true, "os/exec": true, "syscall": true, "math/rand": true, "net/http": true}

func TestCoreImportsNoIO(t *testing.T) {
	fset := token.NewFileSet()
	for _, p := range corePkgs {
		files, err := filepath.Glob(filepath.Join(p, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("core package %s: no files (%v)", p, err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(fset, f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range af.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if forbidden[path] {
					t.Errorf("%s imports %s: the core is sans-IO", f, path)
				}
			}
		}
		out, err := exec.Command("go", "list", "-f", `{{join .Imports " "}}`, "tandem/internal/"+p).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", p, err)
		}
		for _, imp := range strings.Fields(string(out)) {
			if strings.HasPrefix(imp, "tandem/") && !isCore(imp) {
				t.Errorf("core package %s imports %s, which is not core", p, imp)
			}
		}
	}
}

func isCore(imp string) bool {
	for _, p := range corePkgs {
		if imp == "tandem/internal/"+p || imp == "tandem/internal/config" || imp == "tandem/internal/resource" {
			return true
		}
	}
	return false
}

// No wall clock, no goroutines: grep the source for time.Now, time.Since,
// time.After, time.Sleep, time.NewTimer/Ticker and go statements.
func TestCoreReadsNoClock(t *testing.T) {
	fset := token.NewFileSet()
	for _, p := range corePkgs {
		files, _ := filepath.Glob(filepath.Join(p, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(fset, f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, bad := range findClockAndGo(af) {
				t.Errorf("%s: %s", fset.Position(bad.pos), bad.what)
			}
		}
	}
}

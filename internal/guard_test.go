package internal_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The sans-IO core must stay deterministic: no sockets, files, processes,
// syscalls, global randomness, wall clocks or goroutines, so a seeded
// simulator can drive it and replay any run.
var corePkgs = []string{"membership", "node", "ownership", "quorum", "schedule", "statelog", "status", "wire"}

var forbidden = map[string]bool{"net": true, "net/http": true, "os": true, "os/exec": true, "syscall": true, "math/rand": true, "math/rand/v2": true}

// Data-only packages the core may use besides itself.
var coreDeps = map[string]bool{"tandem/internal/config": true, "tandem/internal/resource": true}

var clockFuncs = map[string]bool{"Now": true, "Since": true, "Until": true, "After": true, "AfterFunc": true, "Sleep": true, "NewTimer": true, "NewTicker": true, "Tick": true}

func TestCoreIsSansIO(t *testing.T) {
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
				if path, _ := strconv.Unquote(imp.Path.Value); forbidden[path] {
					t.Errorf("%s imports %s: the core is sans-IO", f, path)
				}
			}
			ast.Inspect(af, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.GoStmt:
					t.Errorf("%s: go statement in the core", fset.Position(n.Pos()))
				case *ast.SelectorExpr:
					if id, ok := n.X.(*ast.Ident); ok && id.Name == "time" && clockFuncs[n.Sel.Name] {
						t.Errorf("%s: time.%s reads the clock: time is an input", fset.Position(n.Pos()), n.Sel.Name)
					}
				}
				return true
			})
		}
		out, err := exec.Command("go", "list", "-f", `{{join .Imports " "}}`, "tandem/internal/"+p).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", p, err)
		}
		for _, imp := range strings.Fields(string(out)) {
			if strings.HasPrefix(imp, "tandem/") && !coreDeps[imp] && !isCore(imp) {
				t.Errorf("core package %s imports %s, which is not core", p, imp)
			}
		}
	}
}

func isCore(imp string) bool {
	for _, p := range corePkgs {
		if imp == "tandem/internal/"+p {
			return true
		}
	}
	return false
}

package internal_test

import (
	"go/ast"
	"go/token"
)

type finding struct {
	pos  token.Pos
	what string
}

var clockFuncs = map[string]bool{"Now": true, "Since": true, "Until": true, "After": true, "AfterFunc": true, "Sleep": true, "NewTimer": true, "NewTicker": true, "Tick": true}

func findClockAndGo(f *ast.File) []finding {
	var out []finding
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.GoStmt:
			out = append(out, finding{n.Pos(), "go statement in the core"})
		case *ast.SelectorExpr:
			if id, ok := n.X.(*ast.Ident); ok && id.Name == "time" && clockFuncs[n.Sel.Name] {
				out = append(out, finding{n.Pos(), "time." + n.Sel.Name + " reads the clock: time is an input"})
			}
		}
		return true
	})
	return out
}

package schedule

import (
	"strconv"
	"strings"

	"tandem/internal/config"
)

// matches evaluates a location rule on a node the way Pacemaker 2.1 does:
// lt/gt/lte/gte compare as numbers, eq/ne as case-insensitive strings, and
// a missing attribute sorts below every value (so "lt" and "ne" hold).
func matches(r *config.NodeRule, node string, attrs map[string]string) bool {
	for _, e := range r.Exprs {
		if ok := holds(e, node, attrs); ok == r.Or {
			return ok
		}
	}
	return !r.Or
}

func holds(e config.RuleExpr, node string, attrs map[string]string) bool {
	val, ok := attrs[e.Attr]
	if e.Attr == config.AttrUname {
		val, ok = node, true
	}
	switch e.Op {
	case "defined":
		return ok
	case "not_defined":
		return !ok
	}
	c := compare(val, ok, e.Value, e.Op)
	switch e.Op {
	case "eq":
		return c == 0
	case "ne":
		return c != 0
	case "lt":
		return c < 0
	case "lte":
		return c <= 0
	case "gt":
		return c > 0
	case "gte":
		return c >= 0
	}
	return false
}

func compare(val string, defined bool, want, op string) int {
	if !defined {
		return -1
	}
	if op == "eq" || op == "ne" {
		return strings.Compare(strings.ToLower(val), strings.ToLower(want))
	}
	a, errA := strconv.ParseFloat(strings.TrimSpace(val), 64)
	b, errB := strconv.ParseFloat(strings.TrimSpace(want), 64)
	if errA != nil || errB != nil {
		return strings.Compare(val, want)
	}
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

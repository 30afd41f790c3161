package schedule

import (
	"testing"

	"tandem/internal/config"
)

func model(stickiness, pref int) *config.Model {
	return &config.Model{
		Groups:      []config.Group{{Name: "voice", Members: []string{"vip", "svc"}}},
		Constraints: []config.Location{{Target: "voice", Node: "a", Score: pref}},
		Defaults:    config.Defaults{Stickiness: stickiness},
	}
}

func TestPlace(t *testing.T) {
	tests := []struct {
		name       string
		m          *config.Model
		v          View
		want       string
		wantTop    int
		wantReason string
	}{
		{"preferred node", model(0, 50), View{Online: []string{"b", "a"}}, "a", 50, "location voice on a: 50"},
		{"stickiness outweighs preference", model(100, 50), View{Online: []string{"a", "b"}, Running: map[string]string{"voice": "b"}}, "b", 200, "stickiness"},
		{"preference outweighs stickiness", model(10, 50), View{Online: []string{"a", "b"}, Running: map[string]string{"voice": "b"}}, "a", 50, "location"},
		{"only survivor", model(0, 50), View{Online: []string{"b"}}, "b", 0, "no preference"},
		{"nobody online", model(0, 50), View{}, "", 0, ""},
		{"start failure bans", model(0, 50), View{Online: []string{"a", "b"}, FailCounts: map[string]map[string]int{"svc": {"a": Infinity}}}, "b", 0, ""},
		{"banned everywhere", model(0, 50), View{Online: []string{"a"}, FailCounts: map[string]map[string]int{"svc": {"a": Infinity}}}, "", -Infinity, "svc failed to start"},
		{"tie prefers current node", model(0, 0), View{Online: []string{"a", "b"}, Running: map[string]string{"voice": "b"}}, "b", 0, ""},
		{"tie without runner goes by name", model(0, 0), View{Online: []string{"b", "a"}}, "a", 0, ""},
		{"-INFINITY avoids", model(0, -Infinity), View{Online: []string{"a", "b"}}, "b", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Place(tt.m, tt.v)
			if got := r.Placement["voice"]; got != tt.want {
				t.Fatalf("placement = %q, want %q (scores %+v)", got, tt.want, r.Scores["voice"])
			}
			sc := r.Scores["voice"]
			if len(sc) == 0 {
				return
			}
			if sc[0].Total != tt.wantTop {
				t.Errorf("top score = %d, want %d (%+v)", sc[0].Total, tt.wantTop, sc)
			}
			if tt.wantReason != "" && !containsPrefix(sc[0].Reasons, tt.wantReason) {
				t.Errorf("reasons %q lack %q", sc[0].Reasons, tt.wantReason)
			}
		})
	}
}

func containsPrefix(rs []string, p string) bool {
	for _, r := range rs {
		if len(r) >= len(p) && r[:len(p)] == p {
			return true
		}
	}
	return false
}

func TestAddSaturates(t *testing.T) {
	if add(Infinity, -Infinity) != -Infinity || add(Infinity, 5) != Infinity || add(3, 4) != 7 {
		t.Fatal("score arithmetic does not saturate like Pacemaker's")
	}
}

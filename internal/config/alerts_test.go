package config

import (
	"strings"
	"testing"
	"time"
)

const withAlerts = good + `alerts:
  - name: webhook
    path: /etc/tandem/alerts/webhook.sh
    events: [node_down, group_moved]
    env: {WEBHOOK_URL: "https://hooks.example/x", RETRIES: 3}
  - name: mail
    path: /etc/tandem/alerts/../alerts/mail.sh
    timeout: 5s
`

func TestAlerts(t *testing.T) {
	m, err := Parse("t.yaml", []byte(withAlerts))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Alerts) != 2 {
		t.Fatalf("alerts %+v", m.Alerts)
	}
	w, ml := m.Alerts[0], m.Alerts[1]
	if w.Name != "webhook" || w.Timeout != DefaultAlertTimeout || strings.Join(w.Events, ",") != "node_down,group_moved" ||
		strings.Join(w.Env, " ") != "RETRIES=3 WEBHOOK_URL=https://hooks.example/x" {
		t.Errorf("webhook %+v", w)
	}
	if ml.Path != "/etc/tandem/alerts/mail.sh" || ml.Timeout != 5*time.Second || ml.Events != nil || !ml.Wants("became_backup") {
		t.Errorf("mail %+v", ml)
	}
	if w.Wants("node_up") || !w.Wants("group_moved") {
		t.Error("Wants ignores the events list")
	}
	r := Check(m).String()
	for _, s := range []string{
		"alert webhook: /etc/tandem/alerts/webhook.sh on node_down, group_moved (killed after 30s, env RETRIES WEBHOOK_URL)",
		"alert mail: /etc/tandem/alerts/mail.sh on every event (killed after 5s)",
	} {
		if !strings.Contains(r, s) {
			t.Errorf("report lacks %q:\n%s", s, r)
		}
	}
	if strings.Contains(r, "hooks.example") {
		t.Error("the report shows an env value (it may hold a token)")
	}
}

func TestAlertErrors(t *testing.T) {
	tests := []struct{ from, to, want string }{
		{"timeout: 5s", "timeout: 5", `t.yaml:22:5: alerts[1].timeout: "5" is not a duration`},
		{"timeout: 5s", "timeout: 0s", `alerts[1].timeout: "0s" must be more than 0`},
		{"[node_down, group_moved]", "[node_down, node_dead]", `t.yaml:18:25: alerts[0].events[1]: "node_dead" is not an event; allowed: node_up, node_down, link_up, link_down, quorum_gained, quorum_lost, resource_started, resource_stopped, resource_failed, group_moved, split_brain_healed, became_active, became_backup, node_fenced, fence_failed, fence_device_failed`},
		{"[node_down, group_moved]", "[node_down, node_down]", `alerts[0].events[1]: "node_down" is listed twice`},
		{"[node_down, group_moved]", "[]", `alerts[0].events: an empty list never runs the hook`},
		{"path: /etc/tandem/alerts/webhook.sh", "path: alerts/webhook.sh", `t.yaml:17:5: alerts[0].path: "alerts/webhook.sh": allowed: an absolute path`},
		{"    path: /etc/tandem/alerts/webhook.sh\n", "", `alerts[0].path: required`},
		{"name: mail", "name: webhook", `alerts[1].name: alert "webhook" is defined twice`},
		{"name: mail", "name: Mail", `alerts[1].name: alert name "Mail": allowed: lower-case`},
		{"RETRIES: 3", "TANDEM_X: 3", `alerts[0].env.TANDEM_X: TANDEM_* variables carry the event`},
		{"RETRIES: 3", "2X: 3", `alerts[0].env.2X: "2X" is not a variable name`},
		{"RETRIES: 3", "RETRIES: [3]", `alerts[0].env.RETRIES: must be a single value`},
		{"timeout: 5s", "timout: 5s", `alerts[1]: unknown field "timout"; allowed: name, path, timeout, events, env`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if !strings.Contains(withAlerts, tt.from) {
				t.Fatalf("test bug: %q not in the base config", tt.from)
			}
			_, err := Parse("t.yaml", []byte(strings.Replace(withAlerts, tt.from, tt.to, 1)))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error:\n%v\nwant it to contain:\n%s", err, tt.want)
			}
		})
	}
}

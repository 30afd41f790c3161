package cli

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"tandem/internal/api"
	"tandem/internal/schedule"
	"tandem/internal/status"
)

// backend records the instructions the CLI sends; an unknown node is
// refused as the agent would.
type backend struct{ got []api.AdminRequest }

func (b *backend) Status(context.Context) (status.Status, error) {
	return status.Status{Schema: status.Schema}, nil
}
func (b *backend) Unblock(context.Context) error { return nil }
func (b *backend) Explain(_ context.Context, r string) (schedule.Explanation, error) {
	return schedule.Explain(explainModel, explainView, r)
}
func (b *backend) Rejoin(context.Context, string) error { return nil }
func (b *backend) Admin(_ context.Context, r api.AdminRequest) error {
	if r.Node == "x" {
		return fmt.Errorf("%s: no node named %q; nodes: a, b", r.Op, r.Node)
	}
	b.got = append(b.got, r)
	return nil
}

// serveBackend serves a fake agent on a socket for the CLI to talk to.
func serveBackend(t *testing.T) string {
	sock, _ := serveBackendB(t)
	return sock
}

func serveBackendB(t *testing.T) (string, *backend) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "run", "tandem.sock")
	l, err := api.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{}
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	go api.Serve(ctx, l, b)
	return sock, b
}

func TestAdminCommands(t *testing.T) {
	sock, b := serveBackendB(t)
	for _, tc := range []struct {
		args []string
		want api.AdminRequest
		out  string
	}{
		{[]string{"standby", "a"}, api.AdminRequest{Op: "standby", Node: "a"}, "node a in standby"},
		{[]string{"online", "a"}, api.AdminRequest{Op: "online", Node: "a"}, "node a online"},
		{[]string{"maintenance", "on"}, api.AdminRequest{Op: "maintenance-on"}, "the cluster maintenance on"},
		{[]string{"maintenance", "off", "b"}, api.AdminRequest{Op: "maintenance-off", Node: "b"}, "node b maintenance off"},
		{[]string{"move", "voice", "b", "--lifetime", "30m"}, api.AdminRequest{Op: "move", Resource: "voice", Node: "b", Lifetime: "30m"}, "moving voice to b for 30m"},
		{[]string{"ban", "voice", "a"}, api.AdminRequest{Op: "ban", Resource: "voice", Node: "a"}, "voice banned from a"},
		{[]string{"clear", "voice"}, api.AdminRequest{Op: "clear", Resource: "voice"}, "moves and bans of voice cleared"},
		{[]string{"cleanup", "voice", "a"}, api.AdminRequest{Op: "cleanup", Resource: "voice", Node: "a"}, "failures of voice forgotten on a"},
		{[]string{"disable", "voice"}, api.AdminRequest{Op: "disable", Resource: "voice"}, "voice disabled"},
		{[]string{"enable", "voice"}, api.AdminRequest{Op: "enable", Resource: "voice"}, "voice enabled"},
	} {
		code, out, errs := run(t, append(tc.args, "--socket", sock)...)
		if code != 0 || !strings.Contains(out, tc.out) {
			t.Errorf("%v: exit %d, out %q, err %q", tc.args, code, out, errs)
			continue
		}
		if got := b.got[len(b.got)-1]; got != tc.want {
			t.Errorf("%v sent %+v, want %+v", tc.args, got, tc.want)
		}
	}
	if code, _, errs := run(t, "standby", "x", "--socket", sock); code == 0 || !strings.Contains(errs, `standby: no node named "x"; nodes: a, b`) {
		t.Errorf("refused standby: exit %d, %q", code, errs)
	}
	if code, _, errs := run(t, "maintenance", "sideways", "--socket", sock); code == 0 || !strings.Contains(errs, `want on or off`) {
		t.Errorf("bad maintenance: exit %d, %q", code, errs)
	}
}

func TestStatusShowsOperatorInstructions(t *testing.T) {
	st := status.Status{Schema: status.Schema, Maintenance: true,
		Nodes:    []status.Node{{Name: "a", State: "online", Standby: true}, {Name: "b", State: "online", Maintenance: true}},
		Operator: []status.Instruction{{Op: "move", Target: "voice", Node: "b", Until: "2026-12-04T02:00:00Z"}, {Op: "ban", Target: "db", Node: "a"}, {Op: "disable", Target: "web"}}}
	var out bytes.Buffer
	WriteStatus(&out, st, false)
	for _, want := range []string{"MAINTENANCE: resources are left as they are", "a     online standby", "b     online maintenance",
		"move voice to b until 2026-12-04T02:00:00Z", "ban db from a", "disable web"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
}

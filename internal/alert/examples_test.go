package alert

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tandem/internal/config"
	"tandem/internal/node"
)

// An event whose detail needs escaping in JSON and must not add mail headers.
var tricky = Event{At: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC), Event: node.Event{
	Kind: node.GroupMoved, Group: "voice", Peer: "b", Link: -1, Took: 1020 * time.Millisecond,
	Detail: "say \"hi\" \\ tab\there\nBcc: evil@example.com\x01",
}}

func example(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "examples", "alerts", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func runExample(t *testing.T, h config.Alert) Stats {
	t.Helper()
	log, logs := logger()
	d := New(Options{Cluster: "fs-pair", Node: "a", Log: log, Hooks: []config.Alert{h}})
	d.Notify(tricky)
	d.Close(30 * time.Second)
	s := d.Stats()
	if s.Delivered != 1 {
		t.Fatalf("%s: %+v\n%s", h.Name, s, logs)
	}
	return s
}

func TestWebhookExample(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	type req struct {
		auth, ctype string
		body        []byte
	}
	got := make(chan req, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- req{r.Header.Get("Authorization"), r.Header.Get("Content-Type"), b}
	}))
	defer srv.Close()
	runExample(t, config.Alert{Name: "webhook", Path: example(t, "webhook.sh"), Timeout: 20 * time.Second,
		Env: []string{"WEBHOOK_URL=" + srv.URL + "/hook?x=1", `WEBHOOK_HEADER=Authorization: Bearer t0k"en`}})
	r := <-got
	if r.auth != `Bearer t0k"en` || r.ctype != "application/json" {
		t.Errorf("headers: %q %q", r.auth, r.ctype)
	}
	var p map[string]any
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, r.body)
	}
	want := map[string]any{
		"text": "group voice moved from b to a in 1.02s: say \"hi\" \\ tab\there\nBcc: evil@example.com", "cluster": "fs-pair",
		"node": "a", "event": "group_moved", "peer": "b", "link": nil, "resource": "", "group": "voice",
		"detail": "say \"hi\" \\ tab\there\nBcc: evil@example.com", "took_ms": 1020.0,
		"timestamp": "2025-03-04T05:06:07Z", "sequence": 1.0, "alert": "webhook",
	}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("%s: %#v, want %#v", k, p[k], v)
		}
	}
	if len(p) != len(want) {
		t.Errorf("fields %v", p)
	}
}

func TestMailExample(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "message")
	hook(t, dir, "sendmail", `printf '%s\n' "$*" > "`+out+`.args"; cat > "`+out+`"`)
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	runExample(t, config.Alert{Name: "mail", Path: example(t, "mail.sh"), Timeout: 20 * time.Second,
		Env: []string{"MAIL_TO=oncall@example.com", "MAIL_FROM=tandem@a.example.com"}})
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	msg := string(b)
	head, body, _ := strings.Cut(msg, "\n\n")
	for _, w := range []string{"To: oncall@example.com\n", "From: tandem@a.example.com\n",
		`Subject: [tandem fs-pair] group voice moved from b to a in 1.02s: say "hi" \ tab here Bcc: evil@example.com` + "\n"} {
		if !strings.Contains(head+"\n", w) {
			t.Errorf("headers lack %q:\n%s", w, head)
		}
	}
	if strings.Contains(head, "\nBcc:") {
		t.Errorf("the event's detail added a header:\n%s", head)
	}
	for _, w := range []string{"event:     group_moved\n", "peer:      b\n", "took:      1020 ms\n", "sequence:  1 "} {
		if !strings.Contains(body, w) {
			t.Errorf("body lacks %q:\n%s", w, body)
		}
	}
	if a, _ := os.ReadFile(out + ".args"); strings.TrimSpace(string(a)) != "-oi -t" {
		t.Errorf("sendmail args %q", a)
	}
}

package ocf

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"tandem/internal/config"
)

const checkHead = `cluster: t
key_file: /tmp/k
nodes:
  - {name: a, links: [198.18.0.10]}
  - {name: b, links: [198.18.0.11]}
resources:
`

func parse(t *testing.T, resources string) *config.Model {
	t.Helper()
	m, err := config.Parse("tandem.yaml", []byte(checkHead+resources))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func errTexts(errs []config.Error) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// IPaddr2's real meta-data: its required ip, and a misspelt parameter.
func TestCheckIPaddr2(t *testing.T) {
	heartbeat(t, "IPaddr2")
	m := parse(t, `  - name: svc
    type: ocf:heartbeat:Dummy
    params: {state: /tmp/x}
  - name: vip
    type: ocf:heartbeat:IPaddr2
    params:
      nic: eth0
      ipp: 198.18.0.100
`)
	got := errTexts(Check(context.Background(), m, discard()))
	if len(got) != 2 {
		t.Fatalf("got %d errors, want 2:\n%s", len(got), strings.Join(got, "\n"))
	}
	if want := `tandem.yaml:12:5: resources[1].params: ocf:heartbeat:IPaddr2 requires parameter "ip"`; got[1] != want {
		t.Errorf("got  %s\nwant %s", got[1], want)
	}
	if want := `tandem.yaml:14:7: resources[1].params.ipp: unknown parameter of ocf:heartbeat:IPaddr2 (did you mean "ip"?); allowed: ip, nic, cidr_netmask, `; !strings.HasPrefix(got[0], want) {
		t.Errorf("got  %s\nwant %s…", got[0], want)
	}

	m = parse(t, `  - name: vip
    type: ocf:heartbeat:IPaddr2
    params: {ip: 198.18.0.100, cidr_netmask: 24, nic: eth0}
`)
	if errs := Check(context.Background(), m, discard()); len(errs) > 0 {
		t.Fatalf("a good IPaddr2 resource: %v", errTexts(errs))
	}
}

const fakeMetaData = `case "$1" in
meta-data) cat <<'EOF'
<?xml version="1.0"?>
<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">
<resource-agent name="fake" version="1.0">
<version>1.1</version>
<parameters>
<parameter name="addr" unique="1" required="1"><content type="string"/></parameter>
<parameter name="port" required="true"><content type="integer" default="80"/></parameter>
<parameter name="opt" unique="0"><content type="string" default="x"/></parameter>
</parameters>
<actions><action name="start" timeout="20s"/></actions>
</resource-agent>
EOF
;;
*) exit 0;;
esac
`

func TestParseMetaData(t *testing.T) {
	root := fakeRoot(t, fakeMetaData)
	md, err := ReadMetaData(context.Background(), root, config.OCFParams{Provider: "test", Type: "fake"}, discard())
	if err != nil {
		t.Fatal(err)
	}
	want := []Param{{Name: "addr", Required: true, Unique: true}, {Name: "port", Required: true, Default: "80"}, {Name: "opt", Default: "x"}}
	if md.Name != "fake" || len(md.Params) != len(want) {
		t.Fatalf("got %+v", md)
	}
	for i, p := range want {
		if md.Params[i] != p {
			t.Errorf("param %d: %+v, want %+v", i, md.Params[i], p)
		}
	}
}

func TestCheckErrors(t *testing.T) {
	root := fakeRoot(t, fakeMetaData)
	m := parse(t, `  - name: one
    type: ocf:test:fake
    params: {addr: 198.18.0.1, port: 80}
  - name: two
    type: ocf:test:fake
    params: {addr: 198.18.0.1, port: 81}
  - name: three
    type: ocf:test:missing
`)
	want := []string{
		`tandem.yaml:12:14: resources[1].params.addr: "198.18.0.1" is already one's addr: ocf:test:fake declares addr unique`,
		`tandem.yaml:14:5: resources[2].type: ocf:test:missing is not installed here: ` + root + `/resource.d/test/missing: not found (Debian and Ubuntu: apt install resource-agents)`,
	}
	got := errTexts(check(context.Background(), m, root, discard()))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	for _, tc := range []struct{ script, want string }{
		{`[ "$1" = meta-data ] && exit 1`, `tandem.yaml:8:5: resources[0].type: cannot check its params: ocf:test:fake meta-data: exit status 1`},
		{`echo 'not xml'`, `tandem.yaml:8:5: resources[0].type: cannot check its params: ocf:test:fake: meta-data is not resource-agent XML`},
	} {
		root := fakeRoot(t, tc.script)
		m := parse(t, "  - name: one\n    type: ocf:test:fake\n")
		got := errTexts(check(context.Background(), m, root, discard()))
		if len(got) != 1 || !strings.HasPrefix(got[0], tc.want) {
			t.Errorf("%s: got %q, want %s…", tc.script, got, tc.want)
		}
	}
}

// Meta-data that never ends is cut off at MetaDataTimeout.
func TestMetaDataDeadline(t *testing.T) {
	root := fakeRoot(t, `sleep 30`)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	began := time.Now()
	if _, err := ReadMetaData(ctx, root, config.OCFParams{Provider: "test", Type: "fake"}, discard()); err == nil {
		t.Fatal("no error")
	}
	if d := time.Since(began); d > 3*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"ip", "ipp", 1}, {"nic", "nci", 2}, {"kitten", "sitting", 3}, {"", "abc", 3}} {
		if d := editDistance(tc.a, tc.b); d != tc.d {
			t.Errorf("%q %q: %d, want %d", tc.a, tc.b, d, tc.d)
		}
	}
}

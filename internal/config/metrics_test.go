package config

import (
	"strconv"
	"strings"
	"testing"
)

func TestMetricsListen(t *testing.T) {
	m, err := Parse("t.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if m.Metrics.Listen != "" {
		t.Fatalf("metrics listener on by default: %+v", m.Metrics)
	}
	for _, tt := range []struct {
		listen  string
		exposed bool
	}{
		{"127.0.0.1:9464", false},
		{"[::1]:9464", false},
		{"localhost:9464", false},
		{"10.101.20.110:9464", true},
		{":9464", true},
		{"[::]:9464", true},
	} {
		m, err := Parse("t.yaml", []byte(good+"metrics: {listen: \""+tt.listen+"\"}\n"))
		if err != nil {
			t.Fatalf("%s: %v", tt.listen, err)
		}
		if m.Metrics.Listen != tt.listen || m.Metrics.Exposed != tt.exposed {
			t.Errorf("%s: %+v, want exposed %v", tt.listen, m.Metrics, tt.exposed)
		}
		r := Check(m).String()
		if !strings.Contains(r, "metrics: Prometheus endpoint on http://"+tt.listen+"/metrics") {
			t.Errorf("%s: report does not say where metrics are served:\n%s", tt.listen, r)
		}
		if got := strings.Contains(r, "is reachable from other hosts"); got != tt.exposed {
			t.Errorf("%s: exposure warning %v, want %v:\n%s", tt.listen, got, tt.exposed, r)
		}
	}
	line := strings.Count(good, "\n") + 1
	for listen, want := range map[string]string{
		"9464":              `metrics.listen: "9464" is not host:port: write host:port, e.g. 127.0.0.1:9464`,
		"127.0.0.1:0":       `metrics.listen: "127.0.0.1:0": port "0": allowed: 1..65535`,
		"127.0.0.1:http":    `metrics.listen: "127.0.0.1:http": port "http": allowed: 1..65535`,
		"node1.lan:9464":    `metrics.listen: "node1.lan:9464": host "node1.lan" is not an IP address`,
		"127.0.0.1:9464:1":  `is not host:port`,
		"http://a:9464/x":   `is not host:port`,
		"10.0.0.300:9464":   `host "10.0.0.300" is not an IP address`,
		"127.0.0.1:9999999": `port "9999999": allowed: 1..65535`,
	} {
		_, err := Parse("t.yaml", []byte(good+"metrics: {listen: \""+listen+"\"}\n"))
		if err == nil {
			t.Errorf("%s: accepted", listen)
			continue
		}
		if !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "t.yaml:"+strconv.Itoa(line)+":") {
			t.Errorf("%s: error %q, want t.yaml:%d:…: and %q", listen, err, line, want)
		}
	}
	_, err = Parse("t.yaml", []byte(good+"metrics: {address: \"127.0.0.1:9464\"}\n"))
	if err == nil || !strings.Contains(err.Error(), `metrics: unknown field "address"; allowed: listen`) {
		t.Errorf("unknown metrics key: %v", err)
	}
}

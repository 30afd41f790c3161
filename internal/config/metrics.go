package config

import (
	"net"
	"net/netip"
	"strconv"
)

// metrics validates the optional Prometheus listener: host:port, where host
// is an IP address, "localhost", or empty for every address.
func (v *validator) metrics(r *rawConfig, m *Model) {
	l := r.Metrics.Listen
	if l == "" {
		return
	}
	const allowed = "write host:port, e.g. 127.0.0.1:9464, [::1]:9464, localhost:9464, or :9464 for every address"
	host, port, err := net.SplitHostPort(l)
	if err != nil {
		v.errf("metrics.listen", "%q is not host:port: %s", l, allowed)
		return
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		v.errf("metrics.listen", "%q: port %q: allowed: 1..65535 (9464 is the usual one for tandem)", l, port)
		return
	}
	switch addr, err := netip.ParseAddr(host); {
	case host == "localhost":
	case host == "":
		m.Metrics.Exposed = true
	case err != nil:
		v.errf("metrics.listen", "%q: host %q is not an IP address: %s", l, host, allowed)
		return
	default:
		m.Metrics.Exposed = !addr.IsLoopback()
	}
	m.Metrics.Listen = l
}

package config

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// KindSIP is a SIP server's health, checked by OPTIONS pings (type: sip).
// It watches a server something else runs: it starts and stops nothing.
const KindSIP = "sip"

// SIPDefaultPort is where a target without a port is pinged.
const SIPDefaultPort = 5060

// SIPParams are the validated params of a sip resource.
type SIPParams struct {
	Target    string        // host:port the OPTIONS go to
	Transport string        // "udp" or "tcp"
	Timeout   time.Duration // for the final response to one ping; default 2s
	Accept    []CodeRange   // final responses that count as alive; none: any (200..699)
}

// CodeRange is an inclusive range of SIP status codes: 404..404, or
// 200..299 for 2xx.
type CodeRange struct{ Lo, Hi int }

// Accepts says whether a final response with code means alive.
func (p SIPParams) Accepts(code int) bool {
	if code < 200 || code > 699 {
		return false
	}
	if len(p.Accept) == 0 {
		return true
	}
	for _, r := range p.Accept {
		if code >= r.Lo && code <= r.Hi {
			return true
		}
	}
	return false
}

// AcceptText is the accepted codes as written back: "any final response" or "2xx, 404".
func (p SIPParams) AcceptText() string {
	if len(p.Accept) == 0 {
		return "any final response"
	}
	var s []string
	for _, r := range p.Accept {
		if r.Lo == r.Hi {
			s = append(s, strconv.Itoa(r.Lo))
		} else {
			s = append(s, fmt.Sprintf("%dxx", r.Lo/100))
		}
	}
	return strings.Join(s, ", ")
}

// Describe is what config check prints for the resource.
func (p SIPParams) Describe() string {
	return fmt.Sprintf("OPTIONS ping to %s over %s, alive on %s within %v", p.Target, p.Transport, p.AcceptText(), p.Timeout)
}

var (
	sipParams = []string{"target", "transport", "timeout", "accept"}
	// hostnameRe: a DNS name (letters, digits, '-', dots); IP literals are parsed apart.
	hostnameRe = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?$`)
	codeRe     = regexp.MustCompile(`^[2-6](\d\d|xx)$`)
)

// sipParams validates a sip resource's params.
func (v *validator) sipParams(p string, params map[string]string) *SIPParams {
	s := &SIPParams{Transport: "udp", Timeout: 2 * time.Second}
	if t, ok := params["target"]; !ok || t == "" {
		v.errf(p, "target is required: the SIP server's host[:port] (port %d unless written), e.g. target: 198.18.0.100:5060", SIPDefaultPort)
	} else if hp, err := sipTarget(t); err != nil {
		v.errf(p+".target", "%q: %v", t, err)
	} else {
		s.Target = hp
	}
	if t, ok := params["transport"]; ok {
		switch strings.ToLower(t) {
		case "udp", "tcp":
			s.Transport = strings.ToLower(t)
		default:
			v.errf(p+".transport", "%q: allowed: udp, tcp", t)
		}
	}
	s.Timeout = v.duration(p+".timeout", params["timeout"], s.Timeout, false)
	if a, ok := params["accept"]; ok {
		for _, c := range strings.Split(a, ",") {
			c = strings.ToLower(strings.TrimSpace(c))
			if !codeRe.MatchString(c) {
				v.errf(p+".accept", "%q is not a final response code: write codes 200..699 or classes like 2xx, separated by commas, e.g. accept: \"2xx, 404\"", c)
				continue
			}
			if strings.HasSuffix(c, "xx") {
				lo := int(c[0]-'0') * 100
				s.Accept = append(s.Accept, CodeRange{lo, lo + 99})
			} else {
				n, _ := strconv.Atoi(c)
				s.Accept = append(s.Accept, CodeRange{n, n})
			}
		}
	}
	return s
}

// sipTarget parses host[:port] (an IPv6 address with a port in brackets)
// into host:port.
func sipTarget(t string) (string, error) {
	if strings.Contains(t, "://") || strings.HasPrefix(strings.ToLower(t), "sip:") {
		return "", fmt.Errorf("write host[:port], not a URI, e.g. 198.18.0.100:5060")
	}
	host, port := t, strconv.Itoa(SIPDefaultPort)
	if a, err := netip.ParseAddr(strings.Trim(t, "[]")); err == nil {
		host = a.String()
	} else if h, pt, err := net.SplitHostPort(t); err == nil {
		host, port = strings.Trim(h, "[]"), pt
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("port %q: allowed: 1..65535", port)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" || a.IsUnspecified() || a.IsMulticast() {
			return "", fmt.Errorf("%s cannot be pinged: allowed: a unicast address or a host name", host)
		}
	} else if !hostnameRe.MatchString(host) {
		return "", fmt.Errorf("not a host[:port]: write an address or a host name, and a port after ':', e.g. 198.18.0.100:5060 or [2001:db8::10]:5060")
	}
	return net.JoinHostPort(host, port), nil
}

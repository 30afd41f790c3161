package esltest

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// FreeSWITCH answers api commands as a FreeSWITCH with sofia profiles
// would (output shaped as mod_sofia and the core write it): status,
// sofia status profile NAME, sofia profile NAME start|stop, sofia recover.
// A profile starts or stops a moment after the command, as in mod_sofia,
// where the profile's thread comes up or winds down on its own.
type FreeSWITCH struct {
	mu        sync.Mutex
	ready     bool
	profiles  map[string]bool // known profile → running
	recovered int
	override  map[string]Reply
	lag       time.Duration
}

// NewFreeSWITCH is a ready FreeSWITCH knowing profiles, all stopped.
func NewFreeSWITCH(profiles ...string) *FreeSWITCH {
	f := &FreeSWITCH{ready: true, profiles: map[string]bool{}, override: map[string]Reply{}, lag: 30 * time.Millisecond}
	for _, p := range profiles {
		f.profiles[p] = false
	}
	return f
}

// SetReady sets what status says: ready, or not ready (starting, shutting down).
func (f *FreeSWITCH) SetReady(ok bool) { f.mu.Lock(); f.ready = ok; f.mu.Unlock() }

// SetRunning starts or stops a profile at once (as at boot, or a crash of it).
func (f *FreeSWITCH) SetRunning(profile string, on bool) {
	f.mu.Lock()
	f.profiles[profile] = on
	f.mu.Unlock()
}

// Running says whether profile runs.
func (f *FreeSWITCH) Running(profile string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.profiles[profile]
}

// Recovered counts `sofia recover` commands.
func (f *FreeSWITCH) Recovered() int { f.mu.Lock(); defer f.mu.Unlock(); return f.recovered }

// Override answers cmd with r instead (nil: no longer).
func (f *FreeSWITCH) Override(cmd string, r *Reply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r == nil {
		delete(f.override, cmd)
	} else {
		f.override[cmd] = *r
	}
}

// Handle is a Handler.
func (f *FreeSWITCH) Handle(cmd string) Reply {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r, ok := f.override[cmd]; ok {
		return r
	}
	w := strings.Fields(cmd)
	switch {
	case cmd == "status":
		state := "ready"
		if !f.ready {
			state = "not ready"
		}
		return Reply{Body: "UP 0 years, 0 days, 1 hour, 2 minutes, 3 seconds, 4 milliseconds, 5 microseconds\n" +
			"FreeSWITCH (Version 1.10.12-release 64bit) is " + state + "\n" +
			"3 session(s) since startup\n0 session(s) - peak 1, last 5min 0 \n0 session(s) per Sec out of max 30, peak 1, last 5min 0 \n" +
			"1000 session(s) max\nmin idle cpu 0.00/98.73\nCurrent Stack Size/Max 240K/8192K\n"}
	case len(w) == 4 && w[0] == "sofia" && w[1] == "status" && w[2] == "profile":
		if !f.profiles[w[3]] {
			return Reply{Body: "Invalid Profile!\n"}
		}
		line := strings.Repeat("=", 97)
		return Reply{Body: line + "\n" +
			"Name             \t" + w[3] + "\nDomain Name      \tN/A\nAuto-NAT         \tfalse\nDBName           \tsofia_reg_" + w[3] + "\n" +
			"SIP-IP           \t198.18.0.100\nURL              \tsip:mod_sofia@198.18.0.100:5060\nBIND-URL         \tsip:mod_sofia@198.18.0.100:5060;maddr=198.18.0.100\n" +
			"CALLS-IN         \t0\nFAILED-CALLS-IN  \t0\nCALLS-OUT        \t0\nFAILED-CALLS-OUT \t0\nREGISTRATIONS    \t0\n" + line + "\n"}
	case len(w) == 4 && w[0] == "sofia" && w[1] == "profile" && (w[3] == "start" || w[3] == "stop"):
		p, on := w[2], w[3] == "start"
		if _, ok := f.profiles[p]; !ok {
			return Reply{Body: "-ERR Invalid Profile [" + p + "]\n"}
		}
		time.AfterFunc(f.lag, func() { f.SetRunning(p, on) })
		if on {
			return Reply{Body: fmt.Sprintf("%s started successfully\n", p)}
		}
		return Reply{Body: "stopping: " + p + "\n"}
	case cmd == "sofia recover":
		f.recovered++
		return Reply{Body: "+OK 0 sessions recovered\n"}
	}
	return Reply{Body: "-ERR " + strings.Join(w[:min(1, len(w))], "") + " Command not found!\n"}
}

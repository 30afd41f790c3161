package config

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// KindFreeSWITCH is FreeSWITCH, checked and switched over its event socket
// (type: freeswitch).
const KindFreeSWITCH = "freeswitch"

// FreeSWITCH modes.
const (
	// FSWarm keeps FreeSWITCH running on every node; active = its sofia
	// profiles started (and `sofia recover`), standby = profiles stopped.
	FSWarm = "warm"
	// FSCold starts FreeSWITCH on the active node only (init script or commands).
	FSCold = "cold"
)

// FreeSWITCH's event socket defaults (event_socket.conf.xml as shipped).
const (
	FSDefaultESL      = "127.0.0.1:8021"
	FSDefaultPassword = "ClueCon"
)

// FreeSWITCHParams are the validated params of a freeswitch resource.
type FreeSWITCHParams struct {
	Mode     string   // FSWarm or FSCold
	ESL      string   // host:port of the event socket
	Password string   // the event socket's password
	Profiles []string // sofia profiles: switched in warm mode, required RUNNING in both
	Recover  bool     // run `sofia recover` once the profiles run (default true)
	// Cold mode starts and stops FreeSWITCH with one of these.
	Init     *LSBParams  // an init script (lsb kind's rules)
	Commands *ExecParams // start and stop commands, optional monitor (exec kind's rules)
}

// Describe is what config check prints for the resource (no password).
func (p FreeSWITCHParams) Describe() string {
	s := fmt.Sprintf("%s mode, event socket %s", p.Mode, p.ESL)
	if len(p.Profiles) > 0 {
		s += ", sofia profiles " + strings.Join(p.Profiles, ", ")
	}
	switch {
	case p.Init != nil:
		s += ", started by init script " + p.Init.Path
	case p.Commands != nil:
		s += ", started by: " + p.Commands.Start
	}
	if p.Recover {
		s += ", sofia recover after start"
	}
	return s
}

var (
	freeswitchParams = []string{"mode", "esl", "password", "profiles", "recover", "init", "start", "stop", "monitor"}
	// profileRe: a sofia profile name goes into an api command line.
	profileRe = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
)

// freeswitchParams validates a freeswitch resource's params.
func (v *validator) freeswitchParams(p string, params map[string]string) *FreeSWITCHParams {
	f := &FreeSWITCHParams{Mode: params["mode"], ESL: FSDefaultESL, Password: FSDefaultPassword, Recover: true}
	switch f.Mode {
	case FSWarm, FSCold:
	case "":
		v.errf(p, "mode is required: warm (FreeSWITCH runs on both nodes; tandem starts and stops its sofia profiles) or cold (tandem starts and stops FreeSWITCH)")
	default:
		v.errf(p+".mode", "%q: allowed: warm, cold", f.Mode)
	}
	if e, ok := params["esl"]; ok {
		if h, port, err := net.SplitHostPort(e); err != nil || h == "" || !validPort(port) {
			v.errf(p+".esl", "%q: write the event socket's host:port, e.g. esl: %s", e, FSDefaultESL)
		} else {
			f.ESL = e
		}
	}
	if pw, ok := params["password"]; ok {
		if pw == "" || strings.ContainsAny(pw, "\r\n") {
			v.errf(p+".password", "the event socket password must be one line, not empty")
		} else {
			f.Password = pw
		}
	}
	if ps, ok := params["profiles"]; ok {
		for _, name := range strings.Split(ps, ",") {
			name = strings.TrimSpace(name)
			if !profileRe.MatchString(name) {
				v.errf(p+".profiles", "%q is not a sofia profile name: letters, digits, '_', '.' and '-', names separated by commas, e.g. profiles: \"internal, external\"", name)
				continue
			}
			f.Profiles = append(f.Profiles, name)
		}
	}
	if r, ok := params["recover"]; ok {
		b, err := strconv.ParseBool(r)
		if err != nil {
			v.errf(p+".recover", "%q: allowed: true, false", r)
		}
		f.Recover = b
	}
	_, hasInit := params["init"]
	_, hasStart := params["start"]
	_, hasStop := params["stop"]
	_, hasMon := params["monitor"]
	switch f.Mode {
	case FSWarm:
		if len(f.Profiles) == 0 {
			v.errf(p, "warm mode needs profiles: the sofia profiles tandem starts on the active node and stops on the standby, e.g. profiles: internal")
		}
		for _, k := range []string{"init", "start", "stop", "monitor"} {
			if _, ok := params[k]; ok {
				v.errf(p+"."+k, "warm mode does not start FreeSWITCH (it runs on both nodes, started at boot); %s is for mode: cold", k)
			}
		}
	case FSCold:
		switch {
		case hasInit && (hasStart || hasStop || hasMon):
			v.errf(p+".init", "give either init (an init script) or start and stop commands, not both")
		case hasInit:
			f.Init = v.fsInit(p+".init", params["init"])
		case hasStart && hasStop:
			f.Commands = &ExecParams{Start: params["start"], Stop: params["stop"], Monitor: params["monitor"]}
		default:
			v.errf(p, "cold mode needs init: the init script (a name in %s or an absolute path), or start: and stop: commands (monitor: optional; exit 0 running, 7 stopped)", LSBDir)
		}
	}
	return f
}

// fsInit is an init script given as a name in LSBDir or an absolute path.
func (v *validator) fsInit(p, s string) *LSBParams {
	if filepath.IsAbs(s) {
		return &LSBParams{Name: filepath.Base(s), Path: filepath.Clean(s)}
	}
	if !agentNameRe.MatchString(s) {
		v.errf(p, "%q: write the init script's name in %s (e.g. init: freeswitch) or its absolute path", s, LSBDir)
	}
	return &LSBParams{Name: s, Path: filepath.Join(LSBDir, s)}
}

func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 1 && n <= 65535
}

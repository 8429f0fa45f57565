package daemon

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/internal/bustest"
	"github.com/nspawn-tray/nspawn-tray/launcher"
)

// launchPlain launches plain as uid, through the client (interactive) or by a
// raw call (not interactive), and returns the error mapped as the client
// maps it.
func (e *env) launchPlain(uid uint32, interactive bool) (string, error) {
	if interactive {
		m, _, err := e.launch(uid, "plain", launcher.Session{})
		return m, err
	}
	var m string
	var status int32
	call := e.raw(uid, "Launch", "plain", map[string]dbus.Variant{})
	if call.Err != nil {
		return "", launcher.MapError(call.Err)
	}
	if err := call.Store(&m, &status); err != nil {
		e.t.Fatal(err)
	}
	return m, nil
}

func TestLaunchAuthorization(t *testing.T) {
	tests := []struct {
		name        string
		answer      bustest.PolkitAnswer
		polkitFails bool
		interactive bool
		// errName is the D-Bus error the caller gets; "" for success.
		errName string
		msg     string
	}{
		{name: "granted, interactive call", answer: bustest.PolkitAnswer{Authorized: true}, interactive: true},
		{name: "granted, non-interactive call", answer: bustest.PolkitAnswer{Authorized: true}},
		{name: "denied", answer: bustest.PolkitAnswer{}, interactive: true,
			errName: launcher.ErrNameAccessDenied, msg: "not authorized for " + launcher.ActionLaunch},
		{name: "challenge passed by the user", answer: bustest.PolkitAnswer{Challenge: true, AfterPrompt: true}, interactive: true},
		{name: "challenge failed by the user", answer: bustest.PolkitAnswer{Challenge: true}, interactive: true,
			errName: launcher.ErrNameAccessDenied, msg: "not authorized for " + launcher.ActionLaunch},
		// Without the flag polkit may not prompt: the caller must learn it
		// could retry interactively rather than that it is refused.
		{name: "challenge on a non-interactive call", answer: bustest.PolkitAnswer{Challenge: true, AfterPrompt: true},
			errName: launcher.ErrNameInteractive, msg: launcher.ActionLaunch + " needs authentication, and the call did not allow it"},
		{name: "polkit unavailable", polkitFails: true, interactive: true,
			errName: launcher.ErrNameFailed, msg: "polkit unavailable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.polkit.Answer(launcher.ActionLaunch, tc.answer)
			if tc.polkitFails {
				e.polkit.Fail(dbus.NewError("org.freedesktop.DBus.Error.NoReply", []any{"polkitd hangs"}))
			}
			machine, err := e.launchPlain(bustest.Alice, tc.interactive)

			calls := e.polkit.Calls()
			if len(calls) != 1 {
				t.Fatalf("polkit was asked %d times, want once: %+v", len(calls), calls)
			}
			c := calls[0]
			// The subject is the bus's unique name of the caller, which
			// polkit resolves itself: never a uid or pid the call claims.
			if c.SubjectKind != "system-bus-name" || c.Subject != e.conn(bustest.Alice).Names()[0] {
				t.Errorf("polkit subject %s %q, want system-bus-name %q", c.SubjectKind, c.Subject, e.conn(bustest.Alice).Names()[0])
			}
			if c.Action != launcher.ActionLaunch || !maps.Equal(c.Details, map[string]string{"app": "plain"}) {
				t.Errorf("polkit asked for %s %v, want %s {app: plain}", c.Action, c.Details, launcher.ActionLaunch)
			}
			if c.Interactive != tc.interactive {
				t.Errorf("polkit interaction allowed = %v, want %v (the caller's flag)", c.Interactive, tc.interactive)
			}

			if tc.errName == "" {
				if err != nil {
					t.Fatalf("launch: %v", err)
				}
				if !strings.HasPrefix(machine, "plain-") || len(e.started()) != 1 || e.started()[0] != unitName(machine) {
					t.Errorf("machine %q, units started %v", machine, e.started())
				}
				return
			}
			var se *launcher.ServiceError
			if !errors.As(err, &se) || se.Name != tc.errName || !strings.Contains(se.Msg, tc.msg) {
				t.Fatalf("launch: %v (%#v), want %s containing %q", err, err, tc.errName, tc.msg)
			}
			if len(e.started()) != 0 || len(e.staged()) != 0 {
				t.Errorf("a refused launch left units %v and staging dirs %v", e.started(), e.staged())
			}
		})
	}
}

func TestStopAuthorization(t *testing.T) {
	tests := []struct {
		name        string
		owner       uint32 // who launched the instance
		answers     map[string]bustest.PolkitAnswer
		interactive bool
		action      string
		errName     string
	}{
		{name: "own instance under stop-own", owner: bustest.Alice, interactive: true, action: launcher.ActionStopOwn,
			answers: map[string]bustest.PolkitAnswer{launcher.ActionStopOwn: {Authorized: true}}},
		// stop-own must not be enough for someone else's instance.
		{name: "another user's instance under stop-any", owner: bustest.Mallory, interactive: true, action: launcher.ActionStopAny,
			answers: map[string]bustest.PolkitAnswer{launcher.ActionStopOwn: {Authorized: true}, launcher.ActionStopAny: {Authorized: true}}},
		// Told that it takes an administrator: joining the group would
		// not help (the first version said to).
		{name: "another user's instance without stop-any", owner: bustest.Mallory, interactive: true, action: launcher.ActionStopAny,
			answers: map[string]bustest.PolkitAnswer{launcher.ActionStopOwn: {Authorized: true}},
			errName: launcher.ErrNameOthersInstance},
		{name: "challenge on a non-interactive stop", owner: bustest.Alice, action: launcher.ActionStopOwn,
			answers: map[string]bustest.PolkitAnswer{launcher.ActionStopOwn: {Challenge: true, AfterPrompt: true}},
			errName: launcher.ErrNameInteractive},
		{name: "challenge passed on an interactive stop", owner: bustest.Mallory, interactive: true, action: launcher.ActionStopAny,
			answers: map[string]bustest.PolkitAnswer{launcher.ActionStopAny: {Challenge: true, AfterPrompt: true}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			machine := e.mustLaunch(tc.owner, "plain")
			e.machined.Add(bustest.Machine{Name: machine, Service: "nspawn", Unit: unitName(machine)})
			for action, a := range tc.answers {
				e.polkit.Answer(action, a)
			}
			var err error
			if tc.interactive {
				err = e.client(bustest.Alice).Stop(context.Background(), machine)
			} else {
				err = launcher.MapError(e.raw(bustest.Alice, "Stop", machine).Err)
			}

			calls := e.polkit.Calls()
			last := calls[len(calls)-1]
			if last.Action != tc.action || last.Subject != e.conn(bustest.Alice).Names()[0] ||
				!maps.Equal(last.Details, map[string]string{"app": "plain", "machine": machine}) || last.Interactive != tc.interactive {
				t.Errorf("polkit asked %+v, want %s for %s with app and machine, interactive %v",
					last, tc.action, e.conn(bustest.Alice).Names()[0], tc.interactive)
			}
			term := e.machined.Terminated()
			if tc.errName == "" {
				if err != nil {
					t.Fatalf("stop: %v", err)
				}
				if len(term) != 1 || term[0].Name != machine || term[0].Sender != e.svcConn.Names()[0] {
					t.Errorf("machined terminations %+v, want %s by the daemon", term, machine)
				}
				return
			}
			var se *launcher.ServiceError
			if !errors.As(err, &se) || se.Name != tc.errName || !errors.Is(err, launcher.ErrNotAuthorized) {
				t.Fatalf("stop: %v, want %s", err, tc.errName)
			}
			if len(term) != 0 || len(e.machined.Names()) != 1 {
				t.Errorf("a refused stop terminated %+v", term)
			}
		})
	}
}

package bustest

import (
	"sync"
	"testing"

	"github.com/godbus/dbus/v5"
)

// PolkitAnswer is what the fake polkit answers for an action.
type PolkitAnswer struct {
	Authorized bool
	// Challenge: authorized after authentication. With AfterPrompt, a call
	// that allows user interaction is authorized (an agent asked, the
	// right password came back); without it, it is not.
	Challenge   bool
	AfterPrompt bool
}

// PolkitCall is one CheckAuthorization.
type PolkitCall struct {
	SubjectKind string
	// Subject is the subject's "name" detail (a system-bus-name).
	Subject string
	Action  string
	Details map[string]string
	// Interactive is the AllowUserInteraction flag.
	Interactive bool
}

// Polkit fakes org.freedesktop.PolicyKit1's Authority. An action without an
// answer is not authorized.
type Polkit struct {
	mu      sync.Mutex
	answers map[string]PolkitAnswer
	err     *dbus.Error
	rec     recorder[PolkitCall]
}

// NewPolkit exports the fake on conn as org.freedesktop.PolicyKit1.
func NewPolkit(t testing.TB, conn *dbus.Conn) *Polkit {
	t.Helper()
	p := &Polkit{answers: map[string]PolkitAnswer{}}
	if err := conn.Export(polkitAuthority{p}, "/org/freedesktop/PolicyKit1/Authority", "org.freedesktop.PolicyKit1.Authority"); err != nil {
		t.Fatal(err)
	}
	own(t, conn, "org.freedesktop.PolicyKit1")
	return p
}

// Answer sets the answer for action.
func (p *Polkit) Answer(action string, a PolkitAnswer) {
	p.mu.Lock()
	p.answers[action] = a
	p.mu.Unlock()
}

// Fail makes every check fail with err (nil: answer again).
func (p *Polkit) Fail(err *dbus.Error) {
	p.mu.Lock()
	p.err = err
	p.mu.Unlock()
}

// Calls are the checks asked so far.
func (p *Polkit) Calls() []PolkitCall { return p.rec.all() }

type polkitSubject struct {
	Kind    string
	Details map[string]dbus.Variant
}

type polkitResult struct {
	Authorized bool
	Challenge  bool
	Details    map[string]string
}

type polkitAuthority struct{ p *Polkit }

func (a polkitAuthority) CheckAuthorization(subject polkitSubject, action string, details map[string]string, flags uint32, cancel string) (polkitResult, *dbus.Error) {
	name, _ := subject.Details["name"].Value().(string)
	interactive := flags&1 != 0
	a.p.rec.add(PolkitCall{SubjectKind: subject.Kind, Subject: name, Action: action, Details: details, Interactive: interactive})
	a.p.mu.Lock()
	defer a.p.mu.Unlock()
	if a.p.err != nil {
		return polkitResult{}, a.p.err
	}
	ans := a.p.answers[action]
	r := polkitResult{Authorized: ans.Authorized, Challenge: ans.Challenge && !ans.Authorized, Details: map[string]string{}}
	if r.Challenge && interactive && ans.AfterPrompt {
		r = polkitResult{Authorized: true, Details: map[string]string{}}
	}
	return r, nil
}

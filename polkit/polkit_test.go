package polkit_test

import (
	"context"
	"errors"
	"maps"
	"strings"
	"sync"
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/internal/bustest"
	"github.com/nspawn-tray/nspawn-tray/polkit"
)

func TestCheckBusNameAnswers(t *testing.T) {
	b := bustest.New(t)
	pk := bustest.NewPolkit(t, b.Conn(t))
	a := polkit.New(b.Conn(t))
	pk.Answer("org.example.yes", bustest.PolkitAnswer{Authorized: true})
	pk.Answer("org.example.auth", bustest.PolkitAnswer{Challenge: true})
	pk.Answer("org.example.prompt", bustest.PolkitAnswer{Challenge: true, AfterPrompt: true})

	for _, tc := range []struct {
		desc        string
		action      string
		interactive bool
		want        polkit.Result
	}{
		{"authorized", "org.example.yes", false, polkit.Result{Authorized: true}},
		{"unknown action is refused", "org.example.no", false, polkit.Result{}},
		{"challenge without interaction stays a challenge", "org.example.auth", false, polkit.Result{Challenge: true}},
		{"challenge without interaction, prompt possible", "org.example.prompt", false, polkit.Result{Challenge: true}},
		{"interaction lets the prompt authorize", "org.example.prompt", true, polkit.Result{Authorized: true}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := a.CheckBusName(context.Background(), ":1.42", tc.action, nil, tc.interactive)
			if err != nil {
				t.Fatal(err)
			}
			if got.Authorized != tc.want.Authorized || got.Challenge != tc.want.Challenge {
				t.Errorf("CheckBusName(%s, interactive=%v) = %+v, want %+v", tc.action, tc.interactive, got, tc.want)
			}
		})
	}
}

// polkit must be asked about the caller's bus name, never about anything
// the caller claims, and must only prompt when the caller allowed it.
func TestCheckBusNameSendsSubjectActionDetailsAndFlag(t *testing.T) {
	b := bustest.New(t)
	pk := bustest.NewPolkit(t, b.Conn(t))
	a := polkit.New(b.Conn(t))
	ctx := context.Background()

	details := map[string]string{"app": "firefox", "machine": "firefox-0001"}
	if _, err := a.CheckBusName(ctx, ":1.7", "org.example.launch", details, true); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CheckBusName(ctx, ":1.8", "org.example.stop", nil, false); err != nil {
		t.Fatal(err)
	}
	calls := pk.Calls()
	if len(calls) != 2 {
		t.Fatalf("polkit was asked %d times, want 2: %+v", len(calls), calls)
	}
	first := calls[0]
	if first.SubjectKind != "system-bus-name" || first.Subject != ":1.7" || first.Action != "org.example.launch" ||
		!first.Interactive || !maps.Equal(first.Details, details) {
		t.Errorf("first check = %+v", first)
	}
	second := calls[1]
	if second.SubjectKind != "system-bus-name" || second.Subject != ":1.8" || second.Action != "org.example.stop" ||
		second.Interactive || len(second.Details) != 0 {
		t.Errorf("second check (nil details, not interactive) = %+v", second)
	}
}

func TestCheckBusNameFailureIsUnavailable(t *testing.T) {
	b := bustest.New(t)
	pk := bustest.NewPolkit(t, b.Conn(t))
	a := polkit.New(b.Conn(t))
	pk.Fail(dbus.NewError("org.freedesktop.PolicyKit1.Error.Failed", []any{"boom"}))

	_, err := a.CheckBusName(context.Background(), ":1.9", "org.example.yes", nil, false)
	if !errors.Is(err, polkit.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	// The D-Bus error stays reachable for logs and callers that look deeper.
	var de dbus.Error
	if !errors.As(err, &de) || de.Name != "org.freedesktop.PolicyKit1.Error.Failed" {
		t.Errorf("err = %v, want the polkit D-Bus error inside", err)
	}
	if !strings.Contains(err.Error(), "org.example.yes") || !strings.Contains(err.Error(), ":1.9") {
		t.Errorf("err %q does not name the action and subject", err)
	}
}

// Without polkitd on the bus, a check must fail closed, not authorize.
func TestCheckBusNameWithoutPolkitd(t *testing.T) {
	b := bustest.New(t)
	a := polkit.New(b.Conn(t))
	got, err := a.CheckBusName(context.Background(), ":1.9", "org.example.yes", nil, false)
	if !errors.Is(err, polkit.ErrUnavailable) {
		t.Errorf("err = %v, want ErrUnavailable", err)
	}
	if got.Authorized {
		t.Error("authorized without polkitd")
	}
}

// recorded is one call of the echo service.
type recorded struct {
	member      string
	args        []any
	interactive bool
	signature   string
}

// echo records how it was called, so the message CallInteractive builds
// can be checked from the receiving end.
type echo struct {
	mu    sync.Mutex
	calls []recorded
}

func (e *echo) add(msg dbus.Message, member string, args ...any) {
	sig, _ := msg.Headers[dbus.FieldSignature].Value().(dbus.Signature)
	e.mu.Lock()
	e.calls = append(e.calls, recorded{member, args, msg.Flags&dbus.FlagAllowInteractiveAuthorization != 0, sig.String()})
	e.mu.Unlock()
}

func (e *echo) all() []recorded {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]recorded(nil), e.calls...)
}

func (e *echo) Join(msg dbus.Message, s string, n int32) (string, *dbus.Error) {
	e.add(msg, "Join", s, n)
	return strings.Repeat(s, int(n)), nil
}

func (e *echo) Ping(msg dbus.Message) *dbus.Error {
	e.add(msg, "Ping")
	return nil
}

func (e *echo) Refuse(msg dbus.Message) *dbus.Error {
	e.add(msg, "Refuse")
	return dbus.NewError("org.freedesktop.DBus.Error.AccessDenied", []any{"no"})
}

const (
	echoName = "org.example.Echo"
	echoPath = dbus.ObjectPath("/org/example/Echo")
	echoIf   = "org.example.Echo"
)

func newEcho(t *testing.T, b *bustest.Bus) *echo {
	t.Helper()
	conn := b.Conn(t)
	e := &echo{}
	if err := conn.Export(e, echoPath, echoIf); err != nil {
		t.Fatal(err)
	}
	if r, err := conn.RequestName(echoName, dbus.NameFlagDoNotQueue); err != nil || r != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own %s: %v %v", echoName, r, err)
	}
	return e
}

func TestCallInteractiveSetsFlagAndPassesArgs(t *testing.T) {
	b := bustest.New(t)
	e := newEcho(t, b)
	conn := b.Conn(t)
	ctx := context.Background()

	call, err := polkit.CallInteractive(ctx, conn, echoName, echoPath, echoIf+".Join", "ab", int32(3))
	if err != nil {
		t.Fatal(err)
	}
	var out string
	if err := call.Store(&out); err != nil || out != "ababab" {
		t.Errorf("reply = %q, %v; want ababab", out, err)
	}
	if _, err := polkit.CallInteractive(ctx, conn, echoName, echoPath, echoIf+".Ping"); err != nil {
		t.Fatalf("call without arguments: %v", err)
	}

	calls := e.all()
	if len(calls) != 2 {
		t.Fatalf("service saw %d calls, want 2: %+v", len(calls), calls)
	}
	if c := calls[0]; c.member != "Join" || !c.interactive || c.signature != "si" || c.args[0] != "ab" || c.args[1] != int32(3) {
		t.Errorf("Join call = %+v", c)
	}
	if c := calls[1]; c.member != "Ping" || !c.interactive || c.signature != "" {
		t.Errorf("Ping call = %+v", c)
	}
}

func TestCallInteractiveReturnsTheCalleesError(t *testing.T) {
	b := bustest.New(t)
	newEcho(t, b)
	call, err := polkit.CallInteractive(context.Background(), b.Conn(t), echoName, echoPath, echoIf+".Refuse")
	var de dbus.Error
	if !errors.As(err, &de) || de.Name != "org.freedesktop.DBus.Error.AccessDenied" {
		t.Errorf("err = %v, want AccessDenied", err)
	}
	if call == nil || !errors.As(call.Err, &de) || de.Name != "org.freedesktop.DBus.Error.AccessDenied" {
		t.Errorf("call = %+v, want the call carrying the same error", call)
	}
}

func TestCallInteractiveRejectsMethodWithoutInterface(t *testing.T) {
	b := bustest.New(t)
	e := newEcho(t, b)
	call, err := polkit.CallInteractive(context.Background(), b.Conn(t), echoName, echoPath, "Ping")
	if err == nil || call != nil {
		t.Fatalf("CallInteractive(\"Ping\") = %v, %v; want an error and no call", call, err)
	}
	if n := len(e.all()); n != 0 {
		t.Errorf("a malformed method still reached the service (%d calls)", n)
	}
}

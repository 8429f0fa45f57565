// Package polkit asks polkitd (org.freedesktop.PolicyKit1) whether a D-Bus
// caller may perform an action. The privileged daemon uses it for every call.
package polkit

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/godbus/dbus/v5"
)

const (
	busName = "org.freedesktop.PolicyKit1"
	objPath = "/org/freedesktop/PolicyKit1/Authority"
	iface   = "org.freedesktop.PolicyKit1.Authority"

	// flagAllowUserInteraction lets polkit start an authentication agent
	// dialog; it must only be set when the incoming call allowed it.
	flagAllowUserInteraction = 1
)

// ErrUnavailable means polkitd could not be asked at all.
var ErrUnavailable = errors.New("polkit unavailable")

// Authority wraps the system bus connection the daemon owns.
type Authority struct {
	conn *dbus.Conn
}

// New returns an Authority that talks to polkitd over conn (the system bus).
func New(conn *dbus.Conn) *Authority { return &Authority{conn: conn} }

// Result is polkit's answer.
type Result struct {
	Authorized bool
	// Challenge: not authorized now, but would be after authentication.
	Challenge bool
	Details   map[string]string
}

type subject struct {
	Kind    string
	Details map[string]dbus.Variant
}

type result struct {
	Authorized bool
	Challenge  bool
	Details    map[string]string
}

// CheckBusName asks whether the bus client subjectName (a unique name such as
// ":1.42") may perform actionID. polkit resolves the subject's UID, PID and
// session itself, so nothing the caller says about itself is trusted.
func (a *Authority) CheckBusName(ctx context.Context, subjectName, actionID string, details map[string]string, interactive bool) (Result, error) {
	subj := subject{Kind: "system-bus-name", Details: map[string]dbus.Variant{"name": dbus.MakeVariant(subjectName)}}
	var flags uint32
	if interactive {
		flags = flagAllowUserInteraction
	}
	if details == nil {
		details = map[string]string{}
	}
	var r result
	err := a.conn.Object(busName, objPath).CallWithContext(ctx, iface+".CheckAuthorization", 0,
		subj, actionID, details, flags, "").Store(&r)
	if err != nil {
		return Result{}, fmt.Errorf("polkit: check %s for %s: %w: %w", actionID, subjectName, ErrUnavailable, err)
	}
	return Result(r), nil
}

// CallInteractive calls method ("interface.Member") on dest at path and
// allows the callee's polkit check to ask the user for a password: godbus's
// Object.Call never sets ALLOW_INTERACTIVE_AUTHORIZATION, so polkit would
// refuse instead of prompting.
func CallInteractive(ctx context.Context, conn *dbus.Conn, dest string, path dbus.ObjectPath, method string, args ...any) (*dbus.Call, error) {
	dot := strings.LastIndex(method, ".")
	if dot < 0 {
		return nil, fmt.Errorf("polkit: call %s: not interface.Member", method)
	}
	msg := &dbus.Message{
		Type:  dbus.TypeMethodCall,
		Flags: dbus.FlagAllowInteractiveAuthorization,
		Headers: map[dbus.HeaderField]dbus.Variant{
			dbus.FieldDestination: dbus.MakeVariant(dest),
			dbus.FieldPath:        dbus.MakeVariant(path),
			dbus.FieldInterface:   dbus.MakeVariant(method[:dot]),
			dbus.FieldMember:      dbus.MakeVariant(method[dot+1:]),
		},
		Body: args,
	}
	if len(args) > 0 {
		msg.Headers[dbus.FieldSignature] = dbus.MakeVariant(dbus.SignatureOf(args...))
	}
	call := <-conn.SendWithContext(ctx, msg, make(chan *dbus.Call, 1)).Done
	return call, call.Err
}

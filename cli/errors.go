package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/nspawn-tray/nspawn-tray/config"
	"github.com/nspawn-tray/nspawn-tray/launcher"
	"github.com/nspawn-tray/nspawn-tray/machines"
)

// usageError is a wrong command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// UsageError reports a wrong command line.
func UsageError(msg string) error { return &usageError{msg} }

// ExitStatus ends the command with status n and prints nothing: the status
// of an app run with --wait, or of exec-as.
type ExitStatus int

func (s ExitStatus) Error() string { return fmt.Sprintf("exit status %d", int(s)) }

// actionError names what the user asked for ("launch spotify"), which the
// message for a refused authorization repeats.
type actionError struct {
	action string
	err    error
}

func (e *actionError) Error() string { return e.err.Error() }
func (e *actionError) Unwrap() error { return e.err }

// failed wraps err with the action the user asked for; nil stays nil.
func failed(action string, err error) error {
	if err == nil {
		return nil
	}
	return &actionError{action: action, err: err}
}

// report is the one place that turns a command's error into stderr lines and
// an exit status.
func (e *Env) report(err error) int {
	var usage *usageError
	var status ExitStatus
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &usage):
		prefix, help := progName, progName+" --help"
		if e.cmd != "" {
			prefix += " " + e.cmd
			help = progName + " " + e.cmd + " --help"
		}
		fmt.Fprintf(e.Stderr, "%s: %s (see '%s')\n", prefix, oneLine(usage.msg), help)
		return exitUsage
	case errors.As(err, &status):
		return int(status)
	}
	for _, p := range config.Problems(err) {
		fmt.Fprintf(e.Stderr, "%s: %s\n", progName, oneLine(message(p)))
	}
	return exitFail
}

// message is the line a user reads for err.
func message(err error) string {
	var act *actionError
	errors.As(err, &act)
	switch {
	case errors.Is(err, launcher.ErrNoDaemon):
		return "the nspawn-tray daemon is not installed (no " + launcher.BusName + " on the system bus)"
	case errors.Is(err, launcher.ErrOthersInstance):
		// The daemon's words: it takes an administrator, no group helps.
		return err.Error()
	case errors.Is(err, launcher.ErrNotAuthorized) && act != nil:
		return fmt.Sprintf("not authorized to %s: ask an administrator to add you to the nspawn-tray group (usermod -aG nspawn-tray %s), then log in again", act.action, currentUser())
	case errors.Is(err, machines.ErrNotAuthorized) && act != nil:
		return fmt.Sprintf("not authorized to %s: %s", act.action, machines.AuthHint)
	case errors.Is(err, launcher.ErrUnknownApp):
		var s *suggested
		if errors.As(err, &s) {
			return err.Error()
		}
		return err.Error() + " (see 'nspawn-tray apps')"
	}
	return err.Error()
}

func currentUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "USER"
}

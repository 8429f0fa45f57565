package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"

	"github.com/nspawn-tray/nspawn-tray/config"
	"github.com/nspawn-tray/nspawn-tray/launcher"
)

// caller is who sent msg, as the bus daemon knows it: the unique name and
// its UID. Nothing the message says about itself is used.
func (s *Service) caller(ctx context.Context, msg dbus.Message) (string, uint32, error) {
	sender, _ := msg.Headers[dbus.FieldSender].Value().(string)
	if sender == "" {
		return "", 0, fail(launcher.ErrNameAccessDenied, "no sender")
	}
	var creds map[string]dbus.Variant
	if err := s.conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.GetConnectionCredentials", 0, sender).Store(&creds); err != nil {
		return "", 0, fmt.Errorf("credentials of %s: %w", sender, err)
	}
	uid, ok := creds["UnixUserID"].Value().(uint32)
	if !ok {
		return "", 0, fail(launcher.ErrNameAccessDenied, "the bus does not know the caller's uid")
	}
	return sender, uid, nil
}

// authorize checks action for sender with polkit; polkit may ask for a
// password only when the incoming call allowed interaction.
func (s *Service) authorize(ctx context.Context, msg dbus.Message, sender, action string, details map[string]string) error {
	interactive := msg.Flags&dbus.FlagAllowInteractiveAuthorization != 0
	r, err := s.auth.CheckBusName(ctx, sender, action, details, interactive)
	if err != nil {
		return err
	}
	if r.Authorized {
		return nil
	}
	if r.Challenge && !interactive {
		return fail(launcher.ErrNameInteractive, "%s needs authentication, and the call did not allow it", action)
	}
	return fail(launcher.ErrNameAccessDenied, "not authorized for %s", action)
}

// findApp loads the definition of id, root-owned only.
func (s *Service) findApp(id string) (config.App, error) {
	if err := config.ValidID(id); err != nil {
		return config.App{}, fail(launcher.ErrNameUnknownApp, "unknown app %q", truncate(id))
	}
	app, err := config.LoadApp(s.paths.Apps, id, config.Options{RequireRootOwned: true})
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return config.App{}, fail(launcher.ErrNameUnknownApp, "unknown app %q", id)
	case err != nil:
		// A definition that exists but is broken is not "unknown": say what is wrong.
		return config.App{}, fail(launcher.ErrNameUnknownApp, "%s", config.Invalid(id, err))
	}
	return app, nil
}

// imageDir is the app's image, which must be a directory (not a symlink).
func (s *Service) imageDir(app config.App) (string, error) {
	dir := filepath.Join(s.paths.Machines, app.Image)
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fail(launcher.ErrNameImageMissing, "image %q of app %q is missing: no directory %s", app.Image, app.ID, dir)
	}
	unix.Close(fd)
	return dir, nil
}

package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"

	"github.com/nspawn-tray/nspawn-tray/config"
	"github.com/nspawn-tray/nspawn-tray/launcher"
	"github.com/nspawn-tray/nspawn-tray/rawimage"
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

// appImage is where an app's image is: a directory tree, or a raw disk
// image (NAME.raw: a GPT image with a root partition) that nspawn runs
// with --image and the daemon reads through readImage.
type appImage struct {
	Path string
	Raw  bool
}

// image finds app's image in the images dir the way machined and
// machinectl do (image_find in systemd's src/shared/discover-image.c):
// NAME if it exists, and NAME.raw only if NAME does not, so a directory
// wins over a raw image of the same name. NAME must be a directory and
// NAME.raw a regular file (neither a symlink), and the raw image root's
// alone (rawimage.Stat): the kernel parses its file systems.
func (s *Service) image(app config.App) (appImage, error) {
	dir := filepath.Join(s.paths.Machines, app.Image)
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err == nil {
		var st unix.Stat_t
		err = unix.Fstat(fd, &st)
		unix.Close(fd)
		switch {
		case err != nil:
			return appImage{}, fail(launcher.ErrNameImageMissing, "image %q of app %q: %v", app.Image, app.ID, err)
		case st.Mode&unix.S_IFMT == unix.S_IFDIR:
			return appImage{Path: dir}, nil
		case st.Mode&unix.S_IFMT == unix.S_IFREG && strings.HasSuffix(app.Image, ".raw"):
			return appImage{}, fail(launcher.ErrNameImageMissing, "image %q of app %q is missing: %s is a file, not a directory (a raw image is named without .raw: image = %q)",
				app.Image, app.ID, dir, strings.TrimSuffix(app.Image, ".raw"))
		default:
			return appImage{}, fail(launcher.ErrNameImageMissing, "image %q of app %q is missing: %s is not a directory (symlinks are not followed)", app.Image, app.ID, dir)
		}
	}
	if err != unix.ENOENT {
		return appImage{}, fail(launcher.ErrNameImageMissing, "image %q of app %q: %s: %v", app.Image, app.ID, dir, err)
	}
	raw := dir + ".raw"
	_, err = rawimage.Stat(raw)
	switch {
	case err == nil:
		return appImage{Path: raw, Raw: true}, nil
	case errors.Is(err, fs.ErrNotExist):
		return appImage{}, fail(launcher.ErrNameImageMissing, "image %q of app %q is missing: no directory %s and no raw image %s", app.Image, app.ID, dir, raw)
	default:
		return appImage{}, fail(launcher.ErrNameImageMissing, "image %q of app %q is not usable: %v", app.Image, app.ID, err)
	}
}

// imageDir is the path of app's image (see image): a directory, or a raw
// image whose tree only readImage reaches.
func (s *Service) imageDir(app config.App) (string, error) {
	img, err := s.image(app)
	return img.Path, err
}

// readImage calls read with the root of img's tree: the directory itself,
// or, for a raw image, its file systems mounted read-only for the time of
// read, in a mount namespace of the reading thread, on a directory below
// the root-only dissect dir next to the staging root
// (/run/nspawn-tray/dissect); see package rawimage. read reads below root
// with openat2 RESOLVE_IN_ROOT, like any image tree.
func (s *Service) readImage(ctx context.Context, img appImage, read func(root string) error) error {
	if !img.Raw {
		return read(img.Path)
	}
	r := rawimage.Reader{Dissect: rawimage.Dissect, Dir: filepath.Join(filepath.Dir(s.paths.Stage), "dissect")}
	return r.Read(ctx, img.Path, read)
}

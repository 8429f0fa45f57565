package daemon

import (
	"context"
	"errors"
	"fmt"

	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nspawn-tray/nspawn-tray/launcher"
)

// Where the host's fonts and fontconfig cache appear in a host_look app:
// beside the image's own (which stay where they are), under /run/host as
// Flatpak puts them, so apps that know that place find them too.
const (
	inHostFontsDir  = "/run/host/fonts"
	inHostFontCache = "/run/host/fonts-cache"
	inHostFontsConf = "/etc/fonts/conf.d/99-nspawn-tray-host-fonts.conf"
)

// hostFontDir is one of the host's font dirs and where it goes inside.
type hostFontDir struct{ Host, In string }

// hostFontDirs are the host's system font dirs: root's, never a path from a
// definition or the session.
var hostFontDirs = []hostFontDir{
	{"/usr/share/fonts", inHostFontsDir},
	{"/usr/local/share/fonts", "/run/host/local-fonts"},
}

// fontsConf is the fontconfig file that makes the host's fonts the app's:
// each dir remapped to its host path, so the host's cache (whose entries
// name host paths) serves them without a rescan, and the host's cache dir
// read after the image's own.
func fontsConf(dirs []hostFontDir, cache bool) []byte {
	b := []byte("<?xml version=\"1.0\"?>\n<!DOCTYPE fontconfig SYSTEM \"urn:fontconfig:fonts.dtd\">\n" +
		"<!-- nspawn-tray: the host's fonts (host_look = true) -->\n<fontconfig>\n")
	for _, d := range dirs {
		b = fmt.Appendf(b, "  <remap-dir as-path=%q>%s</remap-dir>\n", d.Host, d.In)
	}
	if cache {
		b = fmt.Appendf(b, "  <cachedir>%s</cachedir>\n", inHostFontCache)
	}
	return append(b, "</fontconfig>\n"...)
}

// rootDir says whether path is a directory of root's, reached from / with
// no symlink and only through root's directories nobody else may write,
// and not world-writable itself: a host dir nobody but root can swap for
// another, so nspawn may bind it by path. The dir itself may be
// group-writable: Debian's /usr/local/share/fonts is root:staff 2775, and
// its group can add fonts to it, not replace it.
func rootDir(path string) (bool, error) {
	if !filepath.IsAbs(path) || filepath.Clean(path) != path {
		return false, fmt.Errorf("%s: not an absolute clean path", path)
	}
	p := "/"
	for _, c := range append([]string{""}, strings.Split(strings.TrimPrefix(path, "/"), "/")...) {
		p = filepath.Join(p, c)
		var st unix.Stat_t
		err := unix.Lstat(p, &st)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("%s: %w", p, err)
		}
		last := p == path
		writable := uint32(0o022)
		if last {
			writable = 0o002
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Uid != 0 || st.Mode&writable != 0 {
			return false, nil
		}
	}
	return true, nil
}

// bindHostLook makes a host_look app look like the desktop's others: the
// host's fonts and fontconfig cache read-only, and the session's theme
// settings as environment. The definition's own env wins over the
// session's; values are checked again here, as everything from the caller.
func bindHostLook(_ context.Context, l *launch) error {
	if !l.app.HostLook {
		return nil
	}
	for k, v := range l.session.Look {
		if !launcher.LookValid(k, v) {
			return fail(launcher.ErrNameInvalidArgs, "look: %s=%q refused", k, v)
		}
		if _, set := l.spec.Env[k]; !set {
			l.spec.Env[k] = v
		}
	}
	var dirs []hostFontDir
	for _, d := range l.s.paths.HostFonts {
		ok, err := rootDir(d.Host)
		if err != nil {
			return fail(launcher.ErrNameFailed, "host fonts: %v", err)
		}
		if ok {
			dirs = append(dirs, d)
			l.spec.Binds = append(l.spec.Binds, bind{Src: d.Host, Dst: d.In})
		}
	}
	cache := false
	if l.s.paths.FontCache != "" {
		ok, err := rootDir(l.s.paths.FontCache)
		if err != nil {
			return fail(launcher.ErrNameFailed, "host fonts: %v", err)
		}
		if ok && len(dirs) > 0 {
			cache = true
			l.spec.Binds = append(l.spec.Binds, bind{Src: l.s.paths.FontCache, Dst: inHostFontCache})
		}
	}
	if len(dirs) == 0 {
		return nil
	}
	path, err := l.dir.WriteFile("fonts.conf", fontsConf(dirs, cache), 0o644)
	if err != nil {
		return err
	}
	l.spec.Binds = append(l.spec.Binds, bind{Src: path, Dst: inHostFontsConf})
	return nil
}

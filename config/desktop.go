package config

import (
	"fmt"
	"regexp"
	"unicode/utf8"

	"github.com/nspawn-tray/nspawn-tray/desktopfiles"
)

// Desktop is the [desktop] table of a definition: which desktop file of the
// image is the app's own, and values that replace the image's. Every value
// is also sanitized where the entry is written; these rules only keep
// definitions sane.
type Desktop struct {
	// File is the desktop file id in the image's usr/share/applications,
	// e.g. "debian-xterm.desktop". Empty: the one whose Exec runs exec[0].
	File           string   `toml:"file"`
	Name           string   `toml:"name"`
	GenericName    string   `toml:"generic_name"`
	Comment        string   `toml:"comment"`
	Categories     []string `toml:"categories"`
	Keywords       []string `toml:"keywords"`
	MimeType       []string `toml:"mime_type"`
	StartupWMClass string   `toml:"startup_wm_class"`
}

var (
	// `^[A-Za-z0-9_-]{1,64}$`, the count checked apart (a counted
	// repetition compiles to as many copies, at every start).
	categoryRe = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	mimeRe     = regexp.MustCompile(`^[a-z][a-z0-9.+-]*/[A-Za-z0-9][A-Za-z0-9.+_-]*$`)
)

func (d Desktop) validate() error {
	if d.File != "" && desktopfiles.ValidFileID(d.File) != nil {
		return fmt.Errorf("%w: desktop.file %q: want a desktop file id like app.desktop", ErrInvalidValue, d.File)
	}
	for key, v := range map[string]string{"desktop.name": d.Name, "desktop.generic_name": d.GenericName,
		"desktop.startup_wm_class": d.StartupWMClass} {
		if v != "" {
			if err := ValidName(v); err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
		}
	}
	if len(d.Comment) > 512 || !utf8.ValidString(d.Comment) || hasControl(d.Comment) {
		return fmt.Errorf("%w: desktop.comment: at most 512 bytes of UTF-8 text", ErrInvalidValue)
	}
	for key, list := range map[string][]string{"desktop.categories": d.Categories, "desktop.keywords": d.Keywords} {
		if len(list) > 32 {
			return fmt.Errorf("%w: %s: at most 32 entries", ErrInvalidValue, key)
		}
		for _, v := range list {
			if key == "desktop.categories" && (len(v) > 64 || !categoryRe.MatchString(v)) {
				return fmt.Errorf("%w: %s: %q is not a category name", ErrInvalidValue, key, v)
			}
			if key == "desktop.keywords" && (len(v) == 0 || len(v) > 64 || !utf8.ValidString(v) || hasControl(v)) {
				return fmt.Errorf("%w: %s: %q: 1 to 64 bytes of text", ErrInvalidValue, key, v)
			}
		}
	}
	if len(d.MimeType) > 64 {
		return fmt.Errorf("%w: desktop.mime_type: at most 64 entries", ErrInvalidValue)
	}
	for _, m := range d.MimeType {
		if !mimeRe.MatchString(m) {
			return fmt.Errorf("%w: desktop.mime_type: %q is not a MIME type", ErrInvalidValue, m)
		}
	}
	return nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

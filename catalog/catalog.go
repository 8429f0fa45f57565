// Package catalog turns an image's own desktop entries into app
// definitions: it lists the apps an image offers (Offers) and writes the
// definition of one (Add), as `nspawn-tray app add` and the daemon's AddApp
// do, both as root. The image is untrusted content: its applications
// directory is read the way appmeta reads it (openat2, RESOLVE_IN_ROOT, size
// caps), and every value that reaches a definition is sanitized and then
// checked by config's own validation.
package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/nspawn-tray/nspawn-tray/appmeta"
	"github.com/nspawn-tray/nspawn-tray/atomicfile"
	"github.com/nspawn-tray/nspawn-tray/config"
	"github.com/nspawn-tray/nspawn-tray/desktopfiles"
	"github.com/nspawn-tray/nspawn-tray/machinename"
	"github.com/nspawn-tray/nspawn-tray/openat2"
)

// applicationsDir is where an image keeps its desktop entries.
const applicationsDir = "usr/share/applications"

// maxEntries caps how many desktop files of an image are read.
const maxEntries = 1024

// Offer is one app an image offers: a desktop entry that a definition can
// be made of.
type Offer struct {
	DesktopFile string   // "firefox-esr.desktop"
	ID          string   // the app id proposed for it
	Name        string   // its Name, sanitized
	Exec        []string // its Exec as an argv, field codes expanded or dropped
}

// Sentinel errors callers act on.
var (
	ErrExists   = errors.New("a definition with that id exists")
	ErrNotOffer = errors.New("not an app of the image")
)

// Offers lists the apps of the image tree at imageDir, by desktop file
// name: the entries of usr/share/applications that parse, have
// Type=Application and are neither NoDisplay nor Hidden, with an Exec that
// gives a program. An image without the directory offers nothing.
func Offers(imageDir string) ([]Offer, error) {
	names, err := openat2.ReadDirInRoot(imageDir, applicationsDir, maxEntries)
	if errors.Is(err, openat2.ErrRoot) {
		return nil, err
	}
	if err != nil {
		return nil, nil
	}
	slices.Sort(names)
	var out []Offer
	for _, name := range names {
		if o, err := offer(imageDir, name); err == nil {
			out = append(out, o)
		}
	}
	return out, nil
}

// Find is the offer of imageDir whose desktop file is file.
func Find(imageDir, file string) (Offer, error) {
	o, err := offer(imageDir, file)
	if err != nil {
		return Offer{}, fmt.Errorf("%s: %w", file, err)
	}
	return o, nil
}

func offer(imageDir, file string) (Offer, error) {
	if err := desktopfiles.ValidFileID(file); err != nil {
		return Offer{}, fmt.Errorf("%w: %v", ErrNotOffer, err)
	}
	data, err := openat2.ReadFileInRoot(imageDir, applicationsDir+"/"+file, appmeta.MaxDesktopFileBytes)
	if err != nil {
		return Offer{}, fmt.Errorf("%w: %v", ErrNotOffer, err)
	}
	p, err := desktopfiles.Parse(data)
	switch {
	case err != nil:
		return Offer{}, fmt.Errorf("%w: %v", ErrNotOffer, err)
	case p.Type != "Application" || p.NoDisplay || p.Hidden:
		return Offer{}, fmt.Errorf("%w: not a shown application entry", ErrNotOffer)
	}
	entry := desktopfiles.Sanitize(p.Entry)
	argv := Argv(p.Exec, entry)
	if len(argv) == 0 || config.ValidExec(argv) != nil {
		return Offer{}, fmt.Errorf("%w: its Exec gives no program to run", ErrNotOffer)
	}
	o := Offer{DesktopFile: file, ID: ProposeID(file), Name: entry.Name, Exec: argv}
	if config.ValidName(o.Name) != nil {
		o.Name = o.ID
	}
	return o, nil
}

// DefinedAs is the id of the definition among defs that already makes an
// app of o on image, "" when none: one that names o's desktop file, or names
// none and runs o's program (the entry Metadata would find for it).
func DefinedAs(o Offer, image string, defs []config.App) string {
	for _, d := range defs {
		if d.Image != image {
			continue
		}
		if d.Desktop.File == o.DesktopFile ||
			d.Desktop.File == "" && len(d.Exec) > 0 && len(o.Exec) > 0 && desktopfiles.SameProgram(d.Exec[0], o.Exec[0]) {
			return d.ID
		}
	}
	return ""
}

// Argv is a desktop entry's Exec as the argv of a definition, per the
// specification's field codes: the file and URL codes (%f %F %u %U) are
// dropped, since arguments come from `nspawn-tray launch APP -- ARGS`; %i
// becomes --icon and the entry's icon, %c its name; %k (the desktop file's
// location) and the deprecated codes are dropped.
func Argv(exec string, entry desktopfiles.Entry) []string {
	var out []string
	for _, a := range desktopfiles.SplitExec(exec) {
		switch {
		case a == "%i" && entry.Icon != "":
			out = append(out, "--icon", entry.Icon)
		case a == "%c" && entry.Name != "":
			out = append(out, entry.Name)
		case desktopfiles.IsFieldCode(a):
		default:
			out = append(out, a)
		}
	}
	return out
}

// ProposeID makes an app id of a desktop file name: its stem, or the last
// part of a reverse-DNS one ("org.gnome.Calculator.desktop" → calculator),
// lower-cased, with anything but letters, digits and '-' made a '-'.
func ProposeID(file string) string {
	stem := strings.TrimSuffix(file, ".desktop")
	if strings.Count(stem, ".") >= 2 {
		stem = stem[strings.LastIndexByte(stem, '.')+1:]
	}
	var b strings.Builder
	for _, r := range strings.ToLower(stem) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else if s := b.String(); s != "" && !strings.HasSuffix(s, "-") {
			b.WriteByte('-')
		}
	}
	id := strings.Trim(b.String(), "-")
	if len(id) > machinename.MaxAppIDLen {
		id = strings.TrimRight(id[:machinename.MaxAppIDLen], "-")
	}
	if config.ValidID(id) != nil {
		return "app"
	}
	return id
}

// definition is what Add writes: the keys a definition needs, nothing
// that has a good default.
type definition struct {
	Name    string      `toml:"name"`
	Image   string      `toml:"image"`
	Exec    []string    `toml:"exec"`
	Desktop desktopFile `toml:"desktop"`
}

type desktopFile struct {
	File string `toml:"file"`
}

// Definition is the TOML of the definition of o on image, checked as
// config checks any definition.
func Definition(image, id string, o Offer) ([]byte, error) {
	app := config.App{ID: id, Name: o.Name, Image: image, Exec: o.Exec, X11: config.X11Host, Network: config.NetworkHost,
		Audio: config.AudioPlayback, Desktop: config.Desktop{File: o.DesktopFile}}
	if err := app.Validate(); err != nil {
		return nil, fmt.Errorf("the definition of %s would be invalid: %w", o.DesktopFile, err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Written by nspawn-tray app add from the image %q, its %s/%s.\n", image, applicationsDir, o.DesktopFile)
	fmt.Fprintf(&b, "# Edit as you like: nspawn-tray apps shows what is wrong, if anything.\n")
	if err := toml.NewEncoder(&b).Encode(definition{Name: o.Name, Image: image, Exec: o.Exec,
		Desktop: desktopFile{File: o.DesktopFile}}); err != nil {
		return nil, fmt.Errorf("encode the definition: %w", err)
	}
	return b.Bytes(), nil
}

// Add writes the definition of o on image as appsDir/ID.toml, atomically
// and root's (the caller is root), never over an existing file unless
// force. It returns the file written.
func Add(appsDir, image, id string, o Offer, force bool) (string, error) {
	if err := config.ValidID(id); err != nil {
		return "", err
	}
	data, err := Definition(image, id, o)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(appsDir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(appsDir, id+".toml")
	err = atomicfile.Write(path, data, atomicfile.Options{Mode: 0o644, NoReplace: !force})
	if errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("%s: %w (--force replaces it)", path, ErrExists)
	}
	if err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return path, nil
}

// Remove removes the definition appsDir/ID.toml. A symlink or anything but
// a regular file there is refused, not followed.
func Remove(appsDir, id string) error {
	if err := config.ValidID(id); err != nil {
		return err
	}
	path := filepath.Join(appsDir, id+".toml")
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file: left alone", path)
	}
	if err := os.Remove(path); err != nil {
		return err
	}
	return atomicfile.SyncDir(appsDir)
}

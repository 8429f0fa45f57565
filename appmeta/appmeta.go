// Package appmeta extracts an app's desktop entry and icons from a container
// image, as root, for the unprivileged user side to install.
//
// Everything read here is untrusted image content. Every file is read with
// openat2.ReadFileInRoot and every directory listed with
// openat2.ReadDirInRoot, so no path in the image (absolute symlinks, "..",
// Icon=../../etc/shadow) can reach outside it; reads are size-capped and
// refuse FIFOs and device nodes. What is returned is a sanitized Entry (no
// Exec: the command line always comes from the app definition) and icons that
// icons.Validate accepted.
package appmeta

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/nspawn-tray/nspawn-tray/desktopfiles"
	"github.com/nspawn-tray/nspawn-tray/icons"
	"github.com/nspawn-tray/nspawn-tray/openat2"
)

// Caps on what Extract reads and returns.
const (
	MaxDesktopFileBytes = 64 << 10
	MaxIconFileBytes    = 1 << 20
	MaxIcons            = 12
	MaxIconBytesTotal   = 4 << 20
)

// Paths inside the image.
const (
	applicationsDir = "usr/share/applications"
	hicolorDir      = "usr/share/icons/hicolor"
	pixmapsDir      = "usr/share/pixmaps"
)

// hicolorSizes are the fixed-size hicolor directories looked at, in order.
var hicolorSizes = []string{"16x16", "22x22", "24x24", "32x32", "48x48", "64x64", "128x128", "256x256", "512x512"}

// iconNameRE accepts one plain path component: the name is used both to
// build paths inside the image and by the user side as a file name.
//
// It is `^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$` with the count checked apart
// (validIconName): a counted repetition compiles to as many copies, paid
// at every start of the binary.
var iconNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)

func validIconName(s string) bool { return len(s) <= 128 && iconNameRE.MatchString(s) }

// maxDirEntries caps how many names of usr/share/applications are read.
const maxDirEntries = 4096

// Icon is one validated icon file of an app.
type Icon struct {
	Name    string // the icon name from Icon= (sanitized, a plain file name stem)
	SizeDir string // hicolor size directory: "48x48", "scalable", ...
	Ext     string // icons.FormatPNG, FormatSVG or FormatXPM (no dot)
	Data    []byte
}

// Metadata is what the user side needs to write an app's desktop entry.
type Metadata struct {
	// DesktopID is the desktop file's name without ".desktop", e.g.
	// "debian-xterm"; "" when the image has no matching desktop file.
	DesktopID string
	// Entry is sanitized with desktopfiles.Sanitize. Entry.Icon is "" unless
	// it is a plain icon name (iconNameRE).
	Entry desktopfiles.Entry
	Icons []Icon
	// Sources are the paths in the image (relative to it) that Extract
	// looked at, present or not: the result can only change when one of
	// them does (see Stamp).
	Sources []string
}

// Options name an image's own desktop file explicitly (from the app
// definition); the zero value means "find it by Exec".
type Options struct {
	// DesktopFile is a desktop file id like "debian-xterm.desktop" in
	// usr/share/applications (desktopfiles.ValidFileID).
	DesktopFile string
}

// Extract reads an app's desktop entry and icons from the image tree at
// imageDir (an absolute clean path; nothing outside it is ever read): a
// directory image, or the mount point of a raw image's file systems,
// which the daemon mounts read-only for the call (package rawimage). The
// tree's symlinks resolve inside it either way.
//
// With opts.DesktopFile set, that file in usr/share/applications is used, and
// an invalid id or a missing, unreadable or unparsable file is an error.
// Otherwise the first, by sorted name, of usr/share/applications/*.desktop
// that parses, has Type=Application, is neither NoDisplay nor Hidden and
// whose Exec matches execArgv0 (desktopfiles.MatchesExec) is used; unreadable or invalid files
// are skipped, and no match (or no usr/share/applications) is not an error:
// Metadata is then empty. An imageDir that cannot be opened is an error.
//
// The icons are those Icon= names, looked up in hicolor's fixed sizes
// (PNG), hicolor/scalable (SVG) and pixmaps (PNG, SVG, XPM), each read with a
// MaxIconFileBytes cap and kept only if icons.Validate accepts it, up to
// MaxIcons icons and MaxIconBytesTotal bytes. Missing, invalid or too large
// icon files, and a second icon with the same size directory and format, are
// skipped silently.
func Extract(imageDir string, execArgv0 string, opts Options) (Metadata, error) {
	var (
		id     string
		parsed desktopfiles.Parsed
		err    error
	)
	var sources []string
	if opts.DesktopFile != "" {
		sources = []string{applicationsDir + "/" + opts.DesktopFile}
		id, parsed, err = readNamed(imageDir, opts.DesktopFile)
	} else {
		id, parsed, sources, err = findByExec(imageDir, execArgv0)
	}
	if err != nil {
		return Metadata{}, err
	}
	if id == "" {
		return Metadata{Sources: sources}, nil
	}
	md := Metadata{DesktopID: id, Entry: desktopfiles.Sanitize(parsed.Entry), Sources: sources}
	if !validIconName(md.Entry.Icon) {
		md.Entry.Icon = ""
		return md, nil
	}
	for _, c := range iconCandidates(md.Entry.Icon) {
		md.Sources = append(md.Sources, c.rel)
	}
	md.Icons = findIcons(imageDir, md.Entry.Icon)
	return md, nil
}

func readNamed(imageDir, file string) (string, desktopfiles.Parsed, error) {
	if err := desktopfiles.ValidFileID(file); err != nil {
		return "", desktopfiles.Parsed{}, fmt.Errorf("appmeta: %w", err)
	}
	data, err := openat2.ReadFileInRoot(imageDir, applicationsDir+"/"+file, MaxDesktopFileBytes)
	if err != nil {
		return "", desktopfiles.Parsed{}, fmt.Errorf("appmeta: desktop file %s: %w", file, err)
	}
	p, err := desktopfiles.Parse(data)
	if err != nil {
		return "", desktopfiles.Parsed{}, fmt.Errorf("appmeta: desktop file %s: %w", file, err)
	}
	return strings.TrimSuffix(file, ".desktop"), p, nil
}

// findByExec also returns the paths it looked at: the directory and each
// desktop file read.
func findByExec(imageDir, execArgv0 string) (string, desktopfiles.Parsed, []string, error) {
	if execArgv0 == "" {
		return "", desktopfiles.Parsed{}, nil, nil
	}
	sources := []string{applicationsDir}
	names, err := openat2.ReadDirInRoot(imageDir, applicationsDir, maxDirEntries)
	if errors.Is(err, openat2.ErrRoot) {
		return "", desktopfiles.Parsed{}, nil, err
	}
	if err != nil {
		// Missing, not a directory, a symlink loop: the image simply has
		// no usable desktop file.
		return "", desktopfiles.Parsed{}, sources, nil
	}
	slices.Sort(names)
	for _, name := range names {
		if desktopfiles.ValidFileID(name) != nil {
			continue
		}
		sources = append(sources, applicationsDir+"/"+name)
		data, err := openat2.ReadFileInRoot(imageDir, applicationsDir+"/"+name, MaxDesktopFileBytes)
		if err != nil {
			continue
		}
		p, err := desktopfiles.Parse(data)
		if err != nil || p.NoDisplay || p.Hidden {
			continue
		}
		if p.Type != "Application" {
			continue
		}
		if desktopfiles.MatchesExec(p, execArgv0) {
			return strings.TrimSuffix(name, ".desktop"), p, sources, nil
		}
	}
	return "", desktopfiles.Parsed{}, sources, nil
}

// iconCandidate is one place an icon may be, with the format it must have.
type iconCandidate struct {
	rel string
	ext string
}

func iconCandidates(name string) []iconCandidate {
	var c []iconCandidate
	for _, s := range hicolorSizes {
		c = append(c, iconCandidate{hicolorDir + "/" + s + "/apps/" + name + ".png", icons.FormatPNG})
	}
	c = append(c, iconCandidate{hicolorDir + "/scalable/apps/" + name + ".svg", icons.FormatSVG})
	for _, ext := range []string{icons.FormatPNG, icons.FormatSVG, icons.FormatXPM} {
		c = append(c, iconCandidate{pixmapsDir + "/" + name + "." + ext, ext})
	}
	return c
}

func findIcons(imageDir, name string) []Icon {
	var (
		out   []Icon
		total int
		seen  = map[string]bool{}
	)
	for _, c := range iconCandidates(name) {
		if len(out) >= MaxIcons {
			break
		}
		data, err := openat2.ReadFileInRoot(imageDir, c.rel, MaxIconFileBytes)
		if err != nil {
			continue
		}
		// The size directory comes from the validated content, not from
		// where the file was found: the user side installs by it.
		sizeDir, err := icons.Validate(data, c.ext)
		if err != nil {
			continue
		}
		key := sizeDir + "." + c.ext
		if seen[key] || total+len(data) > MaxIconBytesTotal {
			continue
		}
		seen[key] = true
		total += len(data)
		out = append(out, Icon{Name: name, SizeDir: sizeDir, Ext: c.ext, Data: data})
	}
	return out
}

// Stamp identifies the state of rels in the image at imageDir: for each,
// its inode, size, and change and modification times, or that it is
// missing. Equal stamps mean Extract would read the same files (a file
// rewritten within one timestamp tick, keeping its size, goes unnoticed).
func Stamp(imageDir string, rels []string) string {
	var b strings.Builder
	sts, errs := openat2.StatsInRoot(imageDir, rels)
	for i, rel := range rels {
		st, err := sts[i], errs[i]
		if err != nil {
			fmt.Fprintf(&b, "%s -\n", rel)
			continue
		}
		fmt.Fprintf(&b, "%s %d:%d %d %d.%d %d.%d\n", rel, st.Dev, st.Ino, st.Size,
			st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec)
	}
	return b.String()
}

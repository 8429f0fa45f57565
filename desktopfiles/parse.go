// Package desktopfiles turns the desktop entry of an app inside a container
// image into the entry nspawn-tray puts in the user's menu, and keeps the
// user's applications directory in step with the configured apps.
//
// The image's .desktop file is untrusted: it is parsed leniently (Parse),
// every value that is kept is cleaned and bounded (Sanitize), and only the
// descriptive keys ever reach the user's entry. What the entry runs (Exec,
// TryExec, actions) is always written by Render from nspawn-tray's own values,
// never copied from the image.
package desktopfiles

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf8"
)

// MaxParseSize is the largest image desktop file Parse accepts.
const MaxParseSize = 64 << 10

// mainGroup is the group of a desktop file that holds the entry.
const mainGroup = "Desktop Entry"

// Entry is the metadata of an app's desktop entry, as taken from an image's
// .desktop file or from the app definition. Loc maps hold translations: key
// is the locale ("de", "pt_BR", "sr@latin"), value the translated string.
type Entry struct {
	Name           string
	NameLoc        map[string]string
	GenericName    string
	GenericNameLoc map[string]string
	Comment        string
	CommentLoc     map[string]string
	Icon           string // icon NAME (not a path) after sanitizing
	Categories     []string
	Keywords       []string
	MimeType       []string
	StartupWMClass string
}

// Parsed is an image .desktop file's [Desktop Entry] group: the Entry plus
// what matching needs (Exec, TryExec, Type, NoDisplay, Hidden). Values are
// unescaped but not sanitized.
type Parsed struct {
	Entry             Entry
	Exec, TryExec     string
	Type              string
	NoDisplay, Hidden bool
}

// Errors returned by Parse.
var (
	ErrTooLarge = fmt.Errorf("desktop file larger than %d bytes", MaxParseSize)
	ErrNoEntry  = errors.New("no [Desktop Entry] group")
)

// Parse reads a desktop file per the Desktop Entry specification 1.5: groups,
// comments, Key=value and Key[locale]=value lines, with the escapes \s \n \t
// \r \\ (and \; inside lists). Only the first [Desktop Entry] group is used;
// other groups (actions included) are ignored. Parsing is lenient, since
// consumers are: a line that is not a comment, group header or valid
// key=value pair is skipped, as is a key whose value is not valid UTF-8; the
// first occurrence of a duplicated key wins. Input over MaxParseSize is
// ErrTooLarge, a file without the group ErrNoEntry.
func Parse(data []byte) (Parsed, error) {
	var p Parsed
	if len(data) > MaxParseSize {
		return p, ErrTooLarge
	}
	seen := map[string]bool{}
	found := false
	scanMain(data, false, func(key, locale string, raw []byte) bool {
		found = true
		if key == "" { // the group header itself
			return true
		}
		full := key
		if locale != "" {
			full = key + "[" + locale + "]"
		}
		if seen[full] || !utf8.Valid(raw) {
			return true
		}
		seen[full] = true
		e := &p.Entry
		switch key {
		case "Name":
			setLoc(&e.Name, &e.NameLoc, locale, unescape(raw))
		case "GenericName":
			setLoc(&e.GenericName, &e.GenericNameLoc, locale, unescape(raw))
		case "Comment":
			setLoc(&e.Comment, &e.CommentLoc, locale, unescape(raw))
		}
		if locale != "" {
			return true // localized Icon, Keywords, ... are not used
		}
		switch key {
		case "Icon":
			e.Icon = unescape(raw)
		case "Categories":
			e.Categories = unescapeList(raw)
		case "Keywords":
			e.Keywords = unescapeList(raw)
		case "MimeType":
			e.MimeType = unescapeList(raw)
		case "StartupWMClass":
			e.StartupWMClass = unescape(raw)
		case "Exec":
			p.Exec = unescape(raw)
		case "TryExec":
			p.TryExec = unescape(raw)
		case "Type":
			p.Type = unescape(raw)
		case "NoDisplay":
			p.NoDisplay = string(raw) == "true"
		case "Hidden":
			p.Hidden = string(raw) == "true"
		}
		return true
	})
	if !found {
		return Parsed{}, ErrNoEntry
	}
	return p, nil
}

func setLoc(base *string, loc *map[string]string, locale, v string) {
	if locale == "" {
		*base = v
		return
	}
	if *loc == nil {
		*loc = map[string]string{}
	}
	(*loc)[locale] = v
}

// ParseOwner returns the OwnerKey value of a desktop file's main group, ""
// if none. The main group is the first group of the file and must be
// [Desktop Entry]; a file whose first group is anything else has no owner.
func ParseOwner(data []byte) string {
	owner := ""
	scanMain(data, true, func(key, locale string, raw []byte) bool {
		if key == OwnerKey && locale == "" {
			if utf8.Valid(raw) {
				owner = unescape(raw)
			}
			return false
		}
		return true
	})
	return owner
}

// scanMain calls fn for the [Desktop Entry] group: once with key "" when
// the header is seen, then for each key=value line of the group, until fn
// returns false. With firstOnly, the group counts only if it is the first
// group of the file (how the specification defines the main group).
func scanMain(data []byte, firstOnly bool, fn func(key, locale string, raw []byte) bool) {
	in := false
	for len(data) > 0 {
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		line = bytes.TrimRight(line, "\r")
		line = bytes.TrimLeft(line, " \t")
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if line[0] == '[' {
			line = bytes.TrimRight(line, " \t")
			if line[len(line)-1] != ']' {
				continue // not a header, nor a key: skipped
			}
			if in {
				return // the group ended; later duplicates are ignored
			}
			if string(line) == "["+mainGroup+"]" {
				in = true
				if !fn("", "", nil) {
					return
				}
				continue
			}
			if firstOnly {
				return
			}
			continue
		}
		if !in {
			continue
		}
		key, locale, raw, ok := splitKey(line)
		if ok && !fn(key, locale, raw) {
			return
		}
	}
}

// splitKey splits a "Key[locale] = value" line. Keys are [A-Za-z0-9-]+; the
// locale is anything non-empty without brackets, '=' or blanks (Sanitize
// decides which locales are kept).
func splitKey(line []byte) (key, locale string, raw []byte, ok bool) {
	eq := bytes.IndexByte(line, '=')
	if eq <= 0 {
		return "", "", nil, false
	}
	k := bytes.TrimRight(line[:eq], " \t")
	raw = bytes.TrimLeft(line[eq+1:], " \t")
	if n := len(k); n > 0 && k[n-1] == ']' {
		open := bytes.IndexByte(k, '[')
		if open <= 0 || open == n-2 {
			return "", "", nil, false
		}
		loc := k[open+1 : n-1]
		for _, c := range loc {
			if c == '[' || c == ']' || c <= ' ' || c == 0x7f {
				return "", "", nil, false
			}
		}
		locale, k = string(loc), k[:open]
	}
	if len(k) == 0 {
		return "", "", nil, false
	}
	for _, c := range k {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return "", "", nil, false
		}
	}
	return string(k), locale, raw, true
}

// unescape decodes a string value. An unknown escape is kept as written.
func unescape(raw []byte) string {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw)
	}
	b := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' || i+1 == len(raw) {
			b = append(b, c)
			continue
		}
		i++
		if d, ok := simpleEscape(raw[i]); ok {
			b = append(b, d)
		} else {
			b = append(b, '\\', raw[i])
		}
	}
	return string(b)
}

func simpleEscape(c byte) (byte, bool) {
	switch c {
	case 's':
		return ' ', true
	case 'n':
		return '\n', true
	case 't':
		return '\t', true
	case 'r':
		return '\r', true
	case '\\':
		return '\\', true
	}
	return 0, false
}

// unescapeList decodes a list value: items end at an unescaped ';', "\;" is
// a literal ';'. Empty items are dropped.
func unescapeList(raw []byte) []string {
	var out []string
	var b []byte
	flush := func() {
		if len(b) > 0 {
			out = append(out, string(b))
		}
		b = b[:0]
	}
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == ';':
			flush()
		case c != '\\' || i+1 == len(raw):
			b = append(b, c)
		default:
			i++
			if d, ok := simpleEscape(raw[i]); ok {
				b = append(b, d)
			} else if raw[i] == ';' {
				b = append(b, ';')
			} else {
				b = append(b, '\\', raw[i])
			}
		}
	}
	flush()
	return out
}

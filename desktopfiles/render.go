package desktopfiles

import (
	"bytes"
	"slices"
	"strings"
)

// OwnerKey marks files nspawn-tray owns; a file without it is never touched.
const OwnerKey = "X-NspawnTray-App"

// Ours is what we write for one app.
type Ours struct {
	AppID    string // nspawn-tray app id, ^[a-z0-9][a-z0-9-]{0,39}$ (validated by caller)
	Entry    Entry  // sanitized (Render sanitizes again; Sanitize is idempotent)
	Launcher string // absolute path of the nspawn-tray binary, e.g. /usr/bin/nspawn-tray
	HomeDir  string // the app's persistent home on the host, for the "open home" action; "" = no such action
}

// header is the comment that opens every file Render writes.
const header = "# Written by nspawn-tray from the app's configuration and image; changes\n" +
	"# are overwritten. Delete the " + OwnerKey + " line to keep a copy of your own.\n"

// Render writes the desktop entry for one app. The output is deterministic
// (fixed key order, sorted locales) and passes desktop-file-validate when
// Launcher and HomeDir are ASCII (Exec is a "string" value, which the
// specification limits to ASCII).
//
// The entry always runs `LAUNCHER launch APPID`, quoted per the
// specification when needed, with no field codes: the launcher takes the
// app's arguments only after "--", so the menu never passes files or URLs,
// and MimeType only tells the desktop which types the app handles.
//
// StartupNotify is false: the startup notification ID (DESKTOP_STARTUP_ID,
// XDG_ACTIVATION_TOKEN) is not passed through the launcher into the
// container, so the app could never complete the sequence and the desktop
// would show a busy cursor until its timeout. StartupWMClass is still
// written, which lets docks group the app's windows with the entry.
//
// An empty Entry.Name is replaced by the AppID, as Name is required.
func Render(o Ours) []byte {
	e := Sanitize(o.Entry)
	if e.Name == "" {
		e.Name = cleanText(o.AppID, maxName)
	}
	var b bytes.Buffer
	b.Grow(1024)
	b.WriteString(header)
	b.WriteString("[" + mainGroup + "]\n")
	kv(&b, "Type", "Application")
	localized(&b, "Name", e.Name, e.NameLoc)
	localized(&b, "GenericName", e.GenericName, e.GenericNameLoc)
	localized(&b, "Comment", e.Comment, e.CommentLoc)
	if e.Icon != "" {
		kv(&b, "Icon", e.Icon)
	}
	list(&b, "Categories", e.Categories)
	list(&b, "Keywords", e.Keywords)
	list(&b, "MimeType", e.MimeType)
	if e.StartupWMClass != "" {
		kv(&b, "StartupWMClass", e.StartupWMClass)
	}
	kv(&b, "StartupNotify", "false")
	kv(&b, "Exec", execLine(o.Launcher, "launch", o.AppID))
	kv(&b, "TryExec", o.Launcher)
	kv(&b, "Terminal", "false")
	kv(&b, OwnerKey, o.AppID)
	actions := []string{"stop"}
	if o.HomeDir != "" {
		actions = append(actions, "open-home")
	}
	list(&b, "Actions", actions)

	b.WriteString("\n[Desktop Action stop]\n")
	kv(&b, "Name", "Stop all instances")
	kv(&b, "Exec", execLine(o.Launcher, "stop", "--app", o.AppID))
	if o.HomeDir != "" {
		b.WriteString("\n[Desktop Action open-home]\n")
		kv(&b, "Name", "Open home folder")
		kv(&b, "Exec", execLine("xdg-open", o.HomeDir))
	}
	return b.Bytes()
}

func kv(b *bytes.Buffer, key, value string) {
	b.WriteString(key)
	b.WriteByte('=')
	b.WriteString(escape(value, false))
	b.WriteByte('\n')
}

func localized(b *bytes.Buffer, key, value string, loc map[string]string) {
	if value == "" {
		return
	}
	kv(b, key, value)
	locales := make([]string, 0, len(loc))
	for l := range loc {
		locales = append(locales, l)
	}
	slices.Sort(locales)
	for _, l := range locales {
		kv(b, key+"["+l+"]", loc[l])
	}
}

// list writes a list value; every item, the last one included, ends with
// ';'.
func list(b *bytes.Buffer, key string, items []string) {
	if len(items) == 0 {
		return
	}
	b.WriteString(key)
	b.WriteByte('=')
	for _, it := range items {
		b.WriteString(escape(it, true))
		b.WriteByte(';')
	}
	b.WriteByte('\n')
}

// escape applies the value escapes of the specification: \\ for a
// backslash, \n \t \r for those characters, \s for a space at either end
// (parsers skip spaces after '=' and some trim trailing ones), and in lists
// \; for a ';' inside an item.
func escape(s string, inList bool) string {
	if !strings.ContainsAny(s, "\\\n\t\r;") && !strings.HasPrefix(s, " ") && !strings.HasSuffix(s, " ") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == ';' && inList:
			b.WriteString(`\;`)
		case c == ' ' && (i == 0 || i == len(s)-1):
			b.WriteString(`\s`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// execReserved are the characters that force an Exec argument into double
// quotes.
const execReserved = " \t\n\"'\\><~|&;$*?#()`"

// execLine joins args into an Exec value (before value escaping): each
// argument is quoted when it is empty or holds a reserved character, with
// ", `, $ and \ backslash-escaped inside the quotes, and '%' is doubled so
// no field code can appear.
func execLine(args ...string) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		a = strings.ReplaceAll(a, "%", "%%")
		if a != "" && !strings.ContainsAny(a, execReserved) {
			b.WriteString(a)
			continue
		}
		b.WriteByte('"')
		for j := 0; j < len(a); j++ {
			if c := a[j]; c == '"' || c == '`' || c == '$' || c == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(a[j])
		}
		b.WriteByte('"')
	}
	return b.String()
}

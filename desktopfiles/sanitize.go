package desktopfiles

import (
	"path"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits applied by Sanitize.
const (
	maxName        = 128 // Name, GenericName (and their translations)
	maxComment     = 512
	maxWMClass     = 128
	maxListItem    = 64 // Categories, Keywords item
	maxMimeItem    = 255
	maxCategories  = 32
	maxKeywords    = 32
	maxMimeTypes   = 64
	maxLocales     = 64 // translations per key
	maxLocaleBytes = 32
	maxIconName    = 128
)

var (
	localeRE = regexp.MustCompile(`^[a-z]{2,3}(_[A-Z]{2})?(\.[A-Za-z0-9-]+)?(@[a-z]+)?$`)
	// `^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$`, the count checked apart
	// (maxIconName) as in fileIDRE.
	iconRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)
	categoryRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	mimeRE     = regexp.MustCompile(`^[a-z0-9.+-]+/[A-Za-z0-9.+_-]+$`)
)

// Sanitize makes untrusted values safe to write into the user's entry:
//
//   - every string is valid UTF-8 (invalid bytes dropped), without control
//     characters (tab, CR, LF and U+2028/U+2029 become a space, others are
//     dropped), without bidi embedding/override/isolate characters or BOMs,
//     trimmed, and capped (Name/GenericName 128 bytes, Comment 512,
//     StartupWMClass 128, list items 64) at a character boundary;
//   - translations are kept only for locales matching
//     lang[_COUNTRY][.ENCODING][@MODIFIER], at most 64 per key (the first
//     in sorted order), and only when the untranslated value is non-empty;
//   - Comment is dropped when it equals Name (ignoring case), as
//     desktop-file-validate warns about it;
//   - Icon is reduced to a plain icon name (see sanitizeIcon);
//   - Categories keep registered, non-reserved categories (menu spec) and
//     X- extensions, at most 32, with AudioVideo added when Audio or Video
//     is present; Keywords at most 32; MimeType entries must be
//     type/subtype with a registered top-level type, at most 64; lists lose
//     empty and duplicate items;
//   - StartupWMClass is printable ASCII (it is a "string", not a
//     "localestring").
//
// Sanitize is idempotent.
func Sanitize(e Entry) Entry {
	var s Entry
	s.Name = cleanText(e.Name, maxName)
	s.GenericName = cleanText(e.GenericName, maxName)
	s.Comment = cleanText(e.Comment, maxComment)
	if strings.EqualFold(s.Comment, s.Name) {
		s.Comment = ""
	}
	if s.Name != "" {
		s.NameLoc = cleanLoc(e.NameLoc, maxName)
	}
	if s.GenericName != "" {
		s.GenericNameLoc = cleanLoc(e.GenericNameLoc, maxName)
	}
	if s.Comment != "" {
		s.CommentLoc = cleanLoc(e.CommentLoc, maxComment)
	}
	s.Icon = sanitizeIcon(e.Icon)
	s.Categories = sanitizeCategories(e.Categories)
	s.Keywords = cleanList(e.Keywords, maxKeywords, func(v string) string {
		return cleanText(v, maxListItem)
	})
	s.MimeType = cleanList(e.MimeType, maxMimeTypes, sanitizeMime)
	s.StartupWMClass = cleanASCII(e.StartupWMClass, maxWMClass)
	return s
}

// cleanText makes s valid UTF-8 without control or bidi-override
// characters, trimmed and at most max bytes.
func cleanText(s string, max int) string {
	if s == "" {
		return ""
	}
	var b strings.Builder
	b.Grow(min(len(s), max+8))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch {
		case r == utf8.RuneError && n == 1:
			// invalid byte: dropped
		case r == '\t' || r == '\n' || r == '\r' || r == '\u2028' || r == '\u2029':
			b.WriteByte(' ')
		case unicode.IsControl(r), isBidiControl(r), r == '\ufeff':
			// dropped
		default:
			b.WriteRune(r)
		}
		if b.Len() > 4*max+16 {
			break // far more than can survive truncation
		}
	}
	return truncate(strings.TrimSpace(b.String()), max)
}

func isBidiControl(r rune) bool {
	return r >= '\u202a' && r <= '\u202e' || r >= '\u2066' && r <= '\u2069'
}

// truncate cuts s to at most max bytes at a character boundary, then trims
// trailing white space the cut may have exposed.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return strings.TrimRightFunc(s[:i], unicode.IsSpace)
}

func cleanASCII(s string, max int) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b.WriteByte(c)
		}
	}
	return truncate(strings.TrimSpace(b.String()), max)
}

func cleanLoc(m map[string]string, max int) map[string]string {
	keys := make([]string, 0, len(m))
	for k := range m {
		if len(k) <= maxLocaleBytes && localeRE.MatchString(k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var out map[string]string
	for _, k := range keys {
		v := cleanText(m[k], max)
		if v == "" {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
		if len(out) == maxLocales {
			break
		}
	}
	return out
}

// cleanList maps each item through clean, dropping empty results and
// duplicates, and keeps at most max items.
func cleanList(in []string, max int, clean func(string) string) []string {
	var out []string
	for _, v := range in {
		if len(out) == max {
			break
		}
		if v = clean(v); v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// iconExts are the extensions desktop-file-validate rejects on icon names.
var iconExts = []string{".png", ".svg", ".svgz", ".xpm"}

// sanitizeIcon reduces an Icon value to a plain icon name, or "". An
// absolute path keeps its base name without extension
// ("/usr/share/pixmaps/foo.png" -> "foo"): the entry must not make the
// host's desktop load an arbitrary host file, and the image's own path
// means nothing on the host anyway. A relative value with a '/' or ".." is
// dropped; an image extension is removed from a plain name ("foo.png" ->
// "foo"), as icon themes look names up without one.
func sanitizeIcon(s string) string {
	s = cleanText(s, 4096)
	if strings.HasPrefix(s, "/") {
		s = s[strings.LastIndexByte(s, '/')+1:]
		s = strings.TrimSuffix(s, path.Ext(s))
	} else if strings.Contains(s, "/") {
		return ""
	}
	for again := true; again; {
		again = false
		for _, ext := range iconExts {
			if len(s) > len(ext) && strings.EqualFold(s[len(s)-len(ext):], ext) {
				s, again = s[:len(s)-len(ext)], true
			}
		}
	}
	if len(s) > maxIconName || strings.Contains(s, "..") || !iconRE.MatchString(s) {
		return ""
	}
	return s
}

func sanitizeMime(v string) string {
	v = strings.TrimSpace(v)
	if len(v) > maxMimeItem || !mimeRE.MatchString(v) {
		return ""
	}
	top := v[:strings.IndexByte(v, '/')]
	switch top {
	case "application", "audio", "font", "image", "model", "text", "video",
		"inode", "x-content", "x-scheme-handler", "chemical":
		return v
	}
	switch v {
	case "message/rfc822", "multipart/related":
		return v
	}
	return "" // unregistered, discouraged or "example" top-level type
}

func sanitizeCategories(in []string) []string {
	var out []string
	for _, v := range in {
		v = strings.TrimSpace(v)
		if len(v) > maxListItem || !categoryRE.MatchString(v) || slices.Contains(out, v) {
			continue
		}
		if !(strings.HasPrefix(v, "X-") && len(v) > 2) && !registeredCategories[v] {
			continue
		}
		if (v == "Audio" || v == "Video") && !slices.Contains(out, "AudioVideo") {
			out = append(out, "AudioVideo") // required by the menu spec
		}
		out = append(out, v)
		if len(out) >= maxCategories {
			break
		}
	}
	if len(out) > maxCategories {
		out = out[:maxCategories]
	}
	return out
}

// registeredCategories are the Main and Additional Categories of the Desktop
// Menu Specification 1.1 that desktop-file-validate 0.26 accepts without
// further keys: the reserved ones (Screensaver, TrayIcon, Applet, Shell)
// need OnlyShowIn, and the deprecated Application(s) only cause warnings.
var registeredCategories = func() map[string]bool {
	m := map[string]bool{}
	for _, c := range strings.Fields(`
		AudioVideo Audio Video Development Education Game Graphics Network
		Office Science Settings System Utility
		Building Debugger IDE GUIDesigner Profiling RevisionControl Translation
		Calendar ContactManagement Database Dictionary Chart Email Finance
		FlowChart PDA ProjectManagement Presentation Spreadsheet WordProcessor
		2DGraphics VectorGraphics RasterGraphics 3DGraphics Scanning OCR
		Photography Publishing Viewer TextTools DesktopSettings HardwareSettings
		Printing PackageManager Dialup InstantMessaging Chat IRCClient Feed
		FileTransfer HamRadio News P2P RemoteAccess Telephony TelephonyTools
		VideoConference WebBrowser WebDevelopment Midi Mixer Sequencer Tuner TV
		AudioVideoEditing Player Recorder DiscBurning ActionGame AdventureGame
		ArcadeGame BoardGame BlocksGame CardGame KidsGame LogicGame RolePlaying
		Shooter Simulation SportsGame StrategyGame Art Construction Music
		Languages ArtificialIntelligence Astronomy Biology Chemistry
		ComputerScience DataVisualization Economy Electricity Geography Geology
		Geoscience History Humanities ImageProcessing Literature Maps Math
		NumericalAnalysis MedicalSoftware Physics Robotics Spirituality Sports
		ParallelComputing Amusement Archiving Compression Electronics Emulator
		Engineering FileTools FileManager TerminalEmulator Filesystem Monitor
		Security Accessibility Calculator Clock TextEditor Documentation Adult
		Core KDE GNOME XFCE GTK Qt Motif Java ConsoleOnly`) {
		m[c] = true
	}
	return m
}()

// Override applies the app definition's explicit values over the image's:
// any non-empty field of o replaces the corresponding field of e (maps and
// lists replace whole). When o sets Name, GenericName or Comment but no
// translations for it, e's translations of that key are dropped too: they
// translate the image's string, not the admin's. Callers sanitize the
// result.
func Override(e, o Entry) Entry {
	str := func(dst *string, dl *map[string]string, v string, vl map[string]string) {
		if v != "" {
			*dst = v
			*dl = nil
		}
		if len(vl) > 0 {
			*dl = vl
		}
	}
	str(&e.Name, &e.NameLoc, o.Name, o.NameLoc)
	str(&e.GenericName, &e.GenericNameLoc, o.GenericName, o.GenericNameLoc)
	str(&e.Comment, &e.CommentLoc, o.Comment, o.CommentLoc)
	if o.Icon != "" {
		e.Icon = o.Icon
	}
	if len(o.Categories) > 0 {
		e.Categories = o.Categories
	}
	if len(o.Keywords) > 0 {
		e.Keywords = o.Keywords
	}
	if len(o.MimeType) > 0 {
		e.MimeType = o.MimeType
	}
	if o.StartupWMClass != "" {
		e.StartupWMClass = o.StartupWMClass
	}
	return e
}

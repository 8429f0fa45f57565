// Package config reads app definitions: one TOML file per app in an apps.d
// directory, named ID.toml.
package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/BurntSushi/toml"
	"golang.org/x/sys/unix"
)

// maxFileSize caps what we read, since the privileged side parses these files.
const maxFileSize = 1 << 20

// App is one app definition. To add a key, add a field with a toml tag and a
// line in App.checks (with its default, if the key is optional).
//
// Load and LoadDir return Apps with every default applied: an optional key
// that is absent from the file has its default value here, never a zero
// value meaning "absent".
type App struct {
	ID    string   `toml:"-"`
	Name  string   `toml:"name"`
	Image string   `toml:"image"`
	Exec  []string `toml:"exec"`
	File  string   `toml:"-"`

	// X11 is X11Host (bind the user's X socket and cookie), X11Nested (a
	// nested X server of the app's own, shown on the user's display) or
	// X11None. Default X11Host.
	X11 string `toml:"x11"`
	// Audio is what the app may do with the user's sound server, through
	// a filter of its protocol: AudioPlayback, AudioFull (recording too) or
	// AudioNone. Default AudioPlayback.
	Audio Audio `toml:"audio"`
	// DBus lists the session-bus services the app may call through a
	// filtering proxy; see ValidDBusName. Nil or empty means no session
	// bus at all. Default ["org.freedesktop.Notifications"].
	DBus []string `toml:"dbus"`
	// Network is NetworkHost (share the host network) or NetworkNone
	// (private network namespace with only loopback). Default NetworkHost,
	// NetworkNone when X11 is X11Nested, which refuses NetworkHost.
	Network string `toml:"network"`
	// Home gives the app a persistent per-app home directory owned by the
	// user. Default true.
	Home bool `toml:"home"`
	// Desktop names the image's own desktop file and overrides what the
	// desktop entry takes from it.
	Desktop Desktop `toml:"desktop"`
	// Env is extra environment for the app; see ValidEnv. Nil when none.
	Env map[string]string `toml:"env"`
	// Instances is InstancesOne (a launch of an app the user runs already
	// starts the program in that machine: single-instance apps get their
	// "new window" request) or InstancesMany (a machine per launch).
	// Default InstancesOne.
	Instances string `toml:"instances"`
	// Own lists session-bus names the app may own (ValidOwnName), beside
	// those it owns by default: its desktop file id when that is a
	// reverse-DNS name, and with MPRIS org.mpris.MediaPlayer2.ID. Only
	// with a session bus (DBus not empty). Default none.
	Own []string `toml:"own"`
	// MPRIS lets the app own org.mpris.MediaPlayer2.ID, as media players
	// do for the desktop's media keys and controls. Default false.
	MPRIS bool `toml:"mpris"`
	// Share lists the user's XDG user directories the app gets, read-write,
	// at the same place in its home: ShareDirs' keys. Default none.
	Share []string `toml:"share"`
	// GPU binds the host's GPU device nodes (DRI render and card nodes,
	// NVIDIA's nodes when present) into the container and allows them in
	// the unit's device policy, with the user's membership of the nodes'
	// groups. Without it the app has no GPU and renders in software.
	// Default false.
	GPU bool `toml:"gpu"`
	// HostLook binds the host's fonts and fontconfig cache read-only and
	// passes the session's theme settings (GTK_THEME, XCURSOR_THEME, ...)
	// so the app looks like the desktop's other apps. Default true.
	HostLook bool `toml:"host_look"`
}

// ShareDirs are the XDG user directories share may name, with the
// user-dirs.dirs variable that locates each and its usual name.
var ShareDirs = map[string]struct{ Var, Default string }{
	"desktop":   {"XDG_DESKTOP_DIR", "Desktop"},
	"documents": {"XDG_DOCUMENTS_DIR", "Documents"},
	"downloads": {"XDG_DOWNLOAD_DIR", "Downloads"},
	"music":     {"XDG_MUSIC_DIR", "Music"},
	"pictures":  {"XDG_PICTURES_DIR", "Pictures"},
	"public":    {"XDG_PUBLICSHARE_DIR", "Public"},
	"templates": {"XDG_TEMPLATES_DIR", "Templates"},
	"videos":    {"XDG_VIDEOS_DIR", "Videos"},
}

// OwnedNames are the session-bus names the app may own: its desktop file
// id when that is a reverse-DNS name (the name single-instance apps take),
// org.mpris.MediaPlayer2.ID with MPRIS, and Own; each one ValidOwnName
// takes, once.
func (a App) OwnedNames() []string {
	var names []string
	if id := strings.TrimSuffix(a.Desktop.File, ".desktop"); strings.Count(id, ".") >= 2 && ValidOwnName(id) == nil {
		names = append(names, id)
	}
	if a.MPRIS {
		names = append(names, "org.mpris.MediaPlayer2."+a.ID)
	}
	for _, n := range a.Own {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// Values of App.X11 and App.Network.
const (
	X11Host = "host"
	// X11Nested: a nested X server (Xephyr) per instance, running as the
	// user outside the container, its socket the only display the app
	// gets. It needs NetworkNone: in the host's network namespace the
	// app would reach the user's real X server through its abstract
	// socket (@/tmp/.X11-unix/X0), which no bind can hide.
	X11Nested   = "nested"
	X11None     = "none"
	NetworkHost = "host"
	NetworkNone = "none"
	// Values of App.Instances.
	InstancesOne  = "one"
	InstancesMany = "many"
)

// Audio is the audio key: "playback", "full" or "none". The booleans of
// earlier versions still read: true is "playback", false "none".
type Audio string

// Values of App.Audio.
const (
	AudioPlayback Audio = "playback"
	AudioFull     Audio = "full"
	AudioNone     Audio = "none"
)

// UnmarshalTOML takes a string or a boolean.
func (a *Audio) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case bool:
		*a = AudioNone
		if v {
			*a = AudioPlayback
		}
	case string:
		*a = Audio(v)
	default:
		return fmt.Errorf("want \"playback\", \"full\" or \"none\"")
	}
	return nil
}

// defaultDBus returns the dbus names an app gets when its definition has no
// dbus key: a new slice each time, so no App shares it.
func defaultDBus() []string { return []string{"org.freedesktop.Notifications"} }

// Options control how strictly LoadDir treats the files it reads.
type Options struct {
	// RequireRootOwned refuses the directory and any file in it that is a
	// symlink, not a regular file/directory, not owned by root, or group- or
	// world-writable. The privileged side sets it so it never takes
	// configuration from anything a user could have written.
	RequireRootOwned bool
	// Owner stands in for root as the owner RequireRootOwned requires: 0
	// on every real system; tests that run as a user set their own uid.
	Owner uint32
}

// FileError is a problem with one definition file, at a line if known.
type FileError struct {
	File string
	Line int // 0 if the problem has no single line
	Err  error
}

func (e *FileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// Load reads and validates the app definition at path. Its ID is the file
// name without ".toml". All problems found are returned, joined.
func Load(path string) (App, error) {
	open := func() (*os.File, error) {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err != nil {
			return nil, err
		}
		return os.NewFile(uintptr(fd), path), nil
	}
	data, err := readFile(path, open, Options{})
	if err != nil {
		return App{}, err
	}
	return parse(path, data)
}

// LoadDir loads every *.toml file in dir, sorted by ID. A missing dir holds
// no apps. It returns the apps that are valid together with the errors of
// all that are not (joined), so a caller can report everything at once.
func LoadDir(dir string, opts Options) ([]App, error) {
	return loadDir(dir, opts, "")
}

// Problems splits an error of LoadDir into its problems, one per file (or
// per line), in order; nil for nil.
func Problems(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Problems(e)...)
		}
		return out
	}
	return []error{err}
}

// LoadApp loads the one definition dir/ID.toml with the same checks as
// LoadDir, without reading the others. A missing definition is an error
// satisfying errors.Is(err, fs.ErrNotExist).
func LoadApp(dir, id string, opts Options) (App, error) {
	if err := ValidID(id); err != nil {
		return App{}, err
	}
	apps, err := loadDir(dir, opts, id+".toml")
	if err != nil {
		return App{}, err
	}
	if len(apps) == 0 {
		return App{}, fmt.Errorf("app %q: %w", id, fs.ErrNotExist)
	}
	return apps[0], nil
}

func loadDir(dir string, opts Options, only string) ([]App, error) {
	flags := unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC
	if opts.RequireRootOwned {
		flags |= unix.O_NOFOLLOW
	}
	fd, err := unix.Open(dir, flags, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	if err != nil {
		switch err {
		case unix.ELOOP:
			return nil, &FileError{File: dir, Err: errors.New("is a symlink, refused")}
		case unix.ENOTDIR:
			// O_DIRECTORY wins over O_NOFOLLOW, so tell the two apart here.
			if fi, lerr := os.Lstat(dir); lerr == nil && fi.Mode()&os.ModeSymlink != 0 {
				return nil, &FileError{File: dir, Err: errors.New("is a symlink, refused")}
			}
			return nil, &FileError{File: dir, Err: errors.New("not a directory")}
		}
		return nil, fmt.Errorf("open app directory %s: %w", dir, err)
	}
	d := os.NewFile(uintptr(fd), dir)
	defer d.Close()
	if opts.RequireRootOwned {
		fi, err := d.Stat()
		if err == nil {
			err = checkRootOwned(fi, true, opts.Owner)
		}
		if err != nil {
			return nil, &FileError{File: dir, Err: err}
		}
	}
	var names []string
	if only != "" {
		names = []string{only}
	} else if names, err = d.Readdirnames(-1); err != nil {
		return nil, fmt.Errorf("read app directory %s: %w", dir, err)
	}
	slices.Sort(names)

	var apps []App
	var errs []error
	for _, name := range names {
		// Dot files are editor and package-manager leftovers (.#foo.toml,
		// .foo.toml.dpkg-new does not match anyway): not definitions.
		if !strings.HasSuffix(name, ".toml") || strings.HasPrefix(name, ".") {
			continue
		}
		path := filepath.Join(dir, name)
		// Opening relative to the directory we checked means a swapped
		// directory cannot redirect us.
		open := func() (*os.File, error) {
			flags := unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NONBLOCK
			if opts.RequireRootOwned {
				flags |= unix.O_NOFOLLOW
			}
			fd, err := unix.Openat(fd, name, flags, 0)
			if err != nil {
				return nil, err
			}
			return os.NewFile(uintptr(fd), path), nil
		}
		data, err := readFile(path, open, opts)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		app, err := parse(path, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		apps = append(apps, app)
	}
	// Sorting names sorts IDs, since every ID is name minus a common suffix.
	return apps, errors.Join(errs...)
}

func readFile(path string, open func() (*os.File, error), opts Options) ([]byte, error) {
	f, err := open()
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, &FileError{File: path, Err: errors.New("is a symlink, refused")}
		}
		return nil, &FileError{File: path, Err: fmt.Errorf("open: %w", err)}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, &FileError{File: path, Err: fmt.Errorf("stat: %w", err)}
	}
	if !fi.Mode().IsRegular() {
		return nil, &FileError{File: path, Err: errors.New("not a regular file")}
	}
	if opts.RequireRootOwned {
		if err := checkRootOwned(fi, false, opts.Owner); err != nil {
			return nil, &FileError{File: path, Err: err}
		}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, &FileError{File: path, Err: fmt.Errorf("read: %w", err)}
	}
	if len(data) > maxFileSize {
		return nil, &FileError{File: path, Err: fmt.Errorf("larger than %d bytes", maxFileSize)}
	}
	return data, nil
}

// checkRootOwned is given the result of an fstat of the open file, not of a
// path, so nothing can be swapped in between the check and the read.
func checkRootOwned(fi os.FileInfo, dir bool, owner uint32) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !ok:
		return errors.New("cannot tell the owner")
	case dir && !fi.IsDir():
		return errors.New("not a directory")
	case !dir && !fi.Mode().IsRegular():
		return errors.New("not a regular file")
	case st.Uid != owner && owner == 0:
		return fmt.Errorf("owned by uid %d, must be owned by root", st.Uid)
	case st.Uid != owner:
		return fmt.Errorf("owned by uid %d, must be owned by uid %d", st.Uid, owner)
	case fi.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("mode %04o is group- or world-writable", fi.Mode().Perm())
	}
	return nil
}

// parse decodes and validates one definition. Each top-level key is decoded
// on its own so a type error can name its key and line.
func parse(path string, data []byte) (App, error) {
	app := App{ID: strings.TrimSuffix(filepath.Base(path), ".toml"), File: path}
	fileErr := func(line int, err error) error { return &FileError{File: path, Line: line, Err: err} }

	var raw map[string]toml.Primitive
	md, err := toml.NewDecoder(strings.NewReader(string(data))).Decode(&raw)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return App{}, fileErr(pe.Position.Line, errors.New(pe.Message))
		}
		return App{}, fileErr(0, err)
	}
	lines := scanKeyLines(string(data))

	var errs []error
	if err := ValidID(app.ID); err != nil {
		errs = append(errs, fileErr(0, fmt.Errorf("file name: %w", err)))
	}

	fields := app.fields()
	unknown := map[string]bool{}
	failed := map[string]bool{}
	seen := map[string]bool{}
	// md.Keys gives document order; a dotted key like a.b = 1 appears only
	// as "a.b", so take the first element of each.
	for _, k := range md.Keys() {
		top := k[0]
		if seen[top] {
			continue
		}
		seen[top] = true
		line := lines.lineOf(toml.Key{top})
		ptr, ok := fields[top]
		if !ok {
			unknown[top] = true
			errs = append(errs, fileErr(line, fmt.Errorf("unknown key %s", quote(top))))
			continue
		}
		want := reflect.TypeOf(ptr).Elem()
		err := md.PrimitiveDecode(raw[top], ptr)
		if err == nil && want.Kind() == reflect.Map {
			// The decoder silently decodes a non-table into a map as
			// nothing, so check the kind of value here.
			var v any
			_ = md.PrimitiveDecode(raw[top], &v)
			if _, ok := v.(map[string]any); !ok {
				err = errors.New("not a table")
			}
		}
		if err != nil {
			failed[top] = true
			var v any
			_ = md.PrimitiveDecode(raw[top], &v)
			if m, ok := v.(map[string]any); ok && want.Kind() == reflect.Map && want.Elem().Kind() == reflect.String {
				// A table with values of the wrong type: name each bad
				// entry at its own line.
				n := len(errs)
				for _, name := range slices.Sorted(maps.Keys(m)) {
					if _, ok := m[name].(string); !ok {
						sub := toml.Key{top, name}
						errs = append(errs, fileErr(lines.lineOf(sub), fmt.Errorf("key %s must be a string, not %s",
							quote(sub.String()), describeValue(m[name]))))
					}
				}
				if len(errs) > n {
					continue
				}
			}
			errs = append(errs, fileErr(line, fmt.Errorf("key %s must be %s, not %s",
				quote(top), describeType(want), describeValue(v))))
		}
	}
	// Sub-keys of known tables that no field took. Keys whose value had
	// the wrong type were reported above and are not also unknown.
	for _, k := range md.Undecoded() {
		if len(k) > 1 && !unknown[k[0]] && !failed[k[0]] {
			errs = append(errs, fileErr(lines.lineOf(k), fmt.Errorf("unknown key %s", quote(k.String()))))
		}
	}
	if len(errs) > 0 {
		return App{}, errors.Join(errs...)
	}

	for _, c := range app.checks() {
		if !md.IsDefined(c.key) {
			if c.setDefault == nil {
				errs = append(errs, fileErr(0, fmt.Errorf("missing required key %q", c.key)))
				continue
			}
			c.setDefault()
		}
		for _, ke := range c.check() {
			errs = append(errs, fileErr(lines.lineOf(append(toml.Key{c.key}, ke.sub...)), ke.err))
		}
	}
	if len(errs) > 0 {
		return App{}, errors.Join(errs...)
	}
	// One representation for "none".
	if len(app.DBus) == 0 {
		app.DBus = nil
	}
	if len(app.Env) == 0 {
		app.Env = nil
	}
	return app, nil
}

// fields maps each TOML key to the field it decodes into.
func (a *App) fields() map[string]any {
	fields := map[string]any{}
	v := reflect.ValueOf(a).Elem()
	for i := range v.NumField() {
		tag := v.Type().Field(i).Tag.Get("toml")
		if tag == "" || tag == "-" {
			continue
		}
		fields[strings.Split(tag, ",")[0]] = v.Field(i).Addr().Interface()
	}
	return fields
}

type check struct {
	key string
	// setDefault gives the field its default when the key is absent; nil
	// for a required key.
	setDefault func()
	check      func() []keyError
}

// keyError is a problem with a key's value, or with one of its sub-keys
// (an env variable), so parse can point at the right line.
type keyError struct {
	sub toml.Key // nil: the key itself
	err error
}

func one(err error) []keyError {
	if err == nil {
		return nil
	}
	return []keyError{{err: err}}
}

// checks lists the keys, their defaults and their validators, in the order
// errors should be reported.
func (a *App) checks() []check {
	return []check{
		{"name", nil, func() []keyError { return one(ValidName(a.Name)) }},
		{"image", nil, func() []keyError { return one(ValidImage(a.Image)) }},
		{"exec", nil, func() []keyError { return one(ValidExec(a.Exec)) }},
		{"x11", func() { a.X11 = X11Host }, func() []keyError { return one(validEnum("x11", a.X11, X11Host, X11Nested, X11None)) }},
		{"audio", func() { a.Audio = AudioPlayback }, func() []keyError {
			return one(validEnum("audio", string(a.Audio), string(AudioPlayback), string(AudioFull), string(AudioNone)))
		}},
		{"dbus", func() { a.DBus = defaultDBus() }, func() []keyError { return one(validDBusNames(a.DBus)) }},
		// After x11, whose value (defaulted or not) is known here.
		{"network", func() {
			// A nested display is worth nothing with the host's
			// network (see X11Nested): it implies a private one.
			a.Network = NetworkHost
			if a.X11 == X11Nested {
				a.Network = NetworkNone
			}
		}, func() []keyError {
			if err := validEnum("network", a.Network, NetworkHost, NetworkNone); err != nil {
				return one(err)
			}
			// Said outright, the host's network is refused rather than
			// overridden: the definition must not read as something it
			// does not get.
			if a.X11 == X11Nested && a.Network == NetworkHost {
				return one(fmt.Errorf("%w: network = \"host\" with x11 = \"nested\": the host's network reaches your X server through its abstract socket, "+
					"around the nested one; use network = \"none\" (the default with x11 = \"nested\")", ErrConflict))
			}
			return nil
		}},
		{"home", func() { a.Home = true }, func() []keyError { return nil }},
		{"env", func() { a.Env = nil }, func() []keyError { return validEnvMap(a.Env) }},
		{"desktop", func() {}, func() []keyError { return one(a.Desktop.validate()) }},
		{"instances", func() { a.Instances = InstancesOne }, func() []keyError {
			return one(validEnum("instances", a.Instances, InstancesOne, InstancesMany))
		}},
		{"own", func() { a.Own = nil }, func() []keyError { return one(validOwnNames(a.Own)) }},
		{"mpris", func() { a.MPRIS = false }, func() []keyError { return nil }},
		{"share", func() { a.Share = nil }, func() []keyError { return one(validShare(a.Share)) }},
		{"gpu", func() { a.GPU = false }, func() []keyError { return nil }},
		{"host_look", func() { a.HostLook = true }, func() []keyError { return nil }},
	}
}

// Validate checks an App built or changed in code, with the same rules Load
// applies. An App built in code has no defaults applied: X11 and Network
// must be set explicitly.
func (a App) Validate() error {
	// Added after the first release: code that builds Apps need not know
	// it.
	if a.Instances == "" {
		a.Instances = InstancesOne
	}
	var errs []error
	if err := ValidID(a.ID); err != nil {
		errs = append(errs, err)
	}
	for _, c := range a.checks() {
		for _, ke := range c.check() {
			// The error itself names a sub-key if it is about one.
			errs = append(errs, fmt.Errorf("%s: %w", c.key, ke.err))
		}
	}
	return errors.Join(errs...)
}

func describeType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.String {
			return "an array of strings"
		}
		return "an array"
	case reflect.Map:
		if t.Elem().Kind() == reflect.String {
			return "a table of strings"
		}
		return "a table"
	case reflect.Struct:
		return "a table"
	}
	return t.String()
}

func describeValue(v any) string {
	switch v := v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case time.Time:
		return "a date/time"
	case map[string]any:
		return "a table"
	case []map[string]any:
		return "an array of tables"
	case []any:
		for _, e := range v {
			if d := describeValue(e); d != "a string" {
				return "an array containing " + d
			}
		}
		return "an array"
	}
	return fmt.Sprintf("%T", v)
}

// Invalid is the one message for a definition that cannot be used: the
// same from apps, sync, the tray and launch.
func Invalid(id string, err error) string {
	return fmt.Sprintf("app %q has an invalid definition: %s", id, strings.ReplaceAll(err.Error(), "\n", "; "))
}

// FileID is the app id a definition file (a FileError's File) stands for:
// its name less ".toml".
func FileID(file string) string { return strings.TrimSuffix(filepath.Base(file), ".toml") }

// InvalidApp is one definition LoadDir refused, with its one message.
type InvalidApp struct {
	ID      string // the file's name less ".toml"
	Message string // config.Invalid's, every problem of the file in it
}

// InvalidApps groups LoadDir's error by definition file, in file order. A
// problem that is no one file's (the directory's) is returned as other.
func InvalidApps(err error) (apps []InvalidApp, other error) {
	byID := map[string][]string{}
	var order []string
	var others []error
	for _, p := range Problems(err) {
		var fe *FileError
		if !errors.As(p, &fe) || filepath.Ext(fe.File) != ".toml" {
			others = append(others, p)
			continue
		}
		id := FileID(fe.File)
		if _, ok := byID[id]; !ok {
			order = append(order, id)
		}
		byID[id] = append(byID[id], p.Error())
	}
	for _, id := range order {
		apps = append(apps, InvalidApp{ID: id, Message: Invalid(id, errors.New(strings.Join(byID[id], "\n")))})
	}
	return apps, errors.Join(others...)
}

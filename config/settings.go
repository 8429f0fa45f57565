package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"golang.org/x/sys/unix"
)

// Settings are the daemon's own settings, the limits it puts on every
// instance. They live in one root-owned TOML file (paths.Settings); every
// key is optional.
type Settings struct {
	// MaxInstancesPerUser caps the instances one user may have running.
	// Default 16.
	MaxInstancesPerUser int `toml:"max_instances_per_user"`
	// TasksMax caps the processes and threads of one instance (the unit's
	// TasksMax). Default 4096.
	TasksMax uint64 `toml:"tasks_max"`
	// MemoryMax caps the memory of one instance (the unit's MemoryMax): a
	// percentage of the host's RAM ("75%") or a size ("4G"). Default "75%".
	MemoryMax string `toml:"memory_max"`
	// ScratchSize caps the instance's size-limited tmpfs that holds its
	// runtime dir and, with home = false, its home. Default "512M".
	ScratchSize string `toml:"scratch_size"`
}

// DefaultSettings are the settings when the file or a key is absent.
func DefaultSettings() Settings {
	return Settings{MaxInstancesPerUser: 16, TasksMax: 4096, MemoryMax: "75%", ScratchSize: "512M"}
}

// LoadSettings reads the settings file at path: it must be a root-owned
// regular file not writable by group or others (opened without following a
// symlink). A missing file means the defaults. Problems name the file and
// line.
func LoadSettings(path string) (Settings, error) {
	s := DefaultSettings()
	open := func() (*os.File, error) {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOFOLLOW, 0)
		if err != nil {
			return nil, err
		}
		return os.NewFile(uintptr(fd), path), nil
	}
	data, err := readFile(path, open, Options{RequireRootOwned: true})
	var fe *FileError
	if errors.As(err, &fe) && errors.Is(fe.Err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return Settings{}, err
	}
	fileErr := func(line int, err error) error { return &FileError{File: path, Line: line, Err: err} }
	var raw map[string]toml.Primitive
	md, err := toml.NewDecoder(strings.NewReader(string(data))).Decode(&raw)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return Settings{}, fileErr(pe.Position.Line, errors.New(pe.Message))
		}
		return Settings{}, fileErr(0, err)
	}
	lines := scanKeyLines(string(data))
	fields := map[string]any{"max_instances_per_user": &s.MaxInstancesPerUser, "tasks_max": &s.TasksMax,
		"memory_max": &s.MemoryMax, "scratch_size": &s.ScratchSize}
	var errs []error
	for _, k := range md.Keys() {
		if len(k) != 1 {
			continue // a table's keys: the table itself is reported
		}
		ptr, ok := fields[k[0]]
		if !ok {
			errs = append(errs, fileErr(lines.lineOf(k), fmt.Errorf("unknown key %s", quote(k[0]))))
			continue
		}
		if err := md.PrimitiveDecode(raw[k[0]], ptr); err != nil {
			var v any
			_ = md.PrimitiveDecode(raw[k[0]], &v)
			errs = append(errs, fileErr(lines.lineOf(k), fmt.Errorf("key %s must be %s, not %s",
				quote(k[0]), describeType(reflect.TypeOf(ptr).Elem()), describeValue(v))))
		}
	}
	if len(errs) > 0 {
		return Settings{}, errors.Join(errs...)
	}
	for _, c := range []struct {
		key string
		err error
	}{
		{"max_instances_per_user", inRange(int64(s.MaxInstancesPerUser), 1, 1024)},
		{"tasks_max", inRange(int64(s.TasksMax), 16, 1<<22)},
		{"memory_max", checkSize(s.MemoryMax, true)},
		{"scratch_size", checkSize(s.ScratchSize, false)},
	} {
		if c.err != nil {
			errs = append(errs, fileErr(lines.lineOf(toml.Key{c.key}), fmt.Errorf("%s: %w", c.key, c.err)))
		}
	}
	if len(errs) > 0 {
		return Settings{}, errors.Join(errs...)
	}
	return s, nil
}

func inRange(n, lo, hi int64) error {
	if n < lo || n > hi {
		return fmt.Errorf("%w: %d is not in %d..%d", ErrInvalidValue, n, lo, hi)
	}
	return nil
}

func checkSize(s string, percentOK bool) error {
	_, pct, err := ParseSize(s)
	if err == nil && pct > 0 && !percentOK {
		err = fmt.Errorf("%w: %q: a size, not a percentage", ErrInvalidValue, s)
	}
	return err
}

// ParseSize reads a size: a number of bytes with an optional K, M, G or T
// suffix (powers of 1024), at least 1M, or, when it ends in "%", a
// percentage of 1 to 100 (then bytes is 0).
func ParseSize(s string) (bytes uint64, percent int, err error) {
	if p, ok := strings.CutSuffix(s, "%"); ok {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 100 {
			return 0, 0, fmt.Errorf("%w: %q: want a percentage of 1 to 100", ErrInvalidValue, s)
		}
		return 0, n, nil
	}
	mult := uint64(1)
	num := s
	if len(s) > 0 {
		switch s[len(s)-1] {
		case 'K', 'k':
			mult = 1 << 10
		case 'M', 'm':
			mult = 1 << 20
		case 'G', 'g':
			mult = 1 << 30
		case 'T', 't':
			mult = 1 << 40
		}
		if mult > 1 {
			num = s[:len(s)-1]
		}
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || n == 0 || n > (1<<62)/mult || n*mult < 1<<20 {
		return 0, 0, fmt.Errorf("%w: %q: want a size of at least 1M like 512M or 4G, or a percentage like 75%%", ErrInvalidValue, s)
	}
	return n * mult, 0, nil
}

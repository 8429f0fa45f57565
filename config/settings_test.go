package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadSettings(t *testing.T) {
	dir := t.TempDir()
	write := func(content string, mode os.FileMode) string {
		t.Helper()
		p := filepath.Join(dir, "daemon.toml")
		os.Remove(p)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		return p
	}
	if s, err := LoadSettings(filepath.Join(dir, "missing.toml")); err != nil || s != DefaultSettings() {
		t.Errorf("missing file: %+v, %v; want the defaults", s, err)
	}
	s, err := LoadSettings(write("max_instances_per_user = 3\ntasks_max = 512\nmemory_max = \"2G\"\nscratch_size = \"64M\"\n", 0o644))
	if err != nil || s != (Settings{MaxInstancesPerUser: 3, TasksMax: 512, MemoryMax: "2G", ScratchSize: "64M"}) {
		t.Errorf("all keys: %+v, %v", s, err)
	}
	if s, err := LoadSettings(write("tasks_max = 100\n", 0o644)); err != nil || s.MaxInstancesPerUser != 16 || s.TasksMax != 100 {
		t.Errorf("one key: %+v, %v; want the others' defaults", s, err)
	}
	for _, tc := range []struct{ content, want string }{
		{"max_instance_per_user = 3\n", `:1: unknown key "max_instance_per_user"`},
		{"\n\nmax_instances_per_user = 0\n", ":3: max_instances_per_user: invalid value: 0 is not in 1..1024"},
		{"tasks_max = 1\n", ":1: tasks_max: invalid value: 1 is not in 16..4194304"},
		{"memory_max = \"lots\"\n", `:1: memory_max: invalid value: "lots"`},
		{"memory_max = \"0%\"\n", `:1: memory_max: invalid value: "0%"`},
		{"scratch_size = \"50%\"\n", `:1: scratch_size: invalid value: "50%": a size, not a percentage`},
		{"scratch_size = \"10K\"\n", `:1: scratch_size: invalid value: "10K"`},
		{"tasks_max = \"many\"\n", ":1: "},
		{"this is not toml\n", ":1: "},
	} {
		_, err := LoadSettings(write(tc.content, 0o644))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "daemon.toml") {
			t.Errorf("%q: %v, want an error naming the file and %q", tc.content, err, tc.want)
		}
	}
	if os.Geteuid() == 0 {
		p := write("tasks_max = 100\n", 0o666)
		if _, err := LoadSettings(p); err == nil || !strings.Contains(err.Error(), "group- or world-writable") {
			t.Errorf("a world-writable file: %v", err)
		}
		os.Chown(p, 1000, 1000)
		os.Chmod(p, 0o644)
		if _, err := LoadSettings(p); err == nil || !strings.Contains(err.Error(), "must be owned by root") {
			t.Errorf("a user's file: %v", err)
		}
	}
	real := write("tasks_max = 100\n", 0o644)
	link := filepath.Join(dir, "link.toml")
	os.Symlink(real, link)
	if _, err := LoadSettings(link); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Errorf("a symlink: %v", err)
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in    string
		bytes uint64
		pct   int
		ok    bool
	}{
		{"1M", 1 << 20, 0, true}, {"512m", 512 << 20, 0, true}, {"4G", 4 << 30, 0, true}, {"1T", 1 << 40, 0, true},
		{"2097152", 2 << 20, 0, true}, {"2048K", 2 << 20, 0, true},
		{"75%", 0, 75, true}, {"100%", 0, 100, true},
		{"1K", 0, 0, false}, {"0", 0, 0, false}, {"", 0, 0, false}, {"G", 0, 0, false}, {"-1M", 0, 0, false},
		{"101%", 0, 0, false}, {"0%", 0, 0, false}, {"1.5G", 0, 0, false}, {"99999999999T", 0, 0, false},
	} {
		b, p, err := ParseSize(tc.in)
		if (err == nil) != tc.ok || b != tc.bytes || p != tc.pct {
			t.Errorf("ParseSize(%q) = %d, %d, %v", tc.in, b, p, err)
		}
		if err != nil && !errors.Is(err, ErrInvalidValue) {
			t.Errorf("ParseSize(%q): %v is not ErrInvalidValue", tc.in, err)
		}
	}
}

package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestDesktopTable(t *testing.T) {
	head := "name = \"X\"\nimage = \"x\"\nexec = [\"/usr/bin/x\"]\n"
	dir := t.TempDir()
	good := head + "[desktop]\nfile = \"debian-xterm.desktop\"\nname = \"Terminal\"\ncategories = [\"System\", \"TerminalEmulator\"]\nmime_type = [\"text/plain\"]\nstartup_wm_class = \"XTerm\"\n"
	write(t, dir, "good.toml", good)
	app, err := Load(filepath.Join(dir, "good.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if app.Desktop.File != "debian-xterm.desktop" || app.Desktop.Name != "Terminal" || len(app.Desktop.Categories) != 2 ||
		app.Desktop.StartupWMClass != "XTerm" || app.Desktop.MimeType[0] != "text/plain" {
		t.Errorf("desktop = %+v", app.Desktop)
	}
	for name, tc := range map[string]struct{ body, want string }{
		"traversal":     {"[desktop]\nfile = \"../../etc/x.desktop\"\n", `bad.toml:4: invalid value: desktop.file "../../etc/x.desktop"`},
		"not desktop":   {"[desktop]\nfile = \"x.sh\"\n", `desktop.file "x.sh"`},
		"unknown":       {"[desktop]\nnmae = \"x\"\n", `bad.toml:5: unknown key "desktop.nmae"`},
		"wrong type":    {"[desktop]\ncategories = \"System\"\n", `desktop`},
		"category":      {"[desktop]\ncategories = [\"A;B\"]\n", `"A;B" is not a category name`},
		"long category": {"[desktop]\ncategories = [\"" + strings.Repeat("A", 65) + "\"]\n", `is not a category name`},
		"mime":          {"[desktop]\nmime_type = [\"../x\"]\n", `"../x" is not a MIME type`},
		"name control":  {"[desktop]\nname = \"a\\nExec=evil\"\n", `desktop.name`},
	} {
		t.Run(name, func(t *testing.T) {
			write(t, dir, "bad.toml", head+tc.body)
			_, err := Load(filepath.Join(dir, "bad.toml"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	write(t, dir, "bad.toml", head+"[desktop]\nfile = \"a/b.desktop\"\n")
	if _, err := Load(filepath.Join(dir, "bad.toml")); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("errors.Is(%v, ErrInvalidValue) = false", err)
	}
}

// A category of 64 characters is still one.
func TestCategoryOf64(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "ok.toml", "name = \"x\"\nimage = \"debian\"\nexec = [\"/usr/bin/x\"]\n[desktop]\ncategories = [\""+strings.Repeat("A", 64)+"\"]\n")
	if _, err := Load(filepath.Join(dir, "ok.toml")); err != nil {
		t.Error(err)
	}
}

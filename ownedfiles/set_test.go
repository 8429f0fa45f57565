package ownedfiles

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// manifestLines is the manifest at path as "sha256 rel" lines, in order.
func manifestLines(t *testing.T, path string) []string {
	t.Helper()
	return strings.Split(strings.TrimSuffix(readFile(t, path), "\n"), "\n")
}

// Set touches the one name it is given: unlike Reconcile, our other files
// that are not mentioned stay.
func TestSet(t *testing.T) {
	dir := t.TempDir()
	a, b := rendered("a", "A"), rendered("b", "B")
	if _, err := Reconcile(dir, entries, map[string][]byte{"a.desktop": a, "b.desktop": b}); err != nil {
		t.Fatal(err)
	}
	user := "[Desktop Entry]\nType=Application\nName=Mine\nExec=mine\n"
	writeFile(t, filepath.Join(dir, "user.desktop"), user)
	c := rendered("c", "C")

	for _, step := range []struct {
		desc  string
		name  string
		data  []byte
		want  Result
		files map[string]string // expected content after the step; "" = absent
	}{
		{"write a new name", "c.desktop", c, Result{Written: []string{"c.desktop"}},
			map[string]string{"a.desktop": string(a), "b.desktop": string(b), "c.desktop": string(c)}},
		{"same content again", "c.desktop", c, Result{},
			map[string]string{"c.desktop": string(c)}},
		{"remove ours", "a.desktop", nil, Result{Removed: []string{"a.desktop"}},
			map[string]string{"a.desktop": "", "b.desktop": string(b), "c.desktop": string(c)}},
		{"remove what is not there", "a.desktop", nil, Result{},
			map[string]string{"a.desktop": "", "b.desktop": string(b)}},
		{"remove a foreign file", "user.desktop", nil, Result{},
			map[string]string{"user.desktop": user}},
		{"write over a foreign file", "user.desktop", rendered("user", "U"), Result{Skipped: []string{"user.desktop"}},
			map[string]string{"user.desktop": user, "b.desktop": string(b)}},
	} {
		res, err := Set(dir, entries, step.name, step.data)
		if err != nil {
			t.Fatalf("%s: %v", step.desc, err)
		}
		if !reflect.DeepEqual(res, step.want) {
			t.Errorf("%s: Set = %+v, want %+v", step.desc, res, step.want)
		}
		for n, want := range step.files {
			got, err := os.ReadFile(filepath.Join(dir, n))
			switch {
			case want == "" && !os.IsNotExist(err):
				t.Errorf("%s: %s still there (%v)", step.desc, n, err)
			case want != "" && string(got) != want:
				t.Errorf("%s: %s = %q, %v; want %q", step.desc, n, got, err, want)
			}
		}
	}
}

func TestSetErrors(t *testing.T) {
	notDir := filepath.Join(t.TempDir(), "file")
	writeFile(t, notDir, "x")
	dir := t.TempDir()
	for _, tc := range []struct {
		desc, base, name string
	}{
		{"name outside base", dir, "../x.desktop"},
		{"name in a subdirectory", dir, "a/x.desktop"},
		{"wrong suffix", dir, "x.txt"},
		{"base is a file", notDir, "x.desktop"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if res, err := Set(tc.base, entries, tc.name, rendered("x", "X")); err == nil {
				t.Errorf("Set(%q, %q) = %+v, want an error", tc.base, tc.name, res)
			}
		})
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("refused names wrote %d files", len(ents))
	}
	if readFile(t, notDir) != "x" {
		t.Error("the file in place of base was changed")
	}
}

// The manifest records every icon ever written; a Set of one icon must
// keep the others' records, or a later reconcile would no longer know
// they are ours.
func TestSetManifestKeepsOtherEntries(t *testing.T) {
	base := t.TempDir()
	list := filepath.Join(t.TempDir(), "icons.list")
	a, b, c := "hicolor/48x48/apps/a.png", "hicolor/48x48/apps/b.png", "hicolor/scalable/apps/c.svg"
	if _, err := Reconcile(base, Manifest(list), map[string][]byte{a: []byte("A"), b: []byte("B")}); err != nil {
		t.Fatal(err)
	}

	res, err := Set(base, Manifest(list), c, []byte("C"))
	if err != nil || !reflect.DeepEqual(res, Result{Written: []string{c}}) {
		t.Fatalf("Set(c) = %+v, %v", res, err)
	}
	want := []string{digest([]byte("A")) + " " + a, digest([]byte("B")) + " " + b, digest([]byte("C")) + " " + c}
	if got := manifestLines(t, list); !reflect.DeepEqual(got, want) {
		t.Errorf("manifest after Set(c) =\n%q\nwant\n%q", got, want)
	}

	res, err = Set(base, Manifest(list), a, nil)
	if err != nil || !reflect.DeepEqual(res, Result{Removed: []string{a}}) {
		t.Fatalf("Set(a, nil) = %+v, %v", res, err)
	}
	want = want[1:]
	if got := manifestLines(t, list); !reflect.DeepEqual(got, want) {
		t.Errorf("manifest after removing a =\n%q\nwant\n%q", got, want)
	}
	for rel, content := range map[string]string{b: "B", c: "C"} {
		if got := readFile(t, filepath.Join(base, rel)); got != content {
			t.Errorf("%s = %q, want %q", rel, got, content)
		}
	}

	// An unlisted file is not ours: Set leaves it and the manifest alone.
	foreign := "hicolor/48x48/apps/user.png"
	writeFile(t, filepath.Join(base, foreign), "user's")
	if res, err := Set(base, Manifest(list), foreign, nil); err != nil || res.Changed() {
		t.Errorf("Set(foreign, nil) = %+v, %v", res, err)
	}
	if got := readFile(t, filepath.Join(base, foreign)); got != "user's" {
		t.Errorf("foreign file = %q", got)
	}
	if got := manifestLines(t, list); !reflect.DeepEqual(got, want) {
		t.Errorf("manifest after a foreign Set =\n%q\nwant\n%q", got, want)
	}
}

// One file that cannot be written must not cost the others theirs, and
// every failure is reported.
func TestReconcileContinuesPastFailingFiles(t *testing.T) {
	base := t.TempDir()
	list := filepath.Join(t.TempDir(), "icons.list")
	// Regular files where the wanted paths need directories.
	writeFile(t, filepath.Join(base, "blocked"), "a file")
	writeFile(t, filepath.Join(base, "also"), "another file")
	want := map[string][]byte{
		"also/x.png":    []byte("X"),
		"blocked/y.png": []byte("Y"),
		"ok/z.png":      []byte("Z"),
		"top.png":       []byte("T"),
	}

	res, err := Reconcile(base, Manifest(list), want)
	if err == nil {
		t.Fatal("Reconcile succeeded with two unwritable paths")
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok || len(joined.Unwrap()) != 2 {
		t.Fatalf("err = %v, want two joined errors", err)
	}
	for _, p := range []string{filepath.Join(base, "also"), filepath.Join(base, "blocked")} {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("err %q does not name %s", err, p)
		}
	}
	if !reflect.DeepEqual(res, Result{Written: []string{"ok/z.png", "top.png"}}) {
		t.Errorf("Reconcile = %+v, want the two writable files written", res)
	}
	for rel, data := range map[string]string{"ok/z.png": "Z", "top.png": "T", "blocked": "a file", "also": "another file"} {
		if got := readFile(t, filepath.Join(base, rel)); got != data {
			t.Errorf("%s = %q, want %q", rel, got, data)
		}
	}
	// Only what was written is recorded as ours.
	wantList := []string{digest([]byte("Z")) + " ok/z.png", digest([]byte("T")) + " top.png"}
	if got := manifestLines(t, list); !reflect.DeepEqual(got, wantList) {
		t.Errorf("manifest =\n%q\nwant\n%q", got, wantList)
	}
}

// When it cannot tell which files are ours, Reconcile must touch nothing.
func TestReconcileCannotListOwnedFiles(t *testing.T) {
	t.Run("manifest unreadable", func(t *testing.T) {
		base := filepath.Join(t.TempDir(), "icons")
		list := t.TempDir() // a directory where the manifest should be
		if res, err := Reconcile(base, Manifest(list), map[string][]byte{"a.png": []byte("A")}); err == nil || res.Changed() {
			t.Errorf("Reconcile = %+v, %v; want an error and no change", res, err)
		}
		if _, err := os.Lstat(base); !os.IsNotExist(err) {
			t.Errorf("base created anyway: %v", err)
		}
	})
	t.Run("base is a file", func(t *testing.T) {
		base := filepath.Join(t.TempDir(), "applications")
		writeFile(t, base, "x")
		if res, err := Reconcile(base, entries, map[string][]byte{"a.desktop": rendered("a", "A")}); err == nil || res.Changed() {
			t.Errorf("Reconcile = %+v, %v; want an error and no change", res, err)
		}
		if readFile(t, base) != "x" {
			t.Error("the file in place of base was changed")
		}
	})
}

package importd_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/importd"
	"github.com/nspawn-tray/nspawn-tray/internal/bustest"
	"github.com/nspawn-tray/nspawn-tray/machinename"
)

// setup starts a bus with the fake importd on a connection of its own and
// returns it with a Manager on another.
func setup(t *testing.T, opts bustest.ImportdOptions) (*bustest.Bus, *bustest.Importd, *importd.Manager, *dbus.Conn) {
	t.Helper()
	b := bustest.New(t)
	fake := bustest.NewImportd(t, b.Conn(t), opts)
	conn := b.Conn(t)
	return b, fake, importd.New(conn), conn
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// generations are the importds a client meets: Debian 12's (no Ex
// methods) and Debian 13's (Ex methods), each telling what it has by
// introspection or not.
var generations = []struct {
	name string
	opts bustest.ImportdOptions
	ex   bool
}{
	{"252", bustest.ImportdOptions{}, false},
	{"252, no introspection", bustest.ImportdOptions{NoIntrospect: true}, false},
	{"257", bustest.ImportdOptions{Ex: true}, true},
	{"257, no introspection", bustest.ImportdOptions{Ex: true, NoIntrospect: true}, true},
}

func tempFile(t *testing.T, data []byte) *os.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "in")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestImportCallsWhatImportdHas(t *testing.T) {
	for _, g := range generations {
		for _, kind := range []string{"Tar", "Raw"} {
			for _, ro := range []bool{false, true} {
				t.Run(g.name+"/"+kind+"/ro="+map[bool]string{false: "no", true: "yes"}[ro], func(t *testing.T) {
					_, fake, m, _ := setup(t, g.opts)
					w, err := m.Watch(ctx(t))
					if err != nil {
						t.Fatal(err)
					}
					defer w.Close()
					data := []byte("a tarball, or a disk image")
					f := tempFile(t, data)
					start := m.ImportTar
					if kind == "Raw" {
						start = m.ImportRaw
					}
					tr, err := start(ctx(t), int(f.Fd()), "debian", ro)
					if err != nil {
						t.Fatal(err)
					}
					if tr.ID == 0 || tr.Path != bustest.TransferPath(tr.ID) {
						t.Errorf("transfer = %+v", tr)
					}
					res, err := w.Wait(ctx(t), tr, nil)
					if err != nil || res != importd.ResultDone {
						t.Fatalf("Wait = %q, %v; want done", res, err)
					}
					want := bustest.ImportdCall{Method: "Import" + kind, Local: "debian", ReadOnly: ro, Interactive: true, FDKind: "file"}
					if g.ex {
						want = bustest.ImportdCall{Method: "Import" + kind + "Ex", Local: "debian", Class: "machine", Interactive: true, FDKind: "file"}
						if ro {
							want.Flags = 2 // IMPORT_READ_ONLY; never IMPORT_FORCE
						}
					}
					if calls := fake.Calls(); !slices.Equal(calls, []bustest.ImportdCall{want}) {
						t.Errorf("calls =\n%+v\nwant\n%+v", calls, []bustest.ImportdCall{want})
					}
					if got := fake.Received("debian"); !bytes.Equal(got, data) {
						t.Errorf("importd read %q, want %q", got, data)
					}
				})
			}
		}
	}
}

// The method is found out once per Manager: an importd without
// introspection is tried once with the Ex method.
func TestFallbackIsRemembered(t *testing.T) {
	_, fake, m, _ := setup(t, bustest.ImportdOptions{NoIntrospect: true})
	for range 2 {
		if _, err := m.PullTar(ctx(t), "http://127.0.0.1/a.tar", "a", importd.VerifyNo); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.PullRaw(ctx(t), "http://127.0.0.1/a.raw", "b", importd.VerifyNo); err != nil {
		t.Fatal(err)
	}
	var methods []string
	for _, c := range fake.Calls() {
		methods = append(methods, c.Method)
	}
	// The fake records only the methods it has: PullTarEx was refused by
	// the bus as unknown, once for Tar, once for Raw.
	if want := []string{"PullTar", "PullTar", "PullRaw"}; !slices.Equal(methods, want) {
		t.Errorf("calls = %v, want %v", methods, want)
	}
}

func TestImportFromPipe(t *testing.T) {
	_, fake, m, _ := setup(t, bustest.ImportdOptions{Ex: true})
	w, err := m.Watch(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	tr, err := m.ImportTar(ctx(t), int(r.Fd()), "piped", false)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	wr.Write([]byte("streamed"))
	wr.Close()
	if res, err := w.Wait(ctx(t), tr, nil); err != nil || res != importd.ResultDone {
		t.Fatalf("Wait = %q, %v", res, err)
	}
	if got := string(fake.Received("piped")); got != "streamed" {
		t.Errorf("importd read %q", got)
	}
	if c := fake.Calls(); len(c) != 1 || c[0].FDKind != "fifo" {
		t.Errorf("calls = %+v, want one with a pipe", c)
	}
}

func TestPullCallsWhatImportdHas(t *testing.T) {
	for _, g := range generations {
		for _, v := range []importd.Verify{importd.VerifyChecksum, importd.VerifySignature, importd.VerifyNo} {
			t.Run(g.name+"/"+string(v), func(t *testing.T) {
				_, fake, m, _ := setup(t, g.opts)
				tr, err := m.PullRaw(ctx(t), "https://images.invalid/debian.raw.xz", "debian", v)
				if err != nil || tr.ID == 0 {
					t.Fatalf("PullRaw = %+v, %v", tr, err)
				}
				want := bustest.ImportdCall{Method: "PullRaw", URL: "https://images.invalid/debian.raw.xz", Local: "debian", Verify: string(v), Interactive: true}
				if g.ex {
					want.Method, want.Class = "PullRawEx", "machine"
				}
				if calls := fake.Calls(); !slices.Equal(calls, []bustest.ImportdCall{want}) {
					t.Errorf("calls =\n%+v\nwant\n%+v", calls, []bustest.ImportdCall{want})
				}
			})
		}
	}
}

// Nothing reaches importd with a name systemd would refuse or a verify
// mode it does not know.
func TestArgumentsCheckedBeforeCalling(t *testing.T) {
	_, fake, m, _ := setup(t, bustest.ImportdOptions{Ex: true})
	f := tempFile(t, []byte("x"))
	for _, name := range []string{"", "../etc", "a/b", ".hidden", "-rf", strings.Repeat("x", 65)} {
		if _, err := m.ImportTar(ctx(t), int(f.Fd()), name, false); !errors.Is(err, machinename.ErrInvalid) {
			t.Errorf("ImportTar(%q) err = %v, want ErrInvalid", name, err)
		}
		if _, err := m.PullTar(ctx(t), "http://x/y.tar", name, importd.VerifyNo); !errors.Is(err, machinename.ErrInvalid) {
			t.Errorf("PullTar(%q) err = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := m.PullTar(ctx(t), "http://x/y.tar", "ok", "gpg"); err == nil || !strings.Contains(err.Error(), `unknown verify mode "gpg"`) {
		t.Errorf("PullTar with verify gpg: %v", err)
	}
	if c := fake.Calls(); len(c) != 0 {
		t.Errorf("importd was called: %+v", c)
	}
}

func TestParseVerify(t *testing.T) {
	for in, ok := range map[string]bool{"checksum": true, "signature": true, "no": true, "": false, "yes": false, "Checksum": false} {
		v, err := importd.ParseVerify(in)
		if (err == nil) != ok || (ok && string(v) != in) {
			t.Errorf("ParseVerify(%q) = %q, %v", in, v, err)
		}
	}
}

func TestRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		is   error
	}{
		{"org.freedesktop.DBus.Error.AccessDenied", importd.ErrNotAuthorized},
		{"org.freedesktop.DBus.Error.InteractiveAuthorizationRequired", importd.ErrNotAuthorized},
		{"org.freedesktop.import1.TransferInProgress", importd.ErrInProgress},
		{"org.freedesktop.DBus.Error.Failed", nil},
	} {
		for _, g := range generations {
			t.Run(tc.name+"/"+g.name, func(t *testing.T) {
				_, fake, m, _ := setup(t, g.opts)
				fake.Deny(dbus.NewError(tc.name, []any{"refused"}))
				_, err := m.PullTar(ctx(t), "http://x/y.tar", "y", importd.VerifyChecksum)
				if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) {
					t.Fatalf("err = %v, want %v", err, tc.is)
				}
				if !strings.HasPrefix(err.Error(), `importd: pull http://x/y.tar as "y": `) {
					t.Errorf("err %q does not name the operation", err)
				}
				// The Ex method's refusal is not taken for its absence.
				if n := len(fake.Calls()); n != 1 {
					t.Errorf("%d calls, want 1", n)
				}
			})
		}
	}
}

func TestWithoutImportd(t *testing.T) {
	b := bustest.New(t)
	m := importd.New(b.Conn(t))
	if _, err := m.PullTar(ctx(t), "http://x/y.tar", "y", importd.VerifyNo); !errors.Is(err, importd.ErrUnavailable) {
		t.Errorf("PullTar without importd: %v, want ErrUnavailable", err)
	}
}

func TestListTransfersAndProgress(t *testing.T) {
	for _, g := range generations {
		t.Run(g.name, func(t *testing.T) {
			_, fake, m, _ := setup(t, g.opts)
			fake.Hold()
			a, err := m.PullTar(ctx(t), "http://x/a.tar", "a", importd.VerifyNo)
			if err != nil {
				t.Fatal(err)
			}
			b, err := m.PullRaw(ctx(t), "http://x/b.raw", "b", importd.VerifyNo)
			if err != nil {
				t.Fatal(err)
			}
			fake.SetProgress(b.ID, 0.25)
			got, err := m.ListTransfers(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			want := []importd.TransferInfo{
				{ID: a.ID, Type: "pull-tar", Remote: "http://x/a.tar", Local: "a", Class: "machine", Progress: -1, Path: a.Path},
				{ID: b.ID, Type: "pull-raw", Remote: "http://x/b.raw", Local: "b", Class: "machine", Progress: 0.25, Path: b.Path},
			}
			if !slices.Equal(got, want) {
				t.Errorf("ListTransfers =\n%+v\nwant\n%+v", got, want)
			}
			for tr, want := range map[importd.Transfer]float64{a: -1, b: 0.25} {
				if p, err := m.Progress(ctx(t), tr.Path); err != nil || p != want {
					t.Errorf("Progress(%s) = %v, %v; want %v", tr.Path, p, err, want)
				}
			}
			fake.Release("done")
		})
	}
}

func TestCancelTransfer(t *testing.T) {
	_, fake, m, _ := setup(t, bustest.ImportdOptions{})
	fake.Hold()
	w, err := m.Watch(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	tr, err := m.PullTar(ctx(t), "http://x/a.tar", "a", importd.VerifyNo)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.CancelTransfer(ctx(t), tr.ID); err != nil {
		t.Fatal(err)
	}
	if res, err := w.Wait(ctx(t), tr, nil); err != nil || res != importd.ResultCanceled {
		t.Errorf("Wait = %q, %v; want canceled", res, err)
	}
	if err := m.CancelTransfer(ctx(t), tr.ID); !errors.Is(err, importd.ErrNoSuchTransfer) {
		t.Errorf("second cancel: %v, want ErrNoSuchTransfer", err)
	}
	if _, err := m.Progress(ctx(t), tr.Path); err == nil {
		t.Error("Progress of a removed transfer: no error")
	}
}

func TestWaitHandsOverTheTransfersLog(t *testing.T) {
	_, fake, m, _ := setup(t, bustest.ImportdOptions{Ex: true})
	w, err := m.Watch(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	fake.Outcome("failed", "Pulling 'http://x/a.tar', saving as 'a'.", "SHA256 checksum of http://x/a.tar does not match.")
	// A transfer of someone else's that logs and ends first.
	other, err := m.PullTar(ctx(t), "http://x/other.tar", "other", importd.VerifyNo)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := m.PullTar(ctx(t), "http://x/a.tar", "a", importd.VerifyChecksum)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	res, err := w.Wait(ctx(t), tr, func(_ uint32, l string) { lines = append(lines, l) })
	if err != nil || res != importd.ResultFailed {
		t.Fatalf("Wait = %q, %v; want failed", res, err)
	}
	want := []string{"Pulling 'http://x/a.tar', saving as 'a'.", "SHA256 checksum of http://x/a.tar does not match."}
	if !slices.Equal(lines, want) {
		t.Errorf("log = %q, want %q (and none of transfer %d's)", lines, want, other.ID)
	}
}

// Anyone on the system bus may send a TransferRemoved: only importd's
// count.
func TestWatchIgnoresForgedSignals(t *testing.T) {
	b, fake, m, _ := setup(t, bustest.ImportdOptions{})
	fake.Hold()
	w, err := m.Watch(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	tr, err := m.PullTar(ctx(t), "http://x/a.tar", "a", importd.VerifyNo)
	if err != nil {
		t.Fatal(err)
	}
	forger := b.Conn(t)
	forger.Emit("/org/freedesktop/import1", "org.freedesktop.import1.Manager.TransferRemoved", tr.ID, tr.Path, "done")
	forger.Emit(tr.Path, "org.freedesktop.import1.Transfer.LogMessage", uint32(3), "forged")
	// Let the forgeries arrive before the real end.
	time.Sleep(100 * time.Millisecond)
	fake.Release("failed")
	var lines []string
	res, err := w.Wait(ctx(t), tr, func(_ uint32, l string) { lines = append(lines, l) })
	if err != nil || res != importd.ResultFailed || len(lines) != 0 {
		t.Errorf("Wait = %q, %v, log %q; want importd's failed and no forged line", res, err, lines)
	}
}

func TestWatchSeesImportdGo(t *testing.T) {
	b := bustest.New(t)
	svc := b.Conn(t)
	fake := bustest.NewImportd(t, svc, bustest.ImportdOptions{})
	fake.Hold()
	m := importd.New(b.Conn(t))
	w, err := m.Watch(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	tr, err := m.PullTar(ctx(t), "http://x/a.tar", "a", importd.VerifyNo)
	if err != nil {
		t.Fatal(err)
	}
	svc.Close()
	if _, err := w.Wait(ctx(t), tr, nil); !errors.Is(err, importd.ErrGone) {
		t.Errorf("Wait after importd exited: %v, want ErrGone", err)
	}
}

func TestEventsInOrder(t *testing.T) {
	_, _, m, _ := setup(t, bustest.ImportdOptions{Ex: true})
	w, err := m.Watch(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	tr, err := m.PullTar(ctx(t), "http://x/a.tar", "a", importd.VerifyNo)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []importd.EventKind
	for len(kinds) < 2 {
		ev, err := w.Next(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if ev.ID != tr.ID || ev.Path != tr.Path {
			t.Errorf("event %+v is not of transfer %+v", ev, tr)
		}
		kinds = append(kinds, ev.Kind)
	}
	if !slices.Equal(kinds, []importd.EventKind{importd.TransferNew, importd.TransferRemoved}) {
		t.Errorf("events %v, want TransferNew then TransferRemoved", kinds)
	}
	w.Close()
	if _, err := w.Next(ctx(t)); err == nil {
		t.Error("Next after Close: no error")
	}
}

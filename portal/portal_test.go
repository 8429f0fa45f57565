package portal

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/internal/bustest"
)

func TestCheckURI(t *testing.T) {
	for _, tc := range []struct {
		uri string
		ok  bool
	}{
		{"https://example.org/a?b=c#d", true},
		{"http://localhost:8080/", true},
		{"HTTPS://EXAMPLE.ORG", true},
		{"mailto:alice@example.org?subject=hi", true},
		{"file:///etc/passwd", false},
		{"/etc/passwd", false},
		{"javascript:alert(1)", false},
		{"https:///nohost", false},
		{"https://example.org/a b", false},
		{"https://exämple.org/", false},
		{"https://example.org/\n", false},
		{"smb://server/share", false},
		{"https://example.org/" + strings.Repeat("a", 5000), false},
		{"", false},
	} {
		err := CheckURI(tc.uri)
		if (err == nil) != tc.ok {
			t.Errorf("CheckURI(%.40q) = %v, want ok=%v", tc.uri, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrScheme) {
			t.Errorf("CheckURI(%.40q) = %v, not ErrScheme", tc.uri, err)
		}
	}
}

// FuzzCheckURI: whatever is accepted is an http(s) or mailto link of
// printable ASCII: nothing that could be taken for a path or an option.
func FuzzCheckURI(f *testing.F) {
	for _, s := range []string{"https://a.b/", "mailto:x", "file:///x", "-x", "http://a/\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		if CheckURI(uri) != nil {
			return
		}
		l := strings.ToLower(uri)
		if !strings.HasPrefix(l, "http://") && !strings.HasPrefix(l, "https://") && !strings.HasPrefix(l, "mailto:") {
			t.Errorf("accepted %q", uri)
		}
		for _, r := range uri {
			if r <= ' ' || r > '~' {
				t.Errorf("accepted %q with %q", uri, r)
			}
		}
	})
}

type fakePortal struct{ got chan string }

func (p fakePortal) OpenURI(parent, uri string, opts map[string]dbus.Variant) (dbus.ObjectPath, *dbus.Error) {
	p.got <- uri
	return "/org/freedesktop/portal/desktop/request/1_1/t", nil
}

func TestOpenURI(t *testing.T) {
	b := bustest.New(t)
	ctx := context.Background()
	p := New(b.Conn(t))
	if err := p.OpenURI(ctx, "https://example.org/"); !errors.Is(err, ErrNoPortal) {
		t.Errorf("without a portal: %v, want ErrNoPortal", err)
	}
	srv := b.Conn(t)
	fake := fakePortal{make(chan string, 1)}
	if err := srv.Export(fake, objPath, openURIIf); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.RequestName(busName, 0); err != nil {
		t.Fatal(err)
	}
	if err := p.OpenURI(ctx, "https://example.org/x"); err != nil {
		t.Fatal(err)
	}
	if got := <-fake.got; got != "https://example.org/x" {
		t.Errorf("the portal got %q", got)
	}
	if err := p.OpenURI(ctx, "file:///etc/shadow"); !errors.Is(err, ErrScheme) {
		t.Errorf("file link: %v", err)
	}
	select {
	case got := <-fake.got:
		t.Errorf("a refused link reached the portal: %q", got)
	default:
	}
}

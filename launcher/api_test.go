package launcher

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/desktopfiles"
)

func TestMapError(t *testing.T) {
	tests := []struct {
		name string
		want error
	}{
		{ErrNameUnknownApp, ErrUnknownApp},
		{ErrNameImageMissing, ErrImageMissing},
		{ErrNameInvalidArgs, ErrInvalidArgs},
		{ErrNameNoSuchInstance, ErrNoSuchInstance},
		{ErrNameSessionResource, ErrSessionResource},
		{ErrNameFailed, ErrFailed},
		{ErrNameAccessDenied, ErrNotAuthorized},
		{ErrNameInteractive, ErrNotAuthorized},
		{ErrNameServiceUnknown, ErrNoDaemon},
		{ErrNameLimitReached, ErrLimitReached},
		{ErrNameExecFailed, ErrExecFailed},
		{ErrNameOthersInstance, ErrOthersInstance},
	}
	all := []error{ErrUnknownApp, ErrImageMissing, ErrNotAuthorized, ErrNoSuchInstance, ErrNoDaemon, ErrInvalidArgs,
		ErrSessionResource, ErrFailed, ErrLimitReached, ErrExecFailed, ErrOthersInstance}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := dbus.NewError(tc.name, []any{"the service says so"})
			// Callers wrap what the bus gave them; the mapping must see through.
			for _, err := range []error{*in, fmt.Errorf("call: %w", *in)} {
				got := MapError(err)
				var se *ServiceError
				if !errors.As(got, &se) || se.Name != tc.name {
					t.Fatalf("MapError(%v) = %#v, want a ServiceError %s", err, got, tc.name)
				}
				for _, s := range all {
					// Refusing another user's instance is a refusal too.
					want := s == tc.want || (tc.want == ErrOthersInstance && s == ErrNotAuthorized)
					if errors.Is(got, s) != want {
						t.Errorf("errors.Is(%s, %q) = %v", tc.name, s, s != tc.want)
					}
				}
				want := "the service says so"
				if tc.want == ErrNoDaemon {
					// The bus's own text names the missing name, not the fix.
					want = ErrNoDaemon.Error()
				}
				if got.Error() != want {
					t.Errorf("message %q, want %q", got.Error(), want)
				}
			}
		})
	}
}

func TestMapErrorPassesOthersThrough(t *testing.T) {
	odd := dbus.NewError("org.example.Odd", []any{"odd"})
	plain := fs.ErrPermission
	for _, err := range []error{*odd, plain, nil} {
		if got := MapError(err); !reflect.DeepEqual(got, err) {
			t.Errorf("MapError(%v) = %#v, want it unchanged", err, got)
		}
	}
}

func TestTimeJSON(t *testing.T) {
	// UTC whatever the local zone: the JSON is compared and stored.
	local := time.Local
	time.Local = time.FixedZone("EST", -5*3600)
	t.Cleanup(func() { time.Local = local })
	at := time.Date(2024, 3, 5, 6, 7, 8, 123456000, time.FixedZone("CET", 3600))
	tt := Time(at.UnixMicro())
	b, err := json.Marshal(tt)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `"2024-03-05T05:07:08.123456Z"` {
		t.Errorf("marshal = %s, want RFC 3339 in UTC", b)
	}
	for _, in := range []string{string(b), `"2024-03-05T06:07:08.123456+01:00"`, fmt.Sprint(at.UnixMicro())} {
		var got Time
		if err := json.Unmarshal([]byte(in), &got); err != nil || got != tt {
			t.Errorf("unmarshal %s = %d, %v; want %d", in, got, err, tt)
		}
	}
	for _, in := range []string{`"yesterday"`, `-5`, `true`} {
		var got Time
		if err := json.Unmarshal([]byte(in), &got); err == nil || !strings.Contains(err.Error(), "want RFC 3339 or µs") {
			t.Errorf("unmarshal %s: %v, want an error", in, err)
		}
	}
	if !tt.Time().Equal(at) {
		t.Errorf("Time() = %v, want %v", tt.Time(), at)
	}
	if Now() == 0 {
		t.Error("Now() is the epoch")
	}
}

func TestInstanceJSONRoundTrip(t *testing.T) {
	in := Instance{Machine: "x-0000000a", App: "x", UID: 1000, Since: Time(1700000000123456), Unit: "nspawn-tray-x-0000000a.service"}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"machine":"x-0000000a","app":"x","uid":1000,"since":"2023-11-14T22:13:20.123456Z","unit":"nspawn-tray-x-0000000a.service"}`
	if string(b) != want {
		t.Errorf("marshal = %s\nwant      %s", b, want)
	}
	var out Instance
	if err := json.Unmarshal(b, &out); err != nil || out != in {
		t.Errorf("round trip = %+v, %v", out, err)
	}
	// A record of an earlier version, with µs.
	old := `{"machine":"x-0000000a","app":"x","uid":1000,"since":1700000000123456,"unit":"nspawn-tray-x-0000000a.service"}`
	if err := json.Unmarshal([]byte(old), &out); err != nil || out != in {
		t.Errorf("old record = %+v, %v", out, err)
	}
}

func TestEntryDictRoundTrip(t *testing.T) {
	e := desktopfiles.Entry{Name: "X", NameLoc: map[string]string{"de": "Y"}, GenericName: "G", GenericNameLoc: map[string]string{"fr": "H"},
		Comment: "C", CommentLoc: map[string]string{"it": "D"}, Icon: "x", Categories: []string{"System"}, Keywords: []string{"k"},
		MimeType: []string{"text/plain"}, StartupWMClass: "W"}
	if got := EntryFromDict(EntryDict(e)); !reflect.DeepEqual(got, e) {
		t.Errorf("round trip %+v\nwant       %+v", got, e)
	}
	// Only what is set crosses the bus.
	if d := EntryDict(desktopfiles.Entry{Name: "X"}); len(d) != 1 {
		t.Errorf("dict of a bare entry: %v", d)
	}
	// A dict of the wrong types is ignored key by key, not trusted.
	got := EntryFromDict(map[string]dbus.Variant{"Name": dbus.MakeVariant(uint32(1)), "Categories": dbus.MakeVariant("System"),
		"Icon": dbus.MakeVariant("x")})
	if !reflect.DeepEqual(got, desktopfiles.Entry{Icon: "x"}) {
		t.Errorf("wrong types: %+v", got)
	}
}

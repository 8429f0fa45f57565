package notify_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/nspawn-tray/nspawn-tray/internal/bustest"
	"github.com/nspawn-tray/nspawn-tray/notify"
)

func TestSendShowsSummaryAndBodyAsTheApp(t *testing.T) {
	b := bustest.New(t)
	fake := bustest.NewNotifications(t, b.Conn(t))
	n := notify.New(b.Conn(t), "nspawn-tray", "nspawn-tray-icon")
	ctx := context.Background()

	id1, err := n.Send(ctx, "Firefox failed", "journalctl -u nspawn-tray-firefox-0001")
	if err != nil {
		t.Fatal(err)
	}
	id2, err := n.Send(ctx, "GIMP stopped", "")
	if err != nil {
		t.Fatal(err)
	}
	// Each notification is a new one (replaces_id 0), so the server hands
	// out a new id each time; a Send that reused or dropped the id would
	// show here.
	if id1 != 1 || id2 != 2 {
		t.Errorf("ids = %d, %d; want the server's 1, 2", id1, id2)
	}
	want := []bustest.Notification{
		{App: "nspawn-tray", Icon: "nspawn-tray-icon", Summary: "Firefox failed", Body: "journalctl -u nspawn-tray-firefox-0001"},
		{App: "nspawn-tray", Icon: "nspawn-tray-icon", Summary: "GIMP stopped"},
	}
	if got := fake.Sent(); !slices.Equal(got, want) {
		t.Errorf("Sent =\n%+v\nwant\n%+v", got, want)
	}
}

func TestSendWithoutNotificationServer(t *testing.T) {
	b := bustest.New(t)
	n := notify.New(b.Conn(t), "nspawn-tray", "nspawn-tray")
	id, err := n.Send(context.Background(), "Firefox failed", "body")
	if err == nil {
		t.Fatalf("Send without a server = %d, nil; want an error", id)
	}
	if id != 0 || !strings.Contains(err.Error(), "Firefox failed") {
		t.Errorf("Send = %d, %v; want 0 and an error naming the summary", id, err)
	}
}

package paths

import "testing"

func TestHomeAndRuntimeDir(t *testing.T) {
	if got := Home(Homes, 1000, "spotify"); got != "/var/lib/nspawn-tray/homes/1000/spotify" {
		t.Errorf("Home = %q", got)
	}
	if got := RuntimeDir(RunUser, 4294967294); got != "/run/user/4294967294" {
		t.Errorf("RuntimeDir = %q", got)
	}
}

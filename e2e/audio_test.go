//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// installSoundApp defines an app on the xapps image (pulseaudio-utils)
// that runs its argument with sh, with the given audio mode.
func installSoundApp(t *testing.T, id, audio string) {
	t.Helper()
	atkInstallApp(t, id, "name = \"Sound\"\nimage = \"xapps\"\nexec = [\"/bin/sh\", \"-c\"]\nx11 = \"none\"\ndbus = []\naudio = \""+audio+"\"\n", "root", "0644")
}

func hostModules(t *testing.T) string {
	t.Helper()
	return mustRun(t, "alice", "pactl", "list", "modules", "short")
}

// With the server's own socket an app could load modules into the user's
// sound server, outside the container (module-ladspa-sink runs any .so).
// Through the filter it plays, and nothing else.
func TestAudioFilterRefusesModulesAndRecording(t *testing.T) {
	installSoundApp(t, "e2esound", "playback")
	before := hostModules(t)
	r := inHost(t, "alice", "", "nspawn-tray", "launch", "--wait", "e2esound", "--",
		"pactl load-module module-null-sink sink_name=e2e_evil; echo status=$?; pactl unload-module 0; echo status=$?; pactl set-default-sink e2e_evil; echo status=$?")
	for _, want := range []string{"Access denied", "status=1\n"} {
		if !strings.Contains(r.stdout+r.stderr, want) {
			t.Errorf("module commands from inside: output lacks %q:\n%s\n%s", want, r.stdout, r.stderr)
		}
	}
	if strings.Contains(r.stdout, "status=0") {
		t.Errorf("a module command succeeded from inside:\n%s", r.stdout)
	}
	if after := hostModules(t); after != before {
		t.Errorf("the host's modules changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// Recording, from the default source (the null sink's monitor here) or
	// by name, is refused under "playback".
	r = inHost(t, "alice", "", "nspawn-tray", "launch", "--wait", "e2esound", "--",
		"timeout 3 parec --raw | head -c 100 | wc -c; timeout 3 parec --raw -d testhost_null.monitor | head -c 100 | wc -c")
	if got := strings.Fields(r.stdout); len(got) != 2 || got[0] != "0" || got[1] != "0" {
		t.Errorf("recording under playback got %q bytes, want none:\n%s", got, r.stderr)
	}
}

// A tone played inside shows as a sink-input of the host's server, with the
// app's stream name.
func TestAudioFilterPlaysIntoTheHostsSink(t *testing.T) {
	installSoundApp(t, "e2etone", "playback")
	done := make(chan result, 1)
	go func() {
		done <- inHost(t, "alice", "", "nspawn-tray", "launch", "--wait", "e2etone", "--",
			"head -c 1411200 /dev/zero | pacat --raw --rate=44100 --channels=2 --format=s16le --property=media.name=e2e-tone; echo status=$?")
	}()
	eventually(t, 10*time.Second, func() string {
		if out := mustRun(t, "alice", "pactl", "list", "sink-inputs"); !strings.Contains(out, `media.name = "e2e-tone"`) {
			return "no sink-input named e2e-tone on the host:\n" + out
		}
		return ""
	})
	r := <-done
	if !strings.Contains(r.stdout, "status=0") {
		t.Errorf("pacat inside: %s\n%s", r.stdout, r.stderr)
	}
}

// "full" may record, but not what other apps play (a sink's monitor).
func TestAudioFilterFullRecordsButNotMonitors(t *testing.T) {
	installSoundApp(t, "e2emic", "full")
	loadNullSource(t, "e2e_mic")
	r := inHost(t, "alice", "", "nspawn-tray", "launch", "--wait", "e2emic", "--",
		"timeout 5 parec --raw --latency-msec=10 -d e2e_mic | head -c 100 | wc -c; timeout 3 parec --raw --latency-msec=10 -d testhost_null.monitor | head -c 100 | wc -c")
	if got := strings.Fields(r.stdout); len(got) != 2 || got[0] != "100" || got[1] != "0" {
		t.Errorf("recording under full: %q bytes from e2e_mic and from the monitor, want 100 and 0:\n%s", got, r.stderr)
	}
}

// loadNullSource gives alice's sound server a source of silence named name
// that is not a monitor, until the test ends. PulseAudio has
// module-null-source; pipewire-pulse has none (loading it fails with "No
// such entity") and makes one with module-null-sink of a source's media
// class instead, which PulseAudio's module-null-sink refuses as an unknown
// argument. So each is tried in turn: the server's answer picks the way.
func loadNullSource(t *testing.T, name string) {
	t.Helper()
	var failures []string
	for _, args := range [][]string{
		{"module-null-source", "source_name=" + name},
		{"module-null-sink", "media.class=Audio/Source/Virtual", "sink_name=" + name},
	} {
		r := inHost(t, "alice", "", append([]string{"pactl", "load-module"}, args...)...)
		if r.code != 0 {
			failures = append(failures, fmt.Sprintf("%s: exit %d %s", args[0], r.code, strings.TrimSpace(r.stderr)))
			continue
		}
		mod := strings.TrimSpace(r.stdout)
		t.Cleanup(func() { inHost(t, "alice", "", "pactl", "unload-module", mod) })
		sources := mustRun(t, "alice", "pactl", "list", "sources", "short")
		for _, line := range strings.Split(sources, "\n") {
			if f := strings.Fields(line); len(f) > 1 && f[1] == name {
				t.Logf("source %s from %s (module %s)", name, args[0], mod)
				return
			}
		}
		t.Fatalf("%s loaded as module %s, but there is no source %s:\n%s", args[0], mod, name, sources)
	}
	t.Fatalf("no way to make a null source on alice's sound server:\n%s", strings.Join(failures, "\n"))
}

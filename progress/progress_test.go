package progress

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

const MiB = 1 << 20

// step is one update at a time after the start: bytes done, or (with
// frac set) a fraction.
type step struct {
	at    time.Duration
	bytes int64
	frac  float64
	isF   bool
}

func b(at time.Duration, n int64) step   { return step{at: at, bytes: n} }
func f(at time.Duration, x float64) step { return step{at: at, frac: x, isF: true} }

const sec = time.Second

// run feeds steps to a meter on a fake clock and finishes it at the last
// step's time (or not at all when finish is nil).
func run(o Options, steps []step, finish *bool) string {
	base := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	now := base
	o.Now = func() time.Time { return now }
	var out bytes.Buffer
	m := New(&out, o)
	for _, s := range steps {
		now = base.Add(s.at)
		if s.isF {
			m.Fraction(s.frac)
		} else {
			m.Bytes(s.bytes)
		}
	}
	if finish != nil {
		m.Finish(*finish)
	}
	return out.String()
}

var (
	ok     = true
	failed = false
)

func TestLines(t *testing.T) {
	for _, tc := range []struct {
		desc   string
		o      Options
		steps  []step
		finish *bool
		want   string
	}{
		{
			desc:  "a line at each tenth reached, and the total at the end",
			o:     Options{Mode: Lines, Label: "xapps", Total: 100 * MiB},
			steps: []step{b(sec, 10*MiB), b(2*sec, 25*MiB), b(3*sec, 26*MiB), b(4*sec, 100*MiB)}, finish: &ok,
			want: "xapps: 10% (10.0 MiB of 100.0 MiB, 10.0 MiB/s)\n" +
				"xapps: 25% (25.0 MiB of 100.0 MiB, 12.5 MiB/s)\n" +
				"xapps: done, 100.0 MiB in 0:04 (25.0 MiB/s)\n",
		},
		{
			desc:  "a jump over tenths is one line, not a line for each",
			o:     Options{Mode: Lines, Label: "x", Total: 1000},
			steps: []step{b(sec, 50), b(2*sec, 730), b(3*sec, 740), b(4*sec, 999)}, finish: &ok,
			want: "x: 73% (730 B of 1000 B, 365 B/s)\n" +
				"x: 99% (999 B of 1000 B, 316 B/s)\n" +
				"x: done, 999 B in 0:04 (249 B/s)\n",
		},
		{
			desc:  "a failure adds nothing",
			o:     Options{Mode: Lines, Label: "x", Total: 1000},
			steps: []step{b(sec, 500)}, finish: &failed,
			want: "x: 50% (500 B of 1000 B, 500 B/s)\n",
		},
		{
			desc: "size unknown: a line every 10 s",
			o:    Options{Mode: Lines, Label: "stdin"},
			steps: []step{b(sec, 1*MiB), b(9*sec, 9*MiB), b(10*sec, 10*MiB), b(15*sec, 15*MiB),
				b(19*sec, 19*MiB), b(20*sec, 20*MiB), b(21*sec, 21*MiB)},
			finish: &ok,
			want: "stdin: 10.0 MiB (1.0 MiB/s)\n" +
				"stdin: 20.0 MiB (1.0 MiB/s)\n" +
				"stdin: done, 21.0 MiB in 0:21 (1.0 MiB/s)\n",
		},
		{
			desc:   "a fraction only (a pull)",
			o:      Options{Mode: Lines, Label: "debian"},
			steps:  []step{f(sec, -1), f(2*sec, 0.05), f(3*sec, 0.15), f(4*sec, 0.5), f(5*sec, 0.95), f(6*sec, 1)},
			finish: &ok,
			want:   "debian: 15%\ndebian: 50%\ndebian: 95%\ndebian: done in 0:06\n",
		},
		{
			desc:   "quiet",
			o:      Options{Mode: Quiet, Label: "x", Total: 10},
			steps:  []step{b(sec, 5), b(2*sec, 10)},
			finish: &ok,
			want:   "",
		},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if got := run(tc.o, tc.steps, tc.finish); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestTerminal(t *testing.T) {
	for _, tc := range []struct {
		desc   string
		o      Options
		steps  []step
		finish *bool
		want   []string // the lines drawn, each after a \r
		end    string   // after the last line
	}{
		{
			desc:   "bar, percent, bytes, rate and time left",
			o:      Options{Mode: Terminal, Label: "xapps", Total: 150 * MiB},
			steps:  []step{b(0, 0), b(sec, 10*MiB), b(2*sec, 57*MiB), b(3*sec, 150*MiB)},
			finish: &ok,
			want: []string{
				"xapps [>                ]   0%         0 B/150.0 MiB        -- B/s  ETA --:--",
				"xapps [=>               ]   6%    10.0 MiB/150.0 MiB    10.0 MiB/s  ETA 0:14",
				"xapps [======>          ]  38%    57.0 MiB/150.0 MiB    28.5 MiB/s  ETA 0:03",
				"xapps [=================] 100%   150.0 MiB/150.0 MiB    50.0 MiB/s  ETA 0:00",
				"xapps [=================] 100%   150.0 MiB    50.0 MiB/s  in 0:03",
			},
			end: "\n",
		},
		{
			desc:   "size unknown: a spinner and the bytes",
			o:      Options{Mode: Terminal, Label: "stdin"},
			steps:  []step{b(0, 0), b(sec, 10*MiB), b(2*sec, 57*MiB), b(3*sec, 58*MiB)},
			finish: &failed,
			want: []string{
				"stdin |         0 B        -- B/s  0:00",
				"stdin /    10.0 MiB    10.0 MiB/s  0:01",
				"stdin -    57.0 MiB    28.5 MiB/s  0:02",
				"stdin \\    58.0 MiB    19.3 MiB/s  0:03",
			},
			end: "\n", // the error comes on a line of its own
		},
		{
			desc:   "a fraction only",
			o:      Options{Mode: Terminal, Label: "debian", Width: 100},
			steps:  []step{f(0, -1), f(sec, 0.1), f(2*sec, 0.4)},
			finish: &ok,
			want: []string{
				"debian |  0:00",
				"debian [===>                                ]  10%  ETA 0:09",
				"debian [==============>                     ]  40%  ETA 0:03",
				"debian [====================================] 100%  in 0:02",
			},
			end: "\n",
		},
		{
			desc:  "redrawn at most every 100 ms",
			o:     Options{Mode: Terminal, Label: "x", Total: 100},
			steps: []step{b(0, 1), b(50*time.Millisecond, 2), b(99*time.Millisecond, 3), b(100*time.Millisecond, 4), b(150*time.Millisecond, 5)},
			want: []string{
				"x [>                    ]   1%         1 B/100 B        -- B/s  ETA --:--",
				"x [>                    ]   4%         4 B/100 B        -- B/s  ETA --:--",
			},
		},
		{
			desc:  "a narrow terminal: no bar, cut to the width",
			o:     Options{Mode: Terminal, Label: "a-long-image-name", Total: 100, Width: 40},
			steps: []step{b(sec, 50)},
			want:  []string{"a-long-image-name  50%        50 B/100 B"},
		},
		{
			desc:   "failed before anything was drawn: nothing",
			o:      Options{Mode: Terminal, Label: "x"},
			finish: &failed,
		},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			got := run(tc.o, tc.steps, tc.finish)
			var want strings.Builder
			for _, l := range tc.want {
				want.WriteString("\r" + l + "\x1b[K")
			}
			want.WriteString(tc.end)
			if got != want.String() {
				t.Errorf("got\n%q\nwant\n%q", got, want.String())
			}
		})
	}
}

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 57 * MiB: "57.0 MiB",
		3 << 30: "3.0 GiB", 5 << 40: "5.0 TiB", 5000 << 40: "5000.0 TiB",
	} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0:00", 400 * time.Millisecond: "0:00", 1500 * time.Millisecond: "0:02", 61 * sec: "1:01",
		59*time.Minute + 59*sec: "59:59", time.Hour + 2*time.Minute + 3*sec: "1:02:03", -sec: "0:00",
	} {
		if got := Duration(d); got != want {
			t.Errorf("Duration(%v) = %q, want %q", d, got, want)
		}
	}
}

// Not a terminal: a pipe, /dev/null.
func TestIsTerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if IsTerminal(w.Fd()) || ModeOf(w.Fd()) != Lines {
		t.Error("a pipe is taken for a terminal")
	}
	if got := Width(w.Fd()); got != 80 {
		t.Errorf("Width of a pipe = %d, want 80", got)
	}
}

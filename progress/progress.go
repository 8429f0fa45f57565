// Package progress shows how far a transfer got, the way download tools
// do: on a terminal one line redrawn in place (a bar with the percentage,
// bytes, rate and time left; a spinner with the bytes when the size is not
// known), elsewhere (a log, a pipe) one line per tenth, and nothing when
// quiet. The clock is injected, so what is drawn for given byte counts at
// given times is a pure function of them.
package progress

import (
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Mode is where the progress goes.
type Mode int

const (
	// Quiet draws nothing.
	Quiet Mode = iota
	// Lines writes a line at each tenth of the way (for logs and pipes,
	// where a redrawn line would be noise).
	Lines
	// Terminal redraws one line in place.
	Terminal
)

// IsTerminal reports whether fd is a terminal.
func IsTerminal(fd uintptr) bool {
	_, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
	return err == nil
}

// ModeOf is Terminal for a terminal, Lines otherwise.
func ModeOf(fd uintptr) Mode {
	if IsTerminal(fd) {
		return Terminal
	}
	return Lines
}

// Width is the terminal's width in columns, 80 when it cannot be told.
func Width(fd uintptr) int {
	ws, err := unix.IoctlGetWinsize(int(fd), unix.TIOCGWINSZ)
	if err != nil || ws.Col == 0 {
		return 80
	}
	return int(ws.Col)
}

// Options set up a Meter.
type Options struct {
	Mode  Mode
	Label string // what is transferred, e.g. the image's name
	// Total is the size in bytes, or 0 or less when it is not known.
	Total int64
	// Width of the terminal line (Terminal mode); 80 if 0.
	Width int
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

// Meter draws one transfer's progress. Feed it Bytes (or, when only a
// fraction is known, Fraction) as often as convenient: it redraws a
// terminal at most every redrawEvery and writes a line only when a new
// tenth is reached (or, of an unknown size, every linesEvery).
type Meter struct {
	w   io.Writer
	o   Options
	now func() time.Time

	start    time.Time
	done     int64
	fraction float64 // of a fraction-only transfer; -1 while unknown
	bytes    bool    // bytes are known (Bytes was called)
	window   []sample
	frame    int

	drawn    time.Time // last terminal redraw
	tenth    int       // last tenth written (Lines)
	lastLine time.Time // last line of an unknown size (Lines)
	finished bool
}

type sample struct {
	at time.Time
	v  float64 // bytes, or the fraction
}

const (
	redrawEvery = 100 * time.Millisecond
	linesEvery  = 10 * time.Second
	// rateWindow is how far back the rate looks: long enough to smooth
	// bursts, short enough to follow a change of speed.
	rateWindow = 3 * time.Second
)

// New starts a meter at the clock's now.
func New(w io.Writer, o Options) *Meter {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Width <= 0 {
		o.Width = 80
	}
	m := &Meter{w: w, o: o, now: o.Now, fraction: -1}
	m.start = m.now()
	// Nothing is done at the start: the rate counts from here.
	m.window = []sample{{m.start, 0}}
	return m
}

// Bytes sets how many bytes are done.
func (m *Meter) Bytes(done int64) {
	m.bytes = true
	m.done = done
	m.update(float64(done))
}

// Fraction sets how far the transfer is, 0..1, for transfers whose bytes
// are not known (a negative f: not known either).
func (m *Meter) Fraction(f float64) {
	if f > 1 {
		f = 1
	}
	m.fraction = f
	if f >= 0 {
		m.update(f)
	} else {
		m.update(-1)
	}
}

func (m *Meter) update(v float64) {
	if m.finished || m.o.Mode == Quiet {
		return
	}
	now := m.now()
	if v >= 0 {
		m.window = append(m.window, sample{now, v})
		for len(m.window) > 2 && now.Sub(m.window[1].at) >= rateWindow {
			m.window = m.window[1:]
		}
	}
	switch m.o.Mode {
	case Terminal:
		if !m.drawn.IsZero() && now.Sub(m.drawn) < redrawEvery {
			return
		}
		m.drawn = now
		fmt.Fprintf(m.w, "\r%s\x1b[K", Line(m.state(now), m.o.Width))
		m.frame++
	case Lines:
		s := m.state(now)
		if f := s.fractionDone(); f >= 0 {
			tenth := int(f * 10)
			if tenth > m.tenth && tenth < 10 {
				m.tenth = tenth
				fmt.Fprintln(m.w, Plain(s))
			}
			return
		}
		if s.Done > 0 && now.Sub(m.start) >= linesEvery && now.Sub(m.lastLine) >= linesEvery {
			m.lastLine = now
			fmt.Fprintln(m.w, Plain(s))
		}
	}
}

// Finish ends the meter: with ok, a last line with the total and the
// average rate; without, the terminal line is ended as it stands (so the
// error printed next starts on a line of its own).
func (m *Meter) Finish(ok bool) {
	if m.finished || m.o.Mode == Quiet {
		m.finished = true
		return
	}
	m.finished = true
	now := m.now()
	s := m.state(now)
	if !ok {
		if m.o.Mode == Terminal && !m.drawn.IsZero() {
			fmt.Fprintln(m.w)
		}
		return
	}
	s.Finished = true
	if m.o.Mode == Terminal {
		fmt.Fprintf(m.w, "\r%s\x1b[K\n", Line(s, m.o.Width))
		return
	}
	fmt.Fprintln(m.w, Plain(s))
}

func (m *Meter) state(now time.Time) State {
	s := State{Label: m.o.Label, Total: m.o.Total, Fraction: -1, Elapsed: now.Sub(m.start), Frame: m.frame}
	if m.bytes {
		s.Done, s.BytesKnown = m.done, true
	} else {
		s.Fraction = m.fraction
	}
	if n := len(m.window); n >= 2 {
		first, last := m.window[0], m.window[n-1]
		if d := last.at.Sub(first.at).Seconds(); d >= 0.5 {
			s.Rate = (last.v - first.v) / d
		}
	}
	return s
}

// State is what one progress line shows.
type State struct {
	Label string
	// Done bytes of Total (0 or less: unknown), when BytesKnown.
	Done, Total int64
	BytesKnown  bool
	// Fraction done when bytes are not known, 0..1; negative: unknown.
	Fraction float64
	Elapsed  time.Duration
	// Rate in bytes (or, without bytes, fractions) per second; 0 when
	// it is not known yet.
	Rate  float64
	Frame int
	// Finished: the transfer completed; the line shows totals.
	Finished bool
}

// fractionDone is how far s is, or -1 when that is not known.
func (s State) fractionDone() float64 {
	switch {
	case s.Finished:
		return 1
	case s.BytesKnown && s.Total > 0:
		return min(float64(s.Done)/float64(s.Total), 1)
	case !s.BytesKnown && s.Fraction >= 0:
		return s.Fraction
	}
	return -1
}

// eta is the time left, or -1 when it cannot be told.
func (s State) eta() time.Duration {
	f := s.fractionDone()
	if f < 0 || s.Rate <= 0 {
		return -1
	}
	var left float64
	if s.BytesKnown {
		left = float64(s.Total-s.Done) / s.Rate
	} else {
		left = (1 - f) / s.Rate
	}
	return time.Duration(left * float64(time.Second))
}

var spinner = []string{"|", "/", "-", "\\"}

// Line is the terminal line for s, at most width columns; the bar's
// length depends on the width and the label only, so it does not jump
// while the numbers after it change:
//
//	xapps [=====>         ]  38%    57.0 MiB/150.0 MiB    12.1 MiB/s  ETA 0:07
//	xapps |    57.0 MiB    12.1 MiB/s  0:04          (size unknown)
//	debian [=====>         ]  38%  ETA 0:07          (a fraction only)
func Line(s State, width int) string {
	f := s.fractionDone()
	var tail []string
	if f >= 0 {
		tail = append(tail, fmt.Sprintf("%3d%%", int(f*100)))
	} else {
		tail = append(tail, spinner[s.Frame%len(spinner)])
	}
	if s.BytesKnown {
		if s.Total > 0 && !s.Finished {
			tail = append(tail, fmt.Sprintf("%10s/%s", Bytes(s.Done), Bytes(s.Total)))
		} else {
			tail = append(tail, fmt.Sprintf("%10s", Bytes(s.Done)))
		}
		tail = append(tail, fmt.Sprintf("%12s", rate(s)))
	}
	switch {
	case s.Finished:
		tail = append(tail, "in "+Duration(s.Elapsed))
	case f >= 0:
		if eta := s.eta(); eta >= 0 {
			tail = append(tail, "ETA "+Duration(eta))
		} else {
			tail = append(tail, "ETA --:--")
		}
	default:
		tail = append(tail, Duration(s.Elapsed))
	}
	rest := strings.Join(tail, "  ")
	// What the numbers after the bar take at most, so a line never
	// wraps.
	const reserve = 58
	bar := min(width-len(s.Label)-reserve, 40)
	if f < 0 || bar < 10 {
		return fit(s.Label+" "+rest, width)
	}
	fill := int(f * float64(bar))
	var b strings.Builder
	b.WriteString(strings.Repeat("=", fill))
	if fill < bar {
		b.WriteString(">")
		b.WriteString(strings.Repeat(" ", bar-fill-1))
	}
	return fit(s.Label+" ["+b.String()+"] "+rest, width)
}

// Plain is the line written at each tenth (and at the end) where the
// output is not a terminal:
//
//	xapps: 40% (60.0 MiB of 150.0 MiB, 12.1 MiB/s)
//	xapps: 57.0 MiB (12.1 MiB/s)                   (size unknown)
//	xapps: 40%                                     (a fraction only)
//	xapps: done, 150.0 MiB in 0:12 (12.5 MiB/s)
func Plain(s State) string {
	if s.Finished {
		if !s.BytesKnown {
			return fmt.Sprintf("%s: done in %s", s.Label, Duration(s.Elapsed))
		}
		avg := "-"
		if secs := s.Elapsed.Seconds(); secs > 0 {
			avg = Bytes(int64(float64(s.Done)/secs)) + "/s"
		}
		return fmt.Sprintf("%s: done, %s in %s (%s)", s.Label, Bytes(s.Done), Duration(s.Elapsed), avg)
	}
	f := s.fractionDone()
	switch {
	case s.BytesKnown && f >= 0:
		return fmt.Sprintf("%s: %d%% (%s of %s, %s)", s.Label, int(f*100), Bytes(s.Done), Bytes(s.Total), rate(s))
	case s.BytesKnown:
		return fmt.Sprintf("%s: %s (%s)", s.Label, Bytes(s.Done), rate(s))
	case f >= 0:
		return fmt.Sprintf("%s: %d%%", s.Label, int(f*100))
	}
	return fmt.Sprintf("%s: %s", s.Label, Duration(s.Elapsed))
}

func rate(s State) string {
	if s.Finished {
		if secs := s.Elapsed.Seconds(); secs > 0 {
			return Bytes(int64(float64(s.Done)/secs)) + "/s"
		}
		return "-- B/s"
	}
	if s.Rate <= 0 {
		return "-- B/s"
	}
	return Bytes(int64(s.Rate)) + "/s"
}

// fit cuts line to width columns (the label may be long).
func fit(line string, width int) string {
	if r := []rune(line); len(r) > width {
		return string(r[:width])
	}
	return line
}

// Bytes is n in binary units, as pv and curl show them: "512 B",
// "1.5 KiB", "57.0 MiB".
func Bytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n)
	for _, unit := range []string{"KiB", "MiB", "GiB", "TiB"} {
		v /= 1024
		if v < 1024 || unit == "TiB" {
			return fmt.Sprintf("%.1f %s", v, unit)
		}
	}
	panic("unreachable")
}

// Duration is d as m:ss, or h:mm:ss from an hour on.
func Duration(d time.Duration) string {
	secs := int64(d.Round(time.Second) / time.Second)
	if secs < 0 {
		secs = 0
	}
	if secs >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", secs/3600, secs/60%60, secs%60)
	}
	return fmt.Sprintf("%d:%02d", secs/60, secs%60)
}

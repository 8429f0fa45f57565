package config

import (
	"github.com/BurntSushi/toml"
)

// BurntSushi/toml records where each key is defined but does not export it,
// so errors about keys (unknown, wrong type, invalid value) find the line with
// this small scanner. It only ever runs on documents the real parser has
// accepted, so it can assume valid TOML; on anything surprising it gives up
// and the error is reported without a line rather than with a wrong one.

// keyLines maps each key defined in src (as toml.Key.String()) to the line it
// is first defined on. Table headers count as definitions of the table key.
// Keys inside inline tables are not recorded; lookups fall back to the
// enclosing key.
type keyLines map[string]int

func scanKeyLines(src string) keyLines {
	s := &keyScanner{src: src, line: 1, lines: keyLines{}}
	s.run()
	return s.lines
}

// lineOf returns the line of k, or of its nearest recorded ancestor, or 0.
func (kl keyLines) lineOf(k toml.Key) int {
	for j := len(k); j > 0; j-- {
		if l, ok := kl[k[:j].String()]; ok {
			return l
		}
	}
	return 0
}

type keyScanner struct {
	src   string
	i     int
	line  int
	table toml.Key
	lines keyLines
}

func (s *keyScanner) record(k toml.Key, line int) {
	for j := 1; j <= len(k); j++ {
		ks := k[:j].String()
		if _, ok := s.lines[ks]; !ok {
			s.lines[ks] = line
		}
	}
}

func (s *keyScanner) peek(off int) byte {
	if s.i+off < len(s.src) {
		return s.src[s.i+off]
	}
	return 0
}

func (s *keyScanner) run() {
	for s.i < len(s.src) {
		c := s.src[s.i]
		switch {
		case c == '\n':
			s.line++
			s.i++
		case c == ' ' || c == '\t' || c == '\r':
			s.i++
		case c == '#':
			s.skipComment()
		case c == '[':
			if !s.header() {
				return
			}
		default:
			line := s.line
			k, ok := s.key('=')
			if !ok {
				return
			}
			s.i++ // '='
			s.record(append(append(toml.Key{}, s.table...), k...), line)
			if !s.skipValue() {
				return
			}
		}
	}
}

// header parses [a.b] or [[a.b]] and makes it the current table.
func (s *keyScanner) header() bool {
	line := s.line
	s.i++
	array := s.peek(0) == '['
	if array {
		s.i++
	}
	k, ok := s.key(']')
	if !ok {
		return false
	}
	s.i++
	if array {
		if s.peek(0) != ']' {
			return false
		}
		s.i++
	}
	s.table = k
	s.record(k, line)
	return true
}

// key parses a possibly dotted, possibly quoted key and stops at end (which
// it does not consume).
func (s *keyScanner) key(end byte) (toml.Key, bool) {
	var k toml.Key
	for {
		s.skipBlanks()
		if s.i >= len(s.src) {
			return nil, false
		}
		var part string
		switch c := s.src[s.i]; c {
		case '"', '\'':
			start := s.i
			if !s.skipString() {
				return nil, false
			}
			var ok bool
			if part, ok = unquoteKey(s.src[start:s.i]); !ok {
				return nil, false
			}
		default:
			start := s.i
			for s.i < len(s.src) && isBareKeyChar(s.src[s.i]) {
				s.i++
			}
			if s.i == start {
				return nil, false
			}
			part = s.src[start:s.i]
		}
		k = append(k, part)
		s.skipBlanks()
		switch s.peek(0) {
		case '.':
			s.i++
		case end:
			return k, true
		default:
			return nil, false
		}
	}
}

// unquoteKey lets the real parser interpret escapes, so quoted keys match
// what MetaData reports exactly.
func unquoteKey(q string) (string, bool) {
	var v struct {
		K string `toml:"k"`
	}
	if _, err := toml.Decode("k = "+q, &v); err != nil {
		return "", false
	}
	return v.K, true
}

func isBareKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

func (s *keyScanner) skipBlanks() {
	for s.i < len(s.src) && (s.src[s.i] == ' ' || s.src[s.i] == '\t') {
		s.i++
	}
}

func (s *keyScanner) skipComment() {
	for s.i < len(s.src) && s.src[s.i] != '\n' {
		s.i++
	}
}

// skipValue moves past a value, which may span lines inside brackets or
// multi-line strings, up to the newline that ends it.
func (s *keyScanner) skipValue() bool {
	depth := 0
	for s.i < len(s.src) {
		switch c := s.src[s.i]; c {
		case '"', '\'':
			if !s.skipString() {
				return false
			}
		case '#':
			s.skipComment()
		case '[', '{':
			depth++
			s.i++
		case ']', '}':
			depth--
			s.i++
		case '\n':
			if depth <= 0 {
				return true
			}
			s.line++
			s.i++
		default:
			s.i++
		}
	}
	return true
}

// skipString moves past a basic, literal or multi-line string starting at
// s.i, counting the newlines inside it.
func (s *keyScanner) skipString() bool {
	q := s.src[s.i]
	if s.peek(1) == q && s.peek(2) == q {
		s.i += 3
		for s.i < len(s.src) {
			c := s.src[s.i]
			switch {
			case c == '\\' && q == '"':
				if s.peek(1) == '\n' {
					s.line++
				}
				s.i += 2
			case c == q && s.peek(1) == q && s.peek(2) == q:
				// Up to two more quotes right before the closing
				// delimiter belong to the content.
				s.i += 3
				for n := 0; n < 2 && s.peek(0) == q; n++ {
					s.i++
				}
				return true
			default:
				if c == '\n' {
					s.line++
				}
				s.i++
			}
		}
		return false
	}
	s.i++
	for s.i < len(s.src) {
		c := s.src[s.i]
		switch {
		case c == '\\' && q == '"':
			s.i += 2
		case c == q:
			s.i++
			return true
		case c == '\n':
			return false
		default:
			s.i++
		}
	}
	return false
}

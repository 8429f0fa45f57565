package desktopfiles

import (
	"path"
	"strings"
)

// MatchesExec reports whether an image desktop file's Exec= runs argv0 (the
// app definition's exec[0]). The Exec value is split into arguments per
// the specification (double quotes, with \" \` \$ \\ inside them), field
// codes are dropped, a leading "env [-i] [-u NAME] VAR=value..." prefix is
// skipped, and the program is compared with argv0 by full path or by base
// name ("firefox %u" matches "/usr/bin/firefox" and the other way round).
func MatchesExec(p Parsed, argv0 string) bool {
	args := dropFieldCodes(SplitExec(p.Exec))
	if len(args) > 0 && path.Base(args[0]) == "env" {
		args = skipEnv(args[1:])
	}
	if len(args) == 0 || argv0 == "" {
		return false
	}
	return SameProgram(args[0], argv0)
}

// SameProgram reports whether the programs a and b (an Exec's and an
// exec[0]) are the same by full path or by base name.
func SameProgram(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	if a == b {
		return true
	}
	if strings.HasSuffix(a, "/") || strings.HasSuffix(b, "/") {
		return false // a directory, not a program
	}
	x, y := path.Base(path.Clean(a)), path.Base(path.Clean(b))
	return x == y && x != "/" && x != "." && x != ".."
}

// skipEnv drops env(1)'s options and VAR=value assignments.
func skipEnv(args []string) []string {
	for len(args) > 0 {
		a := args[0]
		switch {
		case a == "-i" || a == "-" || a == "--ignore-environment" || a == "-0" || a == "--null":
			args = args[1:]
		case a == "-u" || a == "--unset" || a == "-C" || a == "--chdir":
			if len(args) < 2 {
				return nil
			}
			args = args[2:]
		case a == "--":
			return args[1:]
		case strings.HasPrefix(a, "--unset=") || strings.HasPrefix(a, "--chdir="):
			args = args[1:]
		case isAssignment(a):
			args = args[1:]
		default:
			return args
		}
	}
	return args
}

func isAssignment(a string) bool {
	eq := strings.IndexByte(a, '=')
	if eq <= 0 {
		return false
	}
	for i := 0; i < eq; i++ {
		c := a[i]
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// SplitExec splits an (already value-unescaped) Exec string into
// arguments, per the specification's quoting. An argument that is a lone
// field code (%f, %U, %i, ...) is kept as it is, for the caller to expand
// or drop (IsFieldCode); in any other "%%" becomes '%'. Reserved
// characters outside quotes, which the specification forbids, are taken
// literally.
func SplitExec(s string) []string {
	var args []string
	var cur strings.Builder
	inArg, quoted := false, false
	flush := func() {
		if inArg {
			a := cur.String()
			if !IsFieldCode(a) {
				a = strings.ReplaceAll(a, "%%", "%")
			}
			args = append(args, a)
		}
		cur.Reset()
		inArg = false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quoted && c == '"':
			quoted = false
		case quoted && c == '\\' && i+1 < len(s) && strings.IndexByte("\"`$\\", s[i+1]) >= 0:
			i++
			cur.WriteByte(s[i])
		case quoted:
			cur.WriteByte(c)
		case c == ' ' || c == '\t' || c == '\n':
			flush()
		case c == '"':
			quoted, inArg = true, true
		default:
			cur.WriteByte(c)
			inArg = true
		}
	}
	flush()
	return args
}

// IsFieldCode reports whether a is one of the specification's field codes
// (the deprecated ones included).
func IsFieldCode(a string) bool {
	return len(a) == 2 && a[0] == '%' && strings.IndexByte("fFuUdDnNickvm", a[1]) >= 0
}

func dropFieldCodes(args []string) []string {
	out := args[:0:0]
	for _, a := range args {
		if !IsFieldCode(a) {
			out = append(out, a)
		}
	}
	return out
}

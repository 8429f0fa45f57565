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
	args := splitExec(p.Exec)
	if len(args) > 0 && path.Base(args[0]) == "env" {
		args = skipEnv(args[1:])
	}
	if len(args) == 0 || argv0 == "" {
		return false
	}
	prog := args[0]
	if prog == argv0 {
		return true
	}
	if strings.HasSuffix(prog, "/") || strings.HasSuffix(argv0, "/") {
		return false // a directory, not a program
	}
	a, b := path.Base(path.Clean(prog)), path.Base(path.Clean(argv0))
	return a == b && a != "/" && a != "." && a != ".."
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

// splitExec splits an (already value-unescaped) Exec string into arguments.
// Arguments that are a lone field code (%f, %U, ...) are dropped and "%%"
// becomes '%'. Reserved characters outside quotes, which the specification
// forbids, are taken literally.
func splitExec(s string) []string {
	var args []string
	var cur strings.Builder
	inArg, quoted := false, false
	flush := func() {
		if inArg {
			a := cur.String()
			if !isFieldCode(a) {
				args = append(args, strings.ReplaceAll(a, "%%", "%"))
			}
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

func isFieldCode(a string) bool {
	return len(a) == 2 && a[0] == '%' && strings.IndexByte("fFuUdDnNickvm", a[1]) >= 0
}

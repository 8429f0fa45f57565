package appexec

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Parse parses the exec-as command line (the arguments after the subcommand):
//
//	--uid N --gid N --home PATH [--status PATH] [--groups N,N...] [--await PATH]... -- ARGV...
//
// Each flag at most once but --await (at most maxAwait), --status,
// --groups and --await optional, as a separate "--flag value" pair, in any
// order; paths absolute and clean;
// numbers in plain decimal; home absolute and clean; at least one argv
// element. UID or GID 0 is ErrRoot, everything else malformed ErrInvalid.
// Spec.Env is left for the caller to fill.
func Parse(args []string) (Spec, error) {
	s, err := parse(args)
	if err != nil {
		return Spec{}, fmt.Errorf("exec-as arguments: %w", err)
	}
	return s, nil
}

func parse(args []string) (Spec, error) {
	var s Spec
	seen := map[string]bool{}
	i := 0
	for ; i < len(args) && args[i] != "--"; i += 2 {
		flag := args[i]
		switch flag {
		case "--uid", "--gid", "--home", "--status", "--await", "--groups":
		default:
			return s, fmt.Errorf("%w: unknown argument %q", ErrInvalid, flag)
		}
		if seen[flag] && flag != "--await" {
			return s, fmt.Errorf("%w: %s given twice", ErrInvalid, flag)
		}
		seen[flag] = true
		if i+1 >= len(args) || args[i+1] == "--" {
			return s, fmt.Errorf("%w: %s needs a value", ErrInvalid, flag)
		}
		v := args[i+1]
		var err error
		switch flag {
		case "--uid":
			s.UID, err = parseID(v)
		case "--gid":
			s.GID, err = parseID(v)
		case "--home":
			if !cleanAbs(v) {
				err = fmt.Errorf("%w: home %q is not an absolute clean path", ErrInvalid, v)
			}
			s.Home = v
		case "--groups":
			for _, g := range strings.Split(v, ",") {
				var id uint32
				if id, err = parseID(g); err != nil {
					break
				}
				if slices.Contains(s.Groups, id) {
					err = fmt.Errorf("%w: group %d given twice", ErrInvalid, id)
					break
				}
				s.Groups = append(s.Groups, id)
			}
			if err == nil && len(s.Groups) > maxGroups {
				err = fmt.Errorf("%w: %d groups, at most %d", ErrInvalid, len(s.Groups), maxGroups)
			}
			if err == nil && slices.Contains(s.Groups, 0) {
				err = fmt.Errorf("%w: supplementary group 0", ErrRoot)
			}
		case "--status":
			if !cleanAbs(v) {
				err = fmt.Errorf("%w: status %q is not an absolute clean path", ErrInvalid, v)
			}
			s.Status = v
		case "--await":
			if !cleanAbs(v) {
				err = fmt.Errorf("%w: await %q is not an absolute clean path", ErrInvalid, v)
			} else if len(s.Await) == maxAwait {
				err = fmt.Errorf("%w: more than %d sockets to await", ErrInvalid, maxAwait)
			}
			s.Await = append(s.Await, v)
		}
		if err != nil {
			return s, fmt.Errorf("%s: %w", flag, err)
		}
	}
	if i >= len(args) {
		return s, fmt.Errorf("%w: missing \"--\" before the command", ErrInvalid)
	}
	for _, f := range []string{"--uid", "--gid", "--home"} {
		if !seen[f] {
			return s, fmt.Errorf("%w: missing %s", ErrInvalid, f)
		}
	}
	s.Argv = args[i+1:]
	if len(s.Argv) == 0 || s.Argv[0] == "" {
		return s, fmt.Errorf("%w: no command after \"--\"", ErrInvalid)
	}
	if s.UID == 0 || s.GID == 0 {
		return s, fmt.Errorf("%w: uid %d gid %d", ErrRoot, s.UID, s.GID)
	}
	return s, nil
}

// parseID accepts only canonical decimal: no sign, no base prefix, no
// leading zeros, and not (uid_t)-1, which set*id reads as "unchanged".
func parseID(v string) (uint32, error) {
	if v == "" || len(v) > 10 || (len(v) > 1 && v[0] == '0') {
		return 0, fmt.Errorf("%w: id %q", ErrInvalid, v)
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: id %q", ErrInvalid, v)
		}
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || uint32(n) == noID {
		return 0, fmt.Errorf("%w: id %q", ErrInvalid, v)
	}
	return uint32(n), nil
}

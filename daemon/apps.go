package daemon

import (
	"errors"
	"slices"
	"strings"

	"github.com/nspawn-tray/nspawn-tray/config"
	"github.com/nspawn-tray/nspawn-tray/launcher"
)

// apps lists every definition with what stands in the way of launching it
// now, checked exactly as Launch checks it: an invalid definition (not
// root's, writable by others, a symlink, a bad key), a missing image.
func (s *Service) apps() ([]launcher.AppStatus, error) {
	defs, loadErr := config.LoadDir(s.paths.Apps, config.Options{RequireRootOwned: true})
	out := make([]launcher.AppStatus, 0, len(defs))
	for _, a := range defs {
		st := launcher.AppStatus{ID: a.ID, Name: a.Name, Image: a.Image}
		if _, err := s.imageDir(a); err != nil {
			st.Problem = err.Error()
		}
		out = append(out, st)
	}
	// One entry per broken file, however many problems it has.
	problems := map[string][]string{}
	for _, p := range config.Problems(loadErr) {
		var fe *config.FileError
		if !errors.As(p, &fe) {
			return nil, loadErr // the directory itself: nothing can launch
		}
		id := config.FileID(fe.File)
		problems[id] = append(problems[id], p.Error())
	}
	for id, msgs := range problems {
		out = append(out, launcher.AppStatus{ID: id, Name: id,
			Problem: config.Invalid(id, errors.New(strings.Join(msgs, "\n")))})
	}
	slices.SortFunc(out, func(a, b launcher.AppStatus) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

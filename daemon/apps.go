package daemon

import (
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
	invalid, dirErr := config.InvalidApps(loadErr)
	if dirErr != nil {
		return nil, dirErr // the directory itself: nothing can launch
	}
	out := make([]launcher.AppStatus, 0, len(defs)+len(invalid))
	for _, a := range defs {
		st := launcher.AppStatus{ID: a.ID, Name: a.Name, Image: a.Image}
		if _, err := s.imageDir(a); err != nil {
			st.Problem = err.Error()
		}
		out = append(out, st)
	}
	for _, a := range invalid {
		out = append(out, launcher.AppStatus{ID: a.ID, Name: a.ID, Problem: a.Message})
	}
	slices.SortFunc(out, func(a, b launcher.AppStatus) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

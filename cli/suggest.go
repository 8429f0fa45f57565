package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nspawn-tray/nspawn-tray/config"
	"github.com/nspawn-tray/nspawn-tray/launcher"
)

// suggested is an unknown-app error with the near miss it was meant to be.
type suggested struct {
	err  error
	best string
}

func (s *suggested) Error() string { return fmt.Sprintf("%v (did you mean %q?)", s.err, s.best) }
func (s *suggested) Unwrap() error { return s.err }

// didYouMean adds the closest defined app id to an unknown-app error for
// typed, when one is close enough to be a typo.
func didYouMean(err error, typed string) error {
	if !errors.Is(err, launcher.ErrUnknownApp) {
		return err
	}
	if best := closestApp(typed); best != "" {
		return &suggested{err: err, best: best}
	}
	return err
}

// closestApp is the defined app id nearest to typed, "" when none is
// within a typo's distance (a third of its length, at most 3 edits).
func closestApp(typed string) string {
	apps, _ := config.LoadDir(appsDir, config.Options{RequireRootOwned: true, Owner: appsOwner})
	ids := make([]string, 0, len(apps))
	for _, a := range apps {
		ids = append(ids, a.ID)
	}
	return closest(typed, ids)
}

func closest(typed string, ids []string) string {
	best, bestD := "", min(3, max(1, len(typed)/3))+1
	for _, id := range ids {
		d := editDistance(strings.ToLower(typed), id)
		if strings.HasPrefix(id, strings.ToLower(typed)) && len(typed) >= 3 {
			d = min(d, 1) // "spot" for "spotify"
		}
		if d < bestD {
			best, bestD = id, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, by bytes (ids are
// ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Package nearname suggests the names a mistyped one was probably meant to
// be, for messages that refuse a name ("did you mean WebApp2?").
package nearname

import (
	"slices"
	"strings"

	"github.com/hbollon/go-edlib"
)

// Hint says which of names n was probably meant to be, as " (did you mean
// X?)", or "" when none is near: a name differing only in case first
// (vCenter's names are case-sensitive), else the names at the smallest edit
// distance (a letter missing, extra, changed, or two swapped; case
// ignored), when that is at most 2 and less than half of n, at most three.
func Hint(n string, names []string) string {
	for _, name := range names {
		if name != n && strings.EqualFold(name, n) {
			return " (names are case-sensitive: did you mean " + name + "?)"
		}
	}
	near := Near(n, names)
	if len(near) == 0 {
		return ""
	}
	return " (did you mean " + orList(near) + "?)"
}

// Near returns the names nearest to n (see Hint), sorted.
func Near(n string, names []string) []string {
	ln := strings.ToLower(n)
	best, limit := -1, min(2, (len([]rune(ln))-1)/2)
	var out []string
	for _, name := range names {
		if name == n {
			continue
		}
		// The optimal string alignment distance: insertions, deletions,
		// substitutions and adjacent transpositions.
		d := edlib.OSADamerauLevenshteinDistance(ln, strings.ToLower(name))
		switch {
		case d > limit:
		case best < 0 || d < best:
			best, out = d, []string{name}
		case d == best:
			out = append(out, name)
		}
	}
	slices.Sort(out)
	if len(out) > 3 {
		return nil // too many to be a hint
	}
	return out
}

func orList(s []string) string {
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

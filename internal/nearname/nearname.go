// Package nearname suggests the names a mistyped one was probably meant to
// be, for messages that refuse a name ("did you mean WebApp2?").
package nearname

import (
	"slices"
	"strings"
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
	ln := []rune(strings.ToLower(n))
	best, limit := -1, min(2, (len(ln)-1)/2)
	var out []string
	for _, name := range names {
		if name == n {
			continue
		}
		d := distance(ln, []rune(strings.ToLower(name)))
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

// distance is the optimal string alignment distance between a and b
// (insertions, deletions, substitutions, adjacent transpositions).
func distance(a, b []rune) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

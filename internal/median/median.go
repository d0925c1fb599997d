// Package median computes the median the benchmarks and projections print.
package median

import (
	"cmp"
	"slices"
)

// Of returns the median of v: the middle value, the upper one of the two
// middle values for an even count, the zero value for none. v is not
// changed.
func Of[T cmp.Ordered](v []T) T {
	var zero T
	if len(v) == 0 {
		return zero
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

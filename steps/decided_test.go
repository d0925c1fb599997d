package steps

import (
	"errors"
	"fmt"
	"testing"
)

// TestOnlyRolledBackAsDecided: a wave's outcome reads as a decided
// rollback only when every VM's is one; any real failure beside it is a
// failure.
func TestOnlyRolledBackAsDecided(t *testing.T) {
	decided := decidedRollback{"WebApp2: cutover rolled back as decided (--rollback): running on-prem again"}
	failed := errors.New("WebApp1: rollback as decided: vCenter unreachable")
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{decided, true},
		{fmt.Errorf("cutover: %w", decided), true},
		{errors.Join(decided, decidedRollback{"WebApp1: cutover rolled back as decided"}), true},
		{fmt.Errorf("cutover: %w", errors.Join(decided, failed)), false},
		{failed, false},
		{fmt.Errorf("x: %w", ErrRolledBackAsDecided), true},
	} {
		if got := OnlyRolledBackAsDecided(c.err); got != c.want {
			t.Errorf("%v: %v, want %v", c.err, got, c.want)
		}
		if c.want && !errors.Is(c.err, ErrRolledBackAsDecided) {
			t.Errorf("%v: not errors.Is ErrRolledBackAsDecided", c.err)
		}
	}
}

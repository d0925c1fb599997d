package steps

import (
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/replication"
)

// TestReportLastCompareStartedOver: the cutover report's "last full
// compare" line of a compare that started over after an interrupted
// attempt counts what that attempt found and repaired, and says so.
func TestReportLastCompareStartedOver(t *testing.T) {
	v := VerifyReport{Mode: "final pass", Detail: "3 blocks", LastCompare: &replication.CompareResult{Time: time.Now(), Blocks: 32, Differing: 4, Repaired: 4,
		StartedOver: true, EarlierDiffering: 2, EarlierRepaired: 2}}
	got := v.text()
	if !strings.Contains(got, "Last full compare while the VM ran: 32 blocks compared, 4 differing, 4 repaired") ||
		!strings.Contains(got, "started over after an interruption; 2 differing and 2 repaired of these found by the interrupted attempt") {
		t.Errorf("report line: %s", got)
	}
}

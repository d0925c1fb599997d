package steps

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMain removes what the package's tests share across tests once they
// have all run: the lab's edge OVA (appliancePlan) was left in the system's
// temporary directory by every run.
func TestMain(m *testing.M) {
	code := m.Run()
	if edgeOVAPath != "" {
		_ = os.RemoveAll(filepath.Dir(edgeOVAPath))
	}
	os.Exit(code)
}

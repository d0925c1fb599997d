package vsphere_test

import (
	"context"
	"testing"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/vsphere"
)

// connectTo logs in to the lab's vCenter vc as ferry's account, over TLS
// verified with the lab's CA; logged out when the test ends.
func connectTo(t *testing.T, l *lab.Lab, vc *lab.VCenter) *vsphere.Client {
	t.Helper()
	c, err := vsphere.Connect(context.Background(), vsphere.Config{URL: vc.URL, Username: vc.Username, Password: vc.Password, CAFile: l.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

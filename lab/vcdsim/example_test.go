package vcdsim_test

import (
	"crypto/tls"
	"fmt"
	"net/url"

	"github.com/vmware/go-vcloud-director/v2/govcd"

	"github.com/ferry-migrate/ferry/lab/stretch"
	"github.com/ferry-migrate/ferry/lab/vcdsim"
)

// Example shows the simulator's life cycle: build it, start it with a TLS
// certificate for 127.0.0.1 (the lab CA issues one), point the unmodified
// go-vcloud-director client at URL(), and inject faults.
func Example() {
	var tlsCfg *tls.Config // e.g. ca.ServerTLS("vcd") from package lab
	fabric := stretch.New()
	srv, err := vcdsim.New(vcdsim.Config{
		Fabric: fabric, // shared with the edge simulator: tunnel status comes from here
		ProviderVC: &vcdsim.ProviderVC{ // import reads VMs from it over the vSphere API
			URL: "https://127.0.0.1:8989/sdk", Username: "administrator@vsphere.local", Password: "pass",
		},
	})
	if err != nil {
		panic(err)
	}
	if err := srv.Start(tlsCfg); err != nil {
		panic(err)
	}
	defer srv.Close()

	u, _ := url.Parse(srv.URL()) // https://127.0.0.1:port/api
	c := govcd.NewVCDClient(*u, false)
	if err := c.Authenticate("administrator", "VMware1!", "System"); err != nil {
		panic(err)
	}

	// The next tunnel creation fails with a 500, the one after works.
	_, _ = srv.Faults.Add(vcdsim.Fault{Method: "POST", Path: "/l2vpn/tunnels", Status: 500, Message: "NSX manager unreachable", Times: 1})
	fmt.Println(srv.OrgHasRight("Company", "Organization vDC Gateway: Configure L2 VPN"))
}

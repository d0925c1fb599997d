package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/vim25/types"
)

// ProviderNFSDatastore is the provider vCenter's NFS datastore: an export
// (nfs.provider.lab:/exports/ferry-replicas) mounted read-write on every
// provider host, as a provider that runs the nfs receiver kind has it. Its
// files are the export's: the lab's NFSExport directory, which a receiver
// host mounting the same export sees (`ferry receiver --kind nfs
// --datastore-dir`). The provider vCenter creates disks there as on any
// datastore (ESXi's descriptor format, lab/provider.go). It backs the
// provider VDC (and so the org VDC's storage policy) beside provider-ds.
const ProviderNFSDatastore = "provider-nfs"

// NFSStoragePolicy is the org VDC's second storage policy: only the NFS
// datastore supports it ("*", the default, is supported by both).
const NFSStoragePolicy = "NFS"

// mountNFS creates ProviderNFSDatastore on every host of vc, backed by a
// directory of dir, and returns that directory (the export).
func mountNFS(ctx context.Context, vc *VCenter, dir string) (string, error) {
	export := filepath.Join(dir, "nfs-export", ProviderNFSDatastore)
	if err := os.MkdirAll(export, 0o755); err != nil {
		return "", err
	}
	u := *vc.Server.URL
	c, err := govmomi.NewClient(ctx, &u, true)
	if err != nil {
		return "", fmt.Errorf("lab vCenter %s: login: %w", vc.Spec.Name, err)
	}
	defer c.Logout(context.WithoutCancel(ctx))
	f := find.NewFinder(c.Client)
	dc, err := f.Datacenter(ctx, vc.Spec.Datacenter)
	if err != nil {
		return "", err
	}
	hosts, err := f.SetDatacenter(dc).HostSystemList(ctx, "*")
	if err != nil {
		return "", err
	}
	for _, h := range hosts {
		sys, err := h.ConfigManager().DatastoreSystem(ctx)
		if err != nil {
			return "", err
		}
		if _, err := sys.CreateNasDatastore(ctx, types.HostNasVolumeSpec{RemoteHost: "nfs.provider.lab", RemotePath: "/exports/ferry-replicas",
			LocalPath: export, AccessMode: string(types.HostMountModeReadWrite), Type: string(types.HostFileSystemVolumeFileSystemTypeNFS41)}); err != nil {
			return "", fmt.Errorf("mount NFS datastore %s on %s: %w", ProviderNFSDatastore, h.Name(), err)
		}
	}
	return export, nil
}

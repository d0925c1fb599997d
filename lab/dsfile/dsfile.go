// Package dsfile finds the files behind a vcsim model's virtual disks as
// ESXi does: the flat extent is the file the disk's descriptor names in its
// extent line, which need not be the descriptor's name with "-flat" (a
// descriptor renamed by hand keeps naming its old extent). The lab's
// changed block tracking, guest workload and guest model all find a disk's
// data here, so none of them guesses a name the product must not guess.
package dsfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vmdk"
)

// descriptorMax bounds a descriptor read (ESXi's are below 1 KiB).
const descriptorMax = 64 << 10

// Local maps "[ds] dir/x.vmdk" to the file behind it on the model's
// datastore directory.
func Local(m *simulator.Model, fileName string) (string, error) {
	var p object.DatastorePath
	if !p.FromString(fileName) || p.Path == "" {
		return "", fmt.Errorf("disk path %q is not a datastore path", fileName)
	}
	for _, o := range m.Map().All("Datastore") {
		if ds, ok := o.(*simulator.Datastore); ok && ds.Name == p.Datastore {
			return filepath.Join(ds.Info.GetDatastoreInfo().Url, filepath.FromSlash(p.Path)), nil
		}
	}
	return "", fmt.Errorf("datastore %s not found", p.Datastore)
}

// Flat returns the local path of the flat extent of the disk whose
// descriptor is "[ds] dir/x.vmdk", read from the descriptor's first extent.
func Flat(m *simulator.Model, fileName string) (string, error) {
	desc, err := Local(m, fileName)
	if err != nil {
		return "", err
	}
	return FlatOf(desc)
}

// FlatOf returns the local path of the flat extent named by the descriptor
// at the local path desc (an error for a disk without one: RDM, sparse
// delta, vSAN, vVols).
func FlatOf(desc string) (string, error) {
	f, err := os.Open(desc)
	if err != nil {
		return "", err
	}
	defer f.Close()
	d, err := vmdk.ParseDescriptor(io.LimitReader(f, descriptorMax))
	if err != nil {
		return "", fmt.Errorf("descriptor %s: %w", filepath.Base(desc), err)
	}
	if len(d.Extent) == 0 || d.Extent[0].Info == "" {
		return "", fmt.Errorf("descriptor %s names no extent", filepath.Base(desc))
	}
	if t := d.Extent[0].Type; t != "VMFS" && t != "FLAT" {
		return "", fmt.Errorf("descriptor %s: a %s extent, not a flat one", filepath.Base(desc), t)
	}
	x := d.Extent[0].Info
	if strings.ContainsAny(x, `/\`) {
		return "", fmt.Errorf("descriptor %s: extent %q is not in its folder", filepath.Base(desc), x)
	}
	return filepath.Join(filepath.Dir(desc), x), nil
}

package vsphere

import "github.com/vmware/govmomi/object"

// DatastorePath is "[datastore] path/to/file".
type DatastorePath = object.DatastorePath

package vcd

import (
	"bytes"
	"encoding/xml"
	"reflect"
	"testing"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

type xmlName struct{ Space, Local string }

// shape lists the root element, its non-namespace attributes, and its
// children, each with its resolved namespace.
func shape(t *testing.T, body any) (root xmlName, attrs []string, children []xmlName) {
	t.Helper()
	b, err := xml.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	depth := 0
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		switch e := tok.(type) {
		case xml.StartElement:
			depth++
			switch depth {
			case 1:
				root = xmlName{e.Name.Space, e.Name.Local}
				for _, a := range e.Attr {
					if a.Name.Space == "" && a.Name.Local != "xmlns" {
						attrs = append(attrs, a.Name.Local)
					}
				}
			case 2:
				children = append(children, xmlName{e.Name.Space, e.Name.Local})
			}
		case xml.EndElement:
			depth--
		}
	}
	return root, attrs, children
}

// TestImportBodiesFollowTheSchema: the import bodies have the elements of
// vmwextensions.xsd's ImportVmAsVAppParamsType and
// ImportVmIntoExistingVAppParamsType, in schema order and namespaces: the
// VM's name is VmName (ImportVmIntoExistingVAppParams has no name
// attribute); VdcStorageProfile, Vdc and VApp are vCloud references in the
// extension namespace (the type declares them); only Description, inherited
// from ParamsType, is in the vCloud namespace. The lab's Cloud Director
// validates bodies against the same content models.
func TestImportBodiesFollowTheSchema(t *testing.T) {
	ext, vc := types.XMLNamespaceExtension, types.XMLNamespaceVCloud
	sp := wrapStoragePolicy(&types.Reference{HREF: "https://vcd/api/vdcStorageProfile/1", Name: "gold"})
	o := ImportOptions{VMName: "WinSrv1", StorageProfile: sp}

	asVApp := importAsVAppParams{Xmlns: vc, XmlnsVmext: ext, Name: "WinSrv1", SourceMove: true, Description: "d",
		VMName: o.VMName, VMMoRef: "vm-42", StorageProfile: o.storageProfile(), Vdc: importHref{HREF: "https://vcd/api/vdc/1"}}
	root, attrs, children := shape(t, asVApp)
	if root != (xmlName{ext, "ImportVmAsVAppParams"}) || !reflect.DeepEqual(attrs, []string{"name", "sourceMove"}) {
		t.Errorf("ImportVmAsVAppParams: root %v attributes %v", root, attrs)
	}
	want := []xmlName{{vc, "Description"}, {ext, "VmName"}, {ext, "VmMoRef"}, {ext, "VdcStorageProfile"}, {ext, "Vdc"}}
	if !reflect.DeepEqual(children, want) {
		t.Errorf("ImportVmAsVAppParams elements\n got %v\nwant %v", children, want)
	}

	into := importIntoVAppParams{Xmlns: vc, XmlnsVmext: ext, SourceMove: true, VMName: o.VMName, VMMoRef: "vm-42",
		StorageProfile: o.storageProfile(), VApp: importHref{HREF: "https://vcd/api/vApp/vapp-1"}}
	root, attrs, children = shape(t, into)
	if root != (xmlName{ext, "ImportVmIntoExistingVAppParams"}) || !reflect.DeepEqual(attrs, []string{"sourceMove"}) {
		t.Errorf("ImportVmIntoExistingVAppParams: root %v attributes %v (the type has no name attribute)", root, attrs)
	}
	want = []xmlName{{ext, "VmName"}, {ext, "VmMoRef"}, {ext, "VdcStorageProfile"}, {ext, "VApp"}}
	if !reflect.DeepEqual(children, want) {
		t.Errorf("ImportVmIntoExistingVAppParams elements\n got %v\nwant %v", children, want)
	}

	// Without options: no VmName, no storage profile.
	_, _, children = shape(t, importIntoVAppParams{Xmlns: vc, XmlnsVmext: ext, VMMoRef: "vm-42", VApp: importHref{HREF: "x"}})
	if want := []xmlName{{ext, "VmMoRef"}, {ext, "VApp"}}; !reflect.DeepEqual(children, want) {
		t.Errorf("minimal body: %v, want %v", children, want)
	}
}

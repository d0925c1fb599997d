package vcdsim

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"strings"
)

// The namespaces of an import body. Cloud Director validates request bodies
// against its XSDs (elementFormDefault qualified): the elements an
// ImportVm*Params type declares itself (VmName, VmMoRef, Vdc, VApp,
// VdcStorageProfile, ...) are in the extension namespace; only what it
// inherits from the vCloud types (VCloudExtension, ParamsType's Description,
// VAppCreationParamsType's VAppParent and InstantiationParams) is in the
// vCloud namespace. Requests that worked against real Cloud Director put
// VmMoRef and Vdc in the extension namespace
// (<ImportVmAsVAppParams xmlns="http://www.vmware.com/vcloud/extension/v1.5" ...><VmMoRef/><Vdc href/>).
const (
	nsVCloud    = "http://www.vmware.com/vcloud/v1.5"
	nsExtension = "http://www.vmware.com/vcloud/extension/v1.5"
)

// schemaElem is one element of a content model sequence.
type schemaElem struct {
	ns, name string
	min, max int // max < 0: unbounded
}

// importSchema is the content model of an import params type.
type importSchema struct {
	root  string
	attrs []string // allowed attributes without a namespace
	seq   []schemaElem
}

var importAsVAppSchema = importSchema{
	root:  "ImportVmAsVAppParams",
	attrs: []string{"name", "sourceMove", "deploy", "powerOn"},
	seq: []schemaElem{
		{nsVCloud, "VCloudExtension", 0, -1},
		{nsVCloud, "Description", 0, 1},
		{nsVCloud, "VAppParent", 0, 1},
		{nsVCloud, "InstantiationParams", 0, 1},
		{nsExtension, "VmName", 0, 1},
		{nsExtension, "VAppScopedLocalId", 0, 1},
		{nsExtension, "ComputerName", 0, 1},
		{nsExtension, "VmMoRef", 1, 1},
		{nsExtension, "VdcStorageProfile", 0, 1},
		{nsExtension, "Vdc", 1, 1},
		{nsExtension, "ImportedDisk", 0, -1},
	},
}

var importIntoVAppSchema = importSchema{
	root:  "ImportVmIntoExistingVAppParams",
	attrs: []string{"sourceMove"},
	seq: []schemaElem{
		{nsVCloud, "VCloudExtension", 0, -1},
		{nsExtension, "VmName", 0, 1},
		{nsExtension, "VmDescription", 0, 1},
		{nsExtension, "VAppScopedLocalId", 0, 1},
		{nsExtension, "ComputerName", 0, 1},
		{nsExtension, "VmMoRef", 1, 1},
		{nsExtension, "VdcStorageProfile", 0, 1},
		{nsExtension, "VApp", 1, 1},
		{nsExtension, "ImportedDisk", 0, -1},
	},
}

// validate checks body's root element, its attributes and the sequence of
// its children against s, as Cloud Director's schema validation does; the
// message follows Xerces' (cvc-...), which Cloud Director returns.
func (s importSchema) validate(body []byte) error {
	d := xml.NewDecoder(bytes.NewReader(body))
	depth := 0
	pos := 0  // index in s.seq
	seen := 0 // occurrences of s.seq[pos]
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("cannot parse request body: %v", err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			depth++
			switch depth {
			case 1:
				if e.Name.Space != nsExtension || e.Name.Local != s.root {
					return fmt.Errorf("cvc-elt.1: Cannot find the declaration of element '%s' (want %s in namespace %s)", qname(e.Name), s.root, nsExtension)
				}
				for _, a := range e.Attr {
					if a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns" {
						continue
					}
					if a.Name.Space != "" || !slices.Contains(s.attrs, a.Name.Local) {
						return fmt.Errorf("cvc-complex-type.3.2.2: Attribute '%s' is not allowed to appear in element '%s'", a.Name.Local, s.root)
					}
				}
			case 2:
				for {
					if pos >= len(s.seq) {
						return fmt.Errorf("cvc-complex-type.2.4.d: Invalid content was found starting with element '%s'. No child element is expected at this point", qname(e.Name))
					}
					want := s.seq[pos]
					if e.Name.Space == want.ns && e.Name.Local == want.name {
						if want.max >= 0 && seen >= want.max {
							pos, seen = pos+1, 0
							continue
						}
						seen++
						break
					}
					if seen < want.min {
						return fmt.Errorf("cvc-complex-type.2.4.a: Invalid content was found starting with element '%s'. One of '%s' is expected", qname(e.Name), s.expected(pos))
					}
					pos, seen = pos+1, 0
				}
			}
		case xml.EndElement:
			depth--
		}
	}
	for ; pos < len(s.seq); pos, seen = pos+1, 0 {
		if seen < s.seq[pos].min {
			return fmt.Errorf("cvc-complex-type.2.4.b: The content of element '%s' is not complete. One of '%s' is expected", s.root, s.expected(pos))
		}
	}
	return nil
}

// expected lists what may come at pos: the elements up to and including
// the first required one.
func (s importSchema) expected(pos int) string {
	var out []string
	for _, e := range s.seq[pos:] {
		out = append(out, `"`+e.ns+`":`+e.name)
		if e.min > 0 {
			break
		}
	}
	return "{" + strings.Join(out, ", ") + "}"
}

func qname(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return `"` + n.Space + `":` + n.Local
}

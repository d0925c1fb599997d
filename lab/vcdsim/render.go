package vcdsim

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

const (
	xmlnsVcloud  = "http://www.vmware.com/vcloud/v1.5"
	mimeTask     = "application/vnd.vmware.vcloud.task+xml"
	mimeOrg      = "application/vnd.vmware.vcloud.org+xml"
	mimeAdminOrg = "application/vnd.vmware.admin.organization+xml"
	mimeVdc      = "application/vnd.vmware.vcloud.vdc+xml"
	mimeVApp     = "application/vnd.vmware.vcloud.vApp+xml"
	mimeVM       = "application/vnd.vmware.vcloud.vm+xml"
	mimeOrgRight = "application/vnd.vmware.admin.org.rights+xml"
	mimeRight    = "application/vnd.vmware.admin.right+xml"
	mimeJSON     = "application/json"
)

// writeXML marshals v under the root element name root (v56 types mostly
// lack XMLName, so the root is chosen here).
func writeXML(w http.ResponseWriter, status int, mime, root string, v any) {
	if mime == "" {
		mime = "application/*+xml"
	}
	w.Header().Set("Content-Type", mime+";version=38.1")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, xml.Header)
	enc := xml.NewEncoder(w)
	start := xml.StartElement{Name: xml.Name{Local: root}, Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: xmlnsVcloud}}}
	if err := enc.EncodeElement(v, start); err != nil {
		_, _ = fmt.Fprintf(w, "<!-- encode: %v -->", err)
	}
	_ = enc.Flush()
}

// writeJSON never writes an empty body: the client treats one as an error.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil || len(b) == 0 || string(b) == "null" {
		b = []byte("{}")
	}
	w.Header().Set("Content-Type", mimeJSON+";version=38.1")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, openAPI bool, status int, code, msg string) {
	if code == "" {
		code = strings.ToUpper(strings.ReplaceAll(http.StatusText(status), " ", "_"))
	}
	if openAPI {
		writeJSON(w, status, types.OpenApiError{MinorErrorCode: code, Message: msg, StackTrace: "vcdsim: " + msg})
		return
	}
	writeXML(w, status, "application/vnd.vmware.vcloud.error+xml", "Error", &types.Error{
		MajorErrorCode: status, MinorErrorCode: code, Message: msg,
	})
}

// readXML / readJSON decode a request body; on failure they answer 400.
func (c *reqCtx) readXML(v any) bool {
	b, err := io.ReadAll(io.LimitReader(c.r.Body, 8<<20))
	if err == nil {
		err = xml.Unmarshal(b, v)
	}
	if err != nil {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "cannot parse request body: %v", err)
		return false
	}
	return true
}

func (c *reqCtx) readJSON(v any) bool {
	b, err := io.ReadAll(io.LimitReader(c.r.Body, 8<<20))
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "cannot parse request body: %v", err)
		return false
	}
	return true
}

func (c *reqCtx) xml(status int, mime, root string, v any) { writeXML(c.w, status, mime, root, v) }
func (c *reqCtx) json(status int, v any)                   { writeJSON(c.w, status, v) }

// newUUID is a random RFC 4122 version 4 UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return fmtUUID(b[:], 4)
}

// nameUUID is a stable UUID (version 5 style) derived from a name, so that
// rights and other catalogue entries keep their ids across runs.
func nameUUID(parts ...string) string {
	h := sha1.Sum([]byte(strings.Join(parts, "\x00")))
	return fmtUUID(h[:16], 5)
}

func fmtUUID(b []byte, version byte) string {
	b[6] = b[6]&0x0f | version<<4
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// bareID strips a URN prefix: urn:vcloud:org:<uuid> -> <uuid>.
func bareID(id string) string {
	if i := strings.LastIndex(id, ":"); i >= 0 {
		return id[i+1:]
	}
	return id
}

func urn(kind, uuid string) string { return "urn:vcloud:" + kind + ":" + uuid }

package nsx

import (
	"encoding/base64"
	"strings"
	"testing"
)

// The example of the NSX Autonomous Edge API reference, wrapped as printed there.
const docPeerCode = `MCwwYTMyNWE4LHsic2l0ZU5hbWUiOiJJUFNlY1ZQTl9Sb3V0ZUJhc2VzZFNlc3Npb25fMDAxIiwic3JjVGFwSXAiOiIx
NjkuMjU0LjY0LjIiLCJkc3RUYXBJcCI6IjE2OS4yNTQuNjQuMSIsImlrZU9wdGlvbiI6ImlrZXYyIiwiZW5jYXBQcm90
byI6ImdyZS9pcHNlYyIsImRoR3JvdXAiOiJkaDE0IiwiZW5jcnlwdEFuZERpZ2VzdCI6ImFlcy1nY20vc2hhLTI1NiIs
InBzayI6InBhbmthaiIsInR1bm5lbHMiOlt7ImxvY2FsSWQiOiIxLjEuNS4xMDAiLCJwZWVySWQiOiIxOTIuMTY4LjEy
OC4xIiwibG9jYWxWdGlJcCI6IjE5Mi4xNjguMS4yLzI0In1dfQ==`

func TestDecodePeerCode(t *testing.T) {
	pc, err := DecodePeerCode(docPeerCode)
	if err != nil {
		t.Fatal(err)
	}
	if pc.Version != "0" || pc.Checksum != "0a325a8" || pc.SiteName != "IPSecVPN_RouteBasesdSession_001" ||
		pc.PSK != "pankaj" || pc.IKEOption != "ikev2" || pc.EncapProto != "gre/ipsec" || pc.DHGroup != "dh14" ||
		pc.EncryptAndDigest != "aes-gcm/sha-256" || pc.SrcTapIP != "169.254.64.2" || pc.DstTapIP != "169.254.64.1" {
		t.Fatalf("decoded %+v", pc)
	}
	if len(pc.Tunnels) != 1 || pc.Tunnels[0] != (PeerTunnel{LocalID: "1.1.5.100", PeerID: "192.168.128.1", LocalVTIIP: "192.168.1.2/24"}) {
		t.Fatalf("tunnels %+v", pc.Tunnels)
	}

	desc := pc.Describe()
	var lines []string
	for _, f := range desc {
		lines = append(lines, f.Name+"="+f.Value)
	}
	all := strings.Join(lines, "\n")
	if strings.Contains(all, "pankaj") || !strings.Contains(all, "pre-shared key=present (hidden)") ||
		!strings.Contains(all, "server endpoint=1.1.5.100") || !strings.Contains(all, "client endpoint=192.168.128.1") {
		t.Fatalf("Describe:\n%s", all)
	}
}

func TestDecodePeerCodeIsTolerant(t *testing.T) {
	json := `{"site_name":"s1","PSK":"k","Tunnels":[{"local_id":"10.0.0.1","peer-id":"10.0.0.2"}],"mtu":1500}`
	code := `"` + base64.RawURLEncoding.EncodeToString([]byte("0,abc,"+json)) + `"`
	pc, err := DecodePeerCode(code)
	if err != nil {
		t.Fatal(err)
	}
	if pc.SiteName != "s1" || pc.PSK != "k" || len(pc.Tunnels) != 1 || pc.Tunnels[0].LocalID != "10.0.0.1" || pc.Tunnels[0].PeerID != "10.0.0.2" {
		t.Fatalf("decoded %+v", pc)
	}
	found := false
	for _, f := range pc.Describe() {
		found = found || (f.Name == "mtu" && f.Value == "1500")
	}
	if !found {
		t.Errorf("unknown key missing from Describe: %+v", pc.Describe())
	}
	if !SamePeerCode(docPeerCode, strings.ReplaceAll(docPeerCode, "\n", "")) {
		t.Error("SamePeerCode ignores line breaks")
	}
}

func TestDecodePeerCodeErrors(t *testing.T) {
	for code, want := range map[string]string{
		"":                 "peer code is empty",
		"   \n":            "peer code is empty",
		"%%% not base64 !": "not base64",
		base64.StdEncoding.EncodeToString([]byte("hello world")):  "not an L2VPN peer code",
		base64.StdEncoding.EncodeToString([]byte("0,abc,[1,2]")):  "not an L2VPN peer code",
		base64.StdEncoding.EncodeToString([]byte("0,abc,{oops}")): "not valid JSON",
	} {
		if _, err := DecodePeerCode(code); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("DecodePeerCode(%q) = %v, want an error mentioning %q", code, err, want)
		}
	}
}

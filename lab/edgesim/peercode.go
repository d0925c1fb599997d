package edgesim

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
)

// A peer code is base64 of "<version>,<checksum>,<json>". The JSON carries
// the IPsec parameters of the server's session (siteName, psk, tunnels...).
// NSX does not document the checksum algorithm, so the edge only checks that
// one is present; the lab computes it as CRC-32 (IEEE) of the JSON, in hex.

// PeerCodeInfo is what MakePeerCode puts into a peer code.
type PeerCodeInfo struct {
	SiteName string // the server session's name
	PSK      string
	LocalID  string // the server's local endpoint IP
	PeerID   string // the client's (remote endpoint) IP
}

// MakePeerCode builds a peer code shaped like the one an NSX-T L2VPN server
// hands out, for the lab and for tests.
func MakePeerCode(info PeerCodeInfo) string {
	body, _ := json.Marshal(map[string]any{
		"siteName":         info.SiteName,
		"srcTapIp":         "169.254.64.1",
		"dstTapIp":         "169.254.64.2",
		"ikeOption":        "ikev2",
		"encapProto":       "gre/ipsec",
		"dhGroup":          "dh14",
		"encryptAndDigest": "aes-gcm/sha-256",
		"psk":              info.PSK,
		"tunnels": []map[string]string{{
			"localId":    info.LocalID,
			"peerId":     info.PeerID,
			"localVtiIp": "169.254.64.1/31",
		}},
	})
	raw := fmt.Sprintf("0,%x,%s", crc32.ChecksumIEEE(body), body)
	return base64.StdEncoding.EncodeToString([]byte(raw))
}

// checkPeerCode validates the form of a peer code; the error says what is
// wrong. The JSON's keys are not checked: the lab's Cloud Director simulator
// may fill them differently, and only the whole code has to match.
func checkPeerCode(code string) error {
	code = strings.Join(strings.Fields(code), "") // pasted codes wrap
	if code == "" {
		return errors.New("peer_code is empty")
	}
	raw, err := base64.StdEncoding.DecodeString(code)
	if err != nil {
		if raw, err = base64.RawStdEncoding.DecodeString(code); err != nil {
			return fmt.Errorf("peer_code is not valid base64: %v", err)
		}
	}
	parts := strings.SplitN(string(raw), ",", 3)
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return errors.New(`peer_code does not decode to "<version>,<checksum>,<json>"`)
	}
	var fields map[string]any
	if err := json.Unmarshal([]byte(parts[2]), &fields); err != nil {
		return fmt.Errorf("peer_code configuration is not valid JSON: %v", err)
	}
	return nil
}

package nsx

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// PeerCode is the content of the peer code an NSX-T L2VPN server (the Cloud
// Director edge gateway's tunnel) hands out: base64 of
// "<version>,<checksum>,<json>". The JSON's keys are not documented and vary
// between versions, so they are matched loosely (case, "_" and "-" ignored)
// and every field is kept in Fields. The checksum is not verified: its
// algorithm is not published.
type PeerCode struct {
	Version  string
	Checksum string

	SiteName         string
	PSK              string
	IKEOption        string // e.g. ikev2
	EncapProto       string // e.g. gre/ipsec
	DHGroup          string
	EncryptAndDigest string
	SrcTapIP         string
	DstTapIP         string
	Tunnels          []PeerTunnel

	// Fields holds the whole JSON configuration as decoded.
	Fields map[string]any
}

// PeerTunnel is one IPsec tunnel of a peer code. LocalID is the server's
// endpoint, PeerID the endpoint it expects the client at.
type PeerTunnel struct {
	LocalID    string
	PeerID     string
	LocalVTIIP string
}

// Field is one line of a peer code description.
type Field struct {
	Name  string
	Value string
}

// DecodePeerCode decodes a peer code as pasted by a person: whitespace and
// line breaks inside it and surrounding quotes are ignored.
func DecodePeerCode(code string) (PeerCode, error) {
	code = normalizePeerCode(code)
	if code == "" {
		return PeerCode{}, errors.New("peer code is empty")
	}
	var raw []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err = enc.DecodeString(code); err == nil {
			break
		}
	}
	if err != nil {
		return PeerCode{}, fmt.Errorf("peer code is not base64 (%v): copy it again from the Cloud Director tunnel", err)
	}
	parts := strings.SplitN(string(raw), ",", 3)
	if len(parts) != 3 || strings.TrimSpace(parts[0]) == "" || !strings.HasPrefix(strings.TrimSpace(parts[2]), "{") {
		return PeerCode{}, errors.New(`peer code does not decode to "<version>,<checksum>,{json}": it is not an L2VPN peer code`)
	}
	pc := PeerCode{Version: strings.TrimSpace(parts[0]), Checksum: strings.TrimSpace(parts[1])}
	if err := json.Unmarshal([]byte(parts[2]), &pc.Fields); err != nil {
		return PeerCode{}, fmt.Errorf("peer code configuration is not valid JSON: %v", err)
	}
	f := pc.Fields
	pc.SiteName = str(f, "sitename")
	pc.PSK = str(f, "psk")
	pc.IKEOption = str(f, "ikeoption")
	pc.EncapProto = str(f, "encapproto")
	pc.DHGroup = str(f, "dhgroup")
	pc.EncryptAndDigest = str(f, "encryptanddigest")
	pc.SrcTapIP = str(f, "srctapip")
	pc.DstTapIP = str(f, "dsttapip")
	if ts, ok := lookup(f, "tunnels").([]any); ok {
		for _, t := range ts {
			m, ok := t.(map[string]any)
			if !ok {
				continue
			}
			pc.Tunnels = append(pc.Tunnels, PeerTunnel{
				LocalID:    str(m, "localid"),
				PeerID:     str(m, "peerid"),
				LocalVTIIP: str(m, "localvtiip"),
			})
		}
	}
	return pc, nil
}

// Describe lists what the peer code says, for display; the pre-shared key
// is only said to be present.
func (p PeerCode) Describe() []Field {
	var out []Field
	add := func(name, value string) {
		if value != "" {
			out = append(out, Field{name, value})
		}
	}
	add("site", p.SiteName)
	for i, t := range p.Tunnels {
		suffix := ""
		if len(p.Tunnels) > 1 {
			suffix = fmt.Sprintf(" %d", i+1)
		}
		add("server endpoint"+suffix, t.LocalID)
		add("client endpoint"+suffix, t.PeerID)
	}
	add("IKE", strings.Join(nonEmpty(p.IKEOption, p.DHGroup, p.EncryptAndDigest), ", "))
	add("encapsulation", p.EncapProto)
	if p.PSK != "" {
		out = append(out, Field{"pre-shared key", "present (hidden)"})
	}
	// Keys the fields above do not cover, so nothing in the code is hidden
	// from the person checking it.
	known := map[string]bool{"sitename": true, "psk": true, "ikeoption": true, "encapproto": true, "dhgroup": true,
		"encryptanddigest": true, "srctapip": true, "dsttapip": true, "tunnels": true}
	var extra []string
	for k := range p.Fields {
		if !known[normKey(k)] {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		add(k, fmt.Sprint(p.Fields[k]))
	}
	return out
}

// SamePeerCode reports whether two peer codes are the same code, ignoring
// the whitespace and quotes that copying adds.
func SamePeerCode(a, b string) bool {
	return normalizePeerCode(a) == normalizePeerCode(b)
}

func normalizePeerCode(code string) string {
	code = strings.Join(strings.Fields(code), "")
	return strings.Trim(code, `"'`)
}

func normKey(k string) string {
	return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(k))
}

func lookup(m map[string]any, key string) any {
	for k, v := range m {
		if normKey(k) == key {
			return v
		}
	}
	return nil
}

func str(m map[string]any, key string) string {
	switch v := lookup(m, key).(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		return fmt.Sprint(v)
	}
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

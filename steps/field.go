package steps

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode"

	"github.com/ferry-migrate/ferry/replication"
)

// Field is one answer a step needs. The TUI renders it as a form input (title,
// description, default as placeholder, Validate on every keystroke); the
// headless runner checks the plan file with the same Validate. Values are
// strings because that is what both front ends hold.
type Field struct {
	// Key is the field's path in the plan file ("appliance.ip").
	Key         string
	Title       string
	Description string
	Required    bool
	// RequiredWhen makes the field required for some other answers (the
	// receiver appliance, unless the receiver kind is nfs).
	RequiredWhen func(pf *PlanFile) bool
	// Default returns the value used when the plan leaves the field empty
	// (it may derive from other answers); nil means no default.
	Default func(pf *PlanFile) string
	Get     func(pf *PlanFile) string
	Set     func(pf *PlanFile, v string)
	// Validate checks a non-empty value; pf gives the other answers for
	// cross-field checks (a gateway inside the appliance's subnet). The
	// message names the value and what would be valid; Check adds the key.
	Validate func(v string, pf *PlanFile) error
	// Bool marks a true/false answer: front ends offer a toggle, and read
	// it with ParseBool.
	Bool bool
	// Each, of a field that answers for several items at once (step 5's
	// options, for the VMs selected together), says in words how the
	// items' own answers differ ("as each VM has it: on for WebApp1; off
	// for WebApp3"), or "" when they agree or the field answers for all.
	// While it says so, the empty value keeps each item's own answer: a
	// front end shows the words in its place, fills no default in, and
	// needs no value of a required field; a Bool field offers it beside
	// true and false (one answer for all).
	Each func(pf *PlanFile) string
	// Offer, of a field whose pick list depends on the answers given
	// (step 5's storage policy, for VMs whose own policies differ or
	// not), is what a front end offers out of the choices Env.Choices
	// listed: their notes as they hold for pf, and answers of its own
	// (PolicyDefaultForAll). nil: the choices listed, as they are.
	Offer func(pf *PlanFile, listed []Choice) []Choice
	// List marks an answer of comma-separated entries (the networks'
	// port group=network pairs): a front end's pick list completes the
	// entry being typed, the last, and leaves the others.
	List bool
}

// FieldError is a bad or missing answer.
type FieldError struct {
	Key string
	Err error
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// IsRequired says whether the field needs an answer given the others.
func (f Field) IsRequired(pf *PlanFile) bool {
	return f.Required || (f.RequiredWhen != nil && f.RequiredWhen(pf))
}

// Check validates the field's current value in pf.
func (f Field) Check(pf *PlanFile) error {
	v := f.Get(pf)
	if strings.TrimSpace(v) == "" {
		// A default is not validated: when it derives from another answer,
		// that answer reports its own problem. Each item's own answer
		// (Each) is theirs.
		if f.IsRequired(pf) && (f.Default == nil || f.Default(pf) == "") && (f.Each == nil || f.Each(pf) == "") {
			return &FieldError{f.Key, fmt.Errorf("is required: %s", f.Description)}
		}
		return nil
	}
	if f.Validate == nil {
		return nil
	}
	if err := f.Validate(v, pf); err != nil {
		return &FieldError{f.Key, err}
	}
	return nil
}

// Value is the field's value in pf, or its default.
func (f Field) Value(pf *PlanFile) string {
	if v := f.Get(pf); v != "" {
		return v
	}
	if f.Default != nil {
		return f.Default(pf)
	}
	return ""
}

func fixed(v string) func(*PlanFile) string { return func(*PlanFile) string { return v } }

// The validators below are shared by the plan file, the TUI forms and the
// steps themselves. Each takes the value and ignores pf unless it needs
// another answer.

// ValidName accepts a vSphere / Cloud Director object name.
func ValidName(v string, _ *PlanFile) error {
	switch {
	case strings.TrimSpace(v) != v:
		return fmt.Errorf("%q has leading or trailing spaces", v)
	case len(v) > 80:
		return fmt.Errorf("%q is %d characters long; names are at most 80", v, len(v))
	case strings.ContainsAny(v, `/\`):
		return fmt.Errorf("%q contains a slash; names cannot contain / or \\", v)
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return fmt.Errorf("%q contains a control character", v)
		}
	}
	return nil
}

// ValidIPv4 accepts a dotted IPv4 address.
func ValidIPv4(v string, _ *PlanFile) error {
	a, err := netip.ParseAddr(v)
	if err != nil || !a.Is4() {
		return fmt.Errorf("%q is not an IPv4 address (want e.g. 172.16.10.250)", v)
	}
	if a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return fmt.Errorf("%q cannot be a host address (want e.g. 172.16.10.250)", v)
	}
	return nil
}

// ValidPrefix accepts an IPv4 prefix length that leaves room for hosts.
func ValidPrefix(v string, _ *PlanFile) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 30 {
		return fmt.Errorf("%q is not a prefix length: want a number from 1 to 30 (e.g. 24)", v)
	}
	return nil
}

// ValidGatewayCIDR accepts a gateway address with its prefix, e.g.
// 172.16.10.1/24: a host address, not the network or broadcast address.
func ValidGatewayCIDR(v string, _ *PlanFile) error {
	p, err := netip.ParsePrefix(v)
	if err != nil || !p.Addr().Is4() {
		return fmt.Errorf("%q is not a gateway in CIDR notation (want e.g. 172.16.10.1/24)", v)
	}
	if p.Bits() < 1 || p.Bits() > 30 {
		return fmt.Errorf("%q: prefix /%d leaves no room for hosts; want /1 to /30 (e.g. 172.16.10.1/24)", v, p.Bits())
	}
	if p.Addr() == p.Masked().Addr() {
		return fmt.Errorf("%q is the network address; the gateway needs a host address such as %s/%d", v, p.Addr().Next(), p.Bits())
	}
	if p.Addr() == broadcast(p) {
		return fmt.Errorf("%q is the broadcast address; the gateway needs a host address such as %s/%d", v, p.Masked().Addr().Next(), p.Bits())
	}
	return nil
}

func broadcast(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	n := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	n |= 1<<(32-p.Bits()) - 1
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// ValidRPO accepts an RPO as a plan writes it (replication.ParseRPO: a
// Go duration between replication.MinRPO and MaxRPO).
func ValidRPO(v string, _ *PlanFile) error {
	_, err := replication.ParseRPO(v)
	return err
}

// ValidBool accepts true/false (and the other spellings strconv knows).
func ValidBool(v string, _ *PlanFile) error {
	if _, err := strconv.ParseBool(v); err != nil {
		return fmt.Errorf("%q is not true or false", v)
	}
	return nil
}

// inSubnet returns a validator accepting an IPv4 address inside the subnet
// given by two other fields (address and prefix length), e.g. a gateway
// that must be reachable from the appliance's own address.
func inSubnet(addrKey string, addr, prefix func(*PlanFile) string) func(string, *PlanFile) error {
	return func(v string, pf *PlanFile) error {
		if err := ValidIPv4(v, pf); err != nil {
			return err
		}
		a, err1 := netip.ParseAddr(addr(pf))
		bits, err2 := strconv.Atoi(prefix(pf))
		if err1 != nil || err2 != nil {
			return nil // the other fields report their own errors
		}
		p, err := a.Prefix(bits)
		if err != nil {
			return nil
		}
		if !p.Contains(netip.MustParseAddr(v)) {
			return fmt.Errorf("%q is not in %s's subnet %s (want an address in %s)", v, addrKey, p, p)
		}
		if netip.MustParseAddr(v) == a {
			return fmt.Errorf("%q is %s itself (want another address in %s)", v, addrKey, p)
		}
		return nil
	}
}

package replication

import (
	"fmt"
	"strings"
	"time"
)

// RPO is a recovery point objective: how old a VM's replica may get. Plans
// write it as a Go duration ("5m"); ParseRPO reads it once, at plan load,
// and checks it against the one valid range (MinRPO to MaxRPO).
type RPO time.Duration

// RPO bounds accepted by the scheduler and by plans.
const (
	MinRPO = time.Minute
	MaxRPO = 24 * time.Hour
)

// rpoRange is the valid range as plans write it.
const rpoRange = "between 1m and 24h (e.g. 5m)"

// ParseRPO reads an RPO as a plan writes it ("5m", "1h30m") and checks its
// range; the error names the value and the valid range.
func ParseRPO(s string) (RPO, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration: the RPO must be %s", s, rpoRange)
	}
	if err := RPO(d).check(fmt.Sprintf("%q", s)); err != nil {
		return 0, err
	}
	return RPO(d), nil
}

// Validate checks the RPO against the valid range.
func (r RPO) Validate() error { return r.check(r.String()) }

func (r RPO) check(shown string) error {
	if d := time.Duration(r); d < MinRPO || d > MaxRPO {
		return fmt.Errorf("%s is out of range: the RPO must be %s", shown, rpoRange)
	}
	return nil
}

// ValidateRPO checks a duration as an RPO (RPO.Validate).
func ValidateRPO(rpo time.Duration) error { return RPO(rpo).Validate() }

// Duration is the RPO as a time.Duration.
func (r RPO) Duration() time.Duration { return time.Duration(r) }

// String writes the RPO as plans do: "5m", "1h30m", "90s" as "1m30s" (no
// trailing zero units).
func (r RPO) String() string {
	s := time.Duration(r).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// MarshalText writes the RPO as String does (plan files keep "5m").
func (r RPO) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads an RPO as ParseRPO does.
func (r *RPO) UnmarshalText(b []byte) error {
	v, err := ParseRPO(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

package replication

import (
	"strings"
	"testing"
	"time"
)

func TestParseRPO(t *testing.T) {
	for in, want := range map[string]time.Duration{"1m": time.Minute, "5m": 5 * time.Minute, " 15m ": 15 * time.Minute, "1h30m": 90 * time.Minute, "24h": 24 * time.Hour, "90s": 90 * time.Second} {
		got, err := ParseRPO(in)
		if err != nil || got.Duration() != want {
			t.Errorf("ParseRPO(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"30s":  `"30s" is out of range: the RPO must be between 1m and 24h (e.g. 5m)`,
		"25h":  `"25h" is out of range: the RPO must be between 1m and 24h (e.g. 5m)`,
		"0":    `"0" is out of range`,
		"-5m":  `"-5m" is out of range`,
		"soon": `"soon" is not a duration: the RPO must be between 1m and 24h (e.g. 5m)`,
		"":     `"" is not a duration`,
		"5":    `"5" is not a duration`,
	} {
		if _, err := ParseRPO(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseRPO(%q) = %v, want %q", in, err, want)
		}
	}
}

func TestValidateRPO(t *testing.T) {
	for _, d := range []time.Duration{0, 30 * time.Second, 25 * time.Hour} {
		err := ValidateRPO(d)
		if err == nil || !strings.Contains(err.Error(), "out of range: the RPO must be between 1m and 24h") || !strings.Contains(err.Error(), RPO(d).String()) {
			t.Errorf("ValidateRPO(%s) = %v", d, err)
		}
	}
	for _, d := range []time.Duration{MinRPO, 15 * time.Minute, MaxRPO} {
		if err := ValidateRPO(d); err != nil {
			t.Errorf("ValidateRPO(%s) = %v", d, err)
		}
	}
}

// TestRPOText: an RPO is written as plans write it, and reads back equal.
func TestRPOText(t *testing.T) {
	for in, want := range map[string]string{"1m": "1m", "5m": "5m", "1h": "1h", "24h": "24h", "1h30m": "1h30m", "90s": "1m30s", "2h0m": "2h", "1m0.5s": "1m0.5s"} {
		r, err := ParseRPO(in)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := r.MarshalText()
		if string(b) != want || r.String() != want {
			t.Errorf("%q written as %q / %q, want %q", in, b, r, want)
		}
		var back RPO
		if err := back.UnmarshalText(b); err != nil || back != r {
			t.Errorf("%q read back as %s, %v", b, back, err)
		}
	}
	var r RPO
	if err := r.UnmarshalText([]byte("30s")); err == nil || !strings.Contains(err.Error(), "between 1m and 24h") || r != 0 {
		t.Errorf("UnmarshalText(30s) = %v, left %s", err, r)
	}
}

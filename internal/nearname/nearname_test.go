package nearname

import "testing"

func TestHint(t *testing.T) {
	names := []string{"LinuxDB1", "WebApp1", "WebApp2", "WebApp3", "WinSrv1", "ferry-receiver"}
	for _, tc := range []struct{ n, want string }{
		{"webapp2", " (names are case-sensitive: did you mean WebApp2?)"},
		{"WebAp2", " (did you mean WebApp2?)"},
		{"WbeApp2", " (did you mean WebApp2?)"},
		{"WebApp9", " (did you mean WebApp1, WebApp2 or WebApp3?)"},
		{"WebApp", " (did you mean WebApp1, WebApp2 or WebApp3?)"},
		{"LinuxDB", " (did you mean LinuxDB1?)"},
		{"zzz", ""},
		{"DB1", ""},
		{"Oracle1", ""},
	} {
		if got := Hint(tc.n, names); got != tc.want {
			t.Errorf("Hint(%q) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

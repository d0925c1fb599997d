package tui

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"github.com/ferry-migrate/ferry/steps"
)

// TestPasswordPromptOffersToken (QA: asked for the tenant's Cloud Director
// password, the wizard's prompt never said that an API token logs in
// instead, which an org whose users log in through SAML, OIDC or with MFA
// needs, and at 80 columns it cut the variable to set: "(FERR…"): the
// prompt for a Cloud Director login's password names that login's token
// settings and that ferry must be started again to read them, within 80
// columns; its help bar offers its own keys, not ? and q (typed into it);
// esc's error says the same. A secret that has no token (a vCenter's, the
// L2VPN key) offers none. The typed secret is never shown.
func TestPasswordPromptOffersToken(t *testing.T) {
	for _, c := range []struct {
		name, what string
		want       []string
	}{
		{"FERRY_TENANT_PASSWORD", "the tenant organization administrator's password",
			[]string{"FERRY_TENANT_API_TOKEN or FERRY_TENANT_API_TOKEN_FILE", "tenant.api_token or tenant.api_token_file"}},
		{"VCD_PASSWORD", "the Cloud Director provider administrator's password",
			[]string{"VCD_API_TOKEN or VCD_API_TOKEN_FILE", "vcd.api_token or vcd.api_token_file"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, setup{})
			h.start(80, 24)
			reply := make(chan secretReply, 1)
			h.send(secretAskMsg{Name: c.name, What: c.what, Reply: reply})
			for _, l := range strings.Split(h.m.View(), "\n") {
				if w := ansi.StringWidth(l); w > 80 {
					t.Errorf("a line is %d wide: %q", w, ansi.Strip(l))
				}
			}
			mustRead(t, h, append([]string{c.what + " (" + c.name + " is not set)",
				"or log in with an API token instead", "and start ferry again"}, c.want...)...)
			if f := footerLine(h); !strings.Contains(f, "enter use it") || !strings.Contains(f, "esc cancel") || strings.Contains(f, "quit") || strings.Contains(f, "help") {
				t.Errorf("help bar under the prompt: %q, want its keys (enter, esc) only", f)
			}
			h.typeText("s3cret-typed")
			h.mustNotSee(t, "s3cret-typed")
			h.send(press("esc"))
			r := <-reply
			if r.Err == nil {
				t.Fatal("esc answered no error")
			}
			for _, w := range append([]string{"or log in with an API token instead", "start ferry again"}, c.want...) {
				if !strings.Contains(r.Err.Error(), w) {
					t.Errorf("esc's error %q lacks %q", r.Err, w)
				}
			}
			if strings.Contains(r.Err.Error(), "s3cret-typed") {
				t.Errorf("esc's error shows the typed secret: %q", r.Err)
			}
		})
	}

	h := newHarness(t, setup{})
	h.start(80, 24)
	reply := make(chan secretReply, 1)
	h.send(secretAskMsg{Name: steps.EnvL2VPNPSK, What: "the L2VPN pre-shared key", Reply: reply})
	h.mustSee(t, "FERRY_L2VPN_PSK is not set")
	h.mustNotSee(t, "API token")
	h.send(press("esc"))
	if r := <-reply; r.Err == nil || strings.Contains(r.Err.Error(), "API token") {
		t.Errorf("esc at the L2VPN key's prompt: %v", r.Err)
	}
}

package tui

import (
	"context"
	"fmt"
	"os"

	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/ferry-migrate/ferry/session"
)

// promptSecret wraps Env.Secret: a secret found in the environment is used
// as before; otherwise the step's goroutine asks the wizard, which shows a
// masked prompt, and waits for the answer. Secrets never reach the plan,
// the state or the log.
func promptSecret(ctx context.Context, fallback func(name, what string) (string, error), asks chan<- secretAskMsg) func(name, what string) (string, error) {
	return func(name, what string) (string, error) {
		if v, ok := os.LookupEnv(name); ok && v != "" {
			return v, nil
		}
		reply := make(chan secretReply, 1)
		select {
		case asks <- secretAskMsg{Name: name, What: what, Reply: reply}:
		case <-ctx.Done():
			if fallback != nil {
				return fallback(name, what)
			}
			return "", ctx.Err()
		}
		select {
		case r := <-reply:
			return r.Value, r.Err
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// secretPrompt is the masked input shown over the current screen.
type secretPrompt struct {
	ask   secretAskMsg
	input textinput.Model
	// instead is where to set an API token for a Cloud Director login
	// asked for its password ("" for other secrets): ferry reads it at
	// its start, so the prompt says to start ferry again.
	instead string
}

func newSecretPrompt(ask secretAskMsg) *secretPrompt {
	in := newInput()
	in.EchoMode = textinput.EchoPassword
	in.Prompt = "> "
	in.Focus()
	return &secretPrompt{ask: ask, input: in, instead: session.TokenInstead(ask.Name)}
}

// tokenHint says how to log in with an API token instead of the password.
func (p *secretPrompt) tokenHint() string {
	return "or log in with an API token instead: esc, q, set " + p.instead + ", and start ferry again"
}

// update returns done once the answer has been sent.
func (p *secretPrompt) update(msg tea.KeyMsg) (bool, tea.Cmd) {
	switch msg.Type {
	case tea.KeyEnter:
		if p.input.Value() == "" {
			return false, flash(p.ask.What + " is empty: type it, or esc to cancel the step")
		}
		p.ask.Reply <- secretReply{Value: p.input.Value()}
		return true, nil
	case tea.KeyEsc:
		err := fmt.Errorf("%s is needed: enter it at the prompt, or set %s in the environment and start ferry again", p.ask.What, p.ask.Name)
		if p.instead != "" {
			err = fmt.Errorf("%w; or log in with an API token instead: set %s, and start ferry again", err, p.instead)
		}
		p.ask.Reply <- secretReply{Err: err}
		return true, nil
	}
	var cmd tea.Cmd
	p.input, cmd = p.input.Update(msg)
	return false, cmd
}

// keys are the prompt's, for the help bar: every other key is typed into
// it (ctrl+c cancels it, as esc).
func (p *secretPrompt) keys() keyMap {
	return keyMap{newKey("enter", "use it", "enter"), newKey("esc", "cancel", "esc")}
}

// view wraps what is asked and the hints (a name cut at 80 columns, such
// as FERRY_TENANT_PASSWORD, was the one thing to set).
func (p *secretPrompt) view(width, height int) string {
	p.input.Width = max(10, width-4)
	out := []string{sTitle.Render("A secret is needed"), ""}
	out = append(out, wrap(p.ask.What+" ("+p.ask.Name+" is not set)", width)...)
	out = append(out, "", p.input.View(), "")
	for _, l := range wrap("enter: use it · esc: cancel · never saved or logged", width) {
		out = append(out, sDim.Render(l))
	}
	if p.instead != "" {
		out = append(out, "")
		for _, l := range wrap(p.tokenHint(), width) {
			out = append(out, sDim.Render(l))
		}
	}
	return box(out, width, height)
}

package tui

import (
	"context"
	"fmt"
	"os"

	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
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
}

func newSecretPrompt(ask secretAskMsg) *secretPrompt {
	in := newInput()
	in.EchoMode = textinput.EchoPassword
	in.Prompt = "> "
	in.Focus()
	return &secretPrompt{ask: ask, input: in}
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
		p.ask.Reply <- secretReply{Err: fmt.Errorf("%s is needed: enter it at the prompt or set %s in the environment", p.ask.What, p.ask.Name)}
		return true, nil
	}
	var cmd tea.Cmd
	p.input, cmd = p.input.Update(msg)
	return false, cmd
}

func (p *secretPrompt) view(width, height int) string {
	p.input.Width = max(10, width-4)
	return box([]string{
		sTitle.Render("A secret is needed"), "",
		trunc(p.ask.What+" ("+p.ask.Name+" is not set)", width), "",
		p.input.View(), "",
		sDim.Render(trunc("enter: use it · esc: cancel · never saved or logged", width)),
	}, width, height)
}

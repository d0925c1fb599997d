package tui

import (
	"errors"
	"strings"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/ferry-migrate/ferry/steps"
)

// form edits a step's fields (steps.Field) in the plan: one text input per
// field, the default as placeholder, the field's own validator run on every
// keystroke, and a pick list under fields whose choices are known (loaded
// asynchronously). It refuses to submit while a field has an error, as huh
// refuses to leave a group.
type form struct {
	w         *wiring
	idx       int
	fields    []formField
	focus     int
	submitted bool // errors of untouched fields show after a submit attempt
}

type formField struct {
	f       steps.Field
	input   textinput.Model
	choices []string
	loading bool
	loadErr error
	pick    int
	touched bool
}

const maxChoices = 5

func newForm(w *wiring, idx int, fields []steps.Field) *form {
	fm := &form{w: w, idx: idx}
	for _, f := range fields {
		in := textinput.New()
		in.Prompt = ""
		in.Cursor.SetMode(cursor.CursorStatic) // a blinking cursor would tick forever
		in.SetValue(f.Get(w.env.Plan))
		switch {
		case f.Default != nil && f.Default(w.env.Plan) != "":
			in.Placeholder = f.Default(w.env.Plan)
		case f.Required:
			in.Placeholder = "required"
		default:
			in.Placeholder = "optional"
		}
		fm.fields = append(fm.fields, formField{f: f, input: in})
	}
	fm.setFocus(0)
	return fm
}

// loadChoices asks the Choices adapter for each field's values, in parallel,
// off the Update loop.
func (fm *form) loadChoices() tea.Cmd {
	var cmds []tea.Cmd
	for i := range fm.fields {
		key, idx, ctx, choices := fm.fields[i].f.Key, fm.idx, fm.w.ctx, fm.w.choices
		fm.fields[i].loading = true
		cmds = append(cmds, func() tea.Msg {
			c, err := choices(ctx, key)
			return choicesMsg{Step: idx, Key: key, Choices: c, Err: err}
		})
	}
	return tea.Batch(cmds...)
}

func (fm *form) setChoices(msg choicesMsg) {
	for i := range fm.fields {
		if ff := &fm.fields[i]; ff.f.Key == msg.Key {
			ff.loading, ff.choices, ff.loadErr = false, msg.Choices, msg.Err
		}
	}
}

func (fm *form) setFocus(i int) {
	if len(fm.fields) == 0 {
		return
	}
	i = (i + len(fm.fields)) % len(fm.fields)
	fm.fields[fm.focus].input.Blur()
	fm.focus = i
	fm.fields[i].input.Focus()
}

// visible are the choices of a field matching what is typed.
func (ff *formField) visible() []string {
	v := strings.ToLower(strings.TrimSpace(ff.input.Value()))
	if v == "" {
		return ff.choices
	}
	var out []string
	exact := false
	for _, c := range ff.choices {
		if strings.Contains(strings.ToLower(c), v) {
			out = append(out, c)
		}
		exact = exact || strings.EqualFold(c, v)
	}
	if exact {
		return nil // nothing left to pick
	}
	return out
}

// complete reports that every field already has a valid answer (a plan
// file filled in beforehand, as the lab's).
func (fm *form) complete() bool {
	for i := range fm.fields {
		ff := &fm.fields[i]
		if fm.fieldErr(ff) != nil || (ff.f.Required && ff.input.Value() == "") {
			return false
		}
	}
	return true
}

// fieldErr is the field's validation message without the key.
func (fm *form) fieldErr(ff *formField) error {
	err := ff.f.Check(fm.w.env.Plan)
	var fe *steps.FieldError
	if errors.As(err, &fe) {
		return fe.Err
	}
	return err
}

// submit fills defaults and validates every field; it focuses the first bad one.
func (fm *form) submit() bool {
	fm.submitted = true
	pf := fm.w.env.Plan
	for i := range fm.fields {
		ff := &fm.fields[i]
		if ff.f.Get(pf) == "" && ff.f.Default != nil {
			if d := ff.f.Default(pf); d != "" {
				ff.f.Set(pf, d)
				ff.input.SetValue(d)
			}
		}
	}
	for i := range fm.fields {
		if fm.fieldErr(&fm.fields[i]) != nil {
			fm.setFocus(i)
			return false
		}
	}
	return true
}

// update handles a key; submitted reports that the operator finished the
// form and every field is valid.
func (fm *form) update(msg tea.KeyMsg) (cmd tea.Cmd, submitted bool) {
	if len(fm.fields) == 0 {
		return nil, msg.Type == tea.KeyEnter
	}
	ff := &fm.fields[fm.focus]
	vis := ff.visible()
	switch {
	case keySubmit.Matches(msg):
		return nil, fm.submit()
	case msg.Type == tea.KeyTab:
		fm.setFocus(fm.focus + 1)
		return nil, false
	case msg.Type == tea.KeyShiftTab:
		fm.setFocus(fm.focus - 1)
		return nil, false
	case msg.Type == tea.KeyUp || msg.Type == tea.KeyDown:
		if len(vis) > 0 {
			d := 1
			if msg.Type == tea.KeyUp {
				d = -1
			}
			ff.pick = (ff.pick + d + min(len(vis), maxChoices)) % min(len(vis), maxChoices)
			return nil, false
		}
		if msg.Type == tea.KeyUp {
			fm.setFocus(fm.focus - 1)
		} else {
			fm.setFocus(fm.focus + 1)
		}
		return nil, false
	case msg.Type == tea.KeyEnter:
		if len(vis) > 0 && ff.pick < len(vis) {
			ff.input.SetValue(vis[ff.pick])
			ff.f.Set(fm.w.env.Plan, vis[ff.pick])
			ff.touched, ff.pick = true, 0
		}
		if fm.focus == len(fm.fields)-1 {
			return nil, fm.submit()
		}
		fm.setFocus(fm.focus + 1)
		return nil, false
	}
	ff.input, cmd = ff.input.Update(msg)
	ff.f.Set(fm.w.env.Plan, ff.input.Value())
	ff.touched, ff.pick = true, 0
	return cmd, false
}

func (fm *form) keys() keyMap {
	if len(fm.fields) == 0 {
		return nil
	}
	ff := &fm.fields[fm.focus]
	km := keyMap{keyField, keyPrev}
	if len(ff.visible()) > 0 {
		km = append(km, keyPick)
	}
	next := keyNext
	if fm.focus == len(fm.fields)-1 {
		next.SetHelp("enter", "plan")
		return append(km, next)
	}
	next.SetHelp("enter", "next field")
	return append(km, next, keySubmit)
}

// view renders the fields, scrolled so the focused one is visible.
func (fm *form) view(width, height int) []string {
	labelW := 0
	for _, ff := range fm.fields {
		labelW = max(labelW, len(ff.f.Title))
	}
	labelW = min(labelW, max(8, width/3))
	inputW := max(8, width-labelW-4)
	var out []string
	focusStart, focusEnd := 0, 0
	for i := range fm.fields {
		ff := &fm.fields[i]
		focused := i == fm.focus
		if focused {
			focusStart = len(out)
		}
		mark := "  "
		if focused {
			mark = sTitle.Render("▸ ")
		}
		ff.input.Width = inputW - 1
		// Defaults may derive from other answers (the job name from the
		// first selected VM): refresh the placeholder.
		if ff.f.Default != nil {
			if d := ff.f.Default(fm.w.env.Plan); d != "" {
				ff.input.Placeholder = d
			}
		}
		label := fit(ff.f.Title, labelW)
		if ff.f.Required {
			label = sBold.Render(label)
		}
		out = append(out, mark+label+"  "+ff.input.View())
		indent := strings.Repeat(" ", labelW+4)
		err := fm.fieldErr(ff)
		showErr := err != nil && (fm.submitted || (ff.touched && ff.input.Value() != ""))
		if showErr {
			for _, l := range wrap("✗ "+err.Error(), width-len(indent)) {
				out = append(out, indent+sErr.Render(l))
			}
		}
		if focused {
			if !showErr {
				out = append(out, indent+sDim.Render(trunc(ff.f.Description, width-len(indent))))
			}
			switch {
			case ff.loading:
				out = append(out, indent+sDim.Render(fm.w.spin()+" loading choices…"))
			case ff.loadErr != nil:
				out = append(out, indent+sWarn.Render(trunc("choices unavailable: "+ff.loadErr.Error(), width-len(indent))))
			}
			vis := ff.visible()
			for j, c := range vis {
				if j == maxChoices {
					out = append(out, indent+sDim.Render(trunc("… "+itoa(len(vis)-maxChoices)+" more: type to narrow", width-len(indent))))
					break
				}
				if j == ff.pick {
					out = append(out, indent+sCursor.Render(trunc("› "+c, width-len(indent))))
				} else {
					out = append(out, indent+trunc("  "+c, width-len(indent)))
				}
			}
			focusEnd = len(out)
		}
	}
	// Scroll: keep the focused field and its extras in view.
	if len(out) > height && height > 0 {
		start := 0
		if focusEnd > height {
			start = min(focusStart, focusEnd-height)
		}
		out = out[start:min(len(out), start+height)]
	}
	return out
}

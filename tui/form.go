package tui

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

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
	// prefilled: every answer was there when the form opened (the lab's
	// plan, a resumed session): enter plans from any field.
	prefilled bool
	// idle: the operator left the fields with esc; keys are not typed
	// into them until enter or tab brings the focus back.
	idle bool
	// published is what publish last shared.
	published string
}

type formField struct {
	f       steps.Field
	input   textinput.Model
	choices []steps.Choice
	// loadedFor is the answers the choices were asked for (choicesFor):
	// they are asked again when those change.
	loadedFor string
	loading   bool
	loadErr   error
	pick      int
	// moved: the operator moved in the pick list since typing.
	moved   bool
	touched bool
}

const maxChoices = 5

func newForm(w *wiring, idx int, fields []steps.Field) *form {
	fm := &form{w: w, idx: idx}
	for _, f := range fields {
		in := newInput()
		in.Prompt = ""
		in.SetValue(f.Get(w.env.Plan()))
		switch {
		case f.Default != nil && f.Default(w.env.Plan()) != "":
			in.Placeholder = f.Default(w.env.Plan())
		case f.IsRequired(w.env.Plan()):
			in.Placeholder = "required"
		default:
			in.Placeholder = "optional"
		}
		fm.fields = append(fm.fields, formField{f: f, input: in})
	}
	fm.setFocus(0)
	fm.prefilled = len(fm.fields) > 0 && fm.complete()
	// As it opens, the form is what every session shows: it is shared
	// once the driver changes it.
	_, _, fm.published = fm.typed()
	return fm
}

// loadChoices asks the Choices adapter for each field's values, in parallel,
// off the Update loop.
func (fm *form) loadChoices() tea.Cmd {
	var cmds []tea.Cmd
	for i := range fm.fields {
		cmds = append(cmds, fm.loadChoice(i))
	}
	return tea.Batch(cmds...)
}

// loadChoice asks for field i's choices with the answers typed so far
// (its ChoicesDependOn fields' not saved in the plan yet: VM selection's
// VDC).
func (fm *form) loadChoice(i int) tea.Cmd {
	ff := &fm.fields[i]
	answers, sig := fm.choicesFor(ff.f.Key)
	key, idx, ctx, choices := ff.f.Key, fm.idx, fm.w.ctx, fm.w.choices
	ff.loading, ff.loadedFor = true, sig
	return func() tea.Msg {
		c, err := choices(ctx, key, answers)
		return choicesMsg{Step: idx, Key: key, For: sig, Choices: c, Err: err}
	}
}

// choicesFor are the form's answers a field's choices depend on, and them
// as one string to compare.
func (fm *form) choicesFor(key string) (map[string]string, string) {
	answers := map[string]string{}
	for _, dep := range steps.ChoicesDependOn(key) {
		for _, ff := range fm.fields {
			if ff.f.Key == dep {
				answers[dep] = strings.TrimSpace(ff.input.Value())
			}
		}
	}
	return answers, fmt.Sprint(answers)
}

// reloadChoices asks again for the choices of fields whose answers they
// depend on changed since (an organization typed, then its VDCs listed),
// once the operator left the answer being typed.
func (fm *form) reloadChoices() tea.Cmd {
	var cmds []tea.Cmd
	for i := range fm.fields {
		deps := steps.ChoicesDependOn(fm.fields[i].f.Key)
		if len(deps) == 0 || (!fm.idle && slices.Contains(deps, fm.fields[fm.focus].f.Key)) {
			continue
		}
		if _, sig := fm.choicesFor(fm.fields[i].f.Key); sig != fm.fields[i].loadedFor {
			cmds = append(cmds, fm.loadChoice(i))
		}
	}
	return tea.Batch(cmds...)
}

// setChoices takes a field's choices unless they were asked for answers
// changed since.
func (fm *form) setChoices(msg choicesMsg) {
	for i := range fm.fields {
		if ff := &fm.fields[i]; ff.f.Key == msg.Key && ff.loadedFor == msg.For {
			ff.loading, ff.choices, ff.loadErr = false, msg.Choices, msg.Err
		}
	}
}

// focusKey puts the focus on the field of key (a plan's FieldError names
// it) and reports whether the form has one.
func (fm *form) focusKey(key string) bool {
	for i := range fm.fields {
		if fm.fields[i].f.Key == key {
			fm.idle = false
			fm.setFocus(i)
			return true
		}
	}
	return false
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

// offered are a field's choices as it offers them for the answers given
// (steps.Field.Offer: step 5's storage policy offers the VDC's default for
// all while the selected VMs' own differ, and notes the default policy so).
func (fm *form) offered(ff *formField) []steps.Choice {
	if ff.f.Offer == nil {
		return ff.choices
	}
	return ff.f.Offer(fm.w.env.Plan(), ff.choices)
}

// visible are the choices of a field matching what is typed: of a list
// field, the entry being typed (the last), leaving out the choices of an
// entry typed before it (a port group mapped already).
func (fm *form) visible(ff *formField) []steps.Choice {
	done, last := ff.entries()
	v := strings.ToLower(strings.TrimSpace(last))
	all := fm.offered(ff)
	choices := all
	if len(done) > 0 {
		choices = nil
		for _, c := range all {
			if !slices.ContainsFunc(done, func(d string) bool { return entryKey(d) == entryKey(c.Value) }) {
				choices = append(choices, c)
			}
		}
	}
	if v == "" {
		return choices
	}
	var out []steps.Choice
	exact := false
	for _, c := range choices {
		if strings.Contains(strings.ToLower(c.Value), v) {
			out = append(out, c)
		}
		exact = exact || strings.EqualFold(c.Value, v)
	}
	if exact {
		return nil // nothing left to pick
	}
	return out
}

// entries splits a list field's value into the entries typed before the
// last comma (trimmed, empty ones left out) and the one being typed; any
// other field's value is one entry.
func (ff *formField) entries() (done []string, last string) {
	v := ff.input.Value()
	if !ff.f.List {
		return nil, v
	}
	parts := strings.Split(v, ",")
	for _, p := range parts[:len(parts)-1] {
		if p = strings.TrimSpace(p); p != "" {
			done = append(done, p)
		}
	}
	return done, parts[len(parts)-1]
}

// entryKey is what an entry of a list field is about: the part before its
// "=" (a port group), so that a pick list does not offer it twice.
func entryKey(e string) string {
	k, _, _ := strings.Cut(e, "=")
	return strings.TrimSpace(k)
}

// picked is a field's value with choice c picked: c replaces the entry
// being typed in a list field, the whole value otherwise.
func (ff *formField) picked(c string) string {
	done, _ := ff.entries()
	return strings.Join(append(done, c), ", ")
}

// complete reports that every field already has a valid answer (a plan
// file filled in beforehand, as the lab's).
func (fm *form) complete() bool {
	for i := range fm.fields {
		ff := &fm.fields[i]
		if fm.fieldErr(ff) != nil || (ff.f.IsRequired(fm.w.env.Plan()) && ff.input.Value() == "" && fm.each(ff) == "") {
			return false
		}
	}
	return true
}

// fieldErr is the field's validation message without the key: of the
// value typed (a field may keep its last valid value in the plan, as the OVF
// properties do), or of the plan's when nothing is typed.
func (fm *form) fieldErr(ff *formField) error {
	if v := ff.input.Value(); strings.TrimSpace(v) != "" && ff.f.Validate != nil {
		return ff.f.Validate(v, fm.w.env.Plan())
	}
	err := ff.f.Check(fm.w.env.Plan())
	var fe *steps.FieldError
	if errors.As(err, &fe) {
		return fe.Err
	}
	return err
}

// submit fills defaults and validates every field; it focuses the first bad one.
func (fm *form) submit() bool {
	fm.submitted = true
	fm.w.env.EditPlan(func(pf *steps.PlanFile) {
		for i := range fm.fields {
			ff := &fm.fields[i]
			// Empty, a field answering for items whose own answers
			// differ keeps each one's (steps.Field.Each).
			if ff.f.Get(pf) == "" && ff.f.Default != nil && (ff.f.Each == nil || ff.f.Each(pf) == "") {
				if d := ff.f.Default(pf); d != "" {
					ff.f.Set(pf, d)
					ff.input.SetValue(d)
				}
			}
		}
	})
	for i := range fm.fields {
		if fm.fieldErr(&fm.fields[i]) != nil {
			fm.setFocus(i)
			return false
		}
	}
	return true
}

// update handles a key; submitted reports that the operator finished the
// form and every field is valid. Choices that depend on an answer the
// operator left are asked for again.
func (fm *form) update(msg tea.KeyMsg) (cmd tea.Cmd, submitted bool) {
	if len(fm.fields) == 0 {
		return nil, msg.Type == tea.KeyEnter
	}
	cmd, submitted = fm.key(msg)
	if submitted {
		return cmd, true
	}
	return tea.Batch(cmd, fm.refresh(false)), false
}

// refresh shows the plan's answers in the fields not being typed in (an
// answer that follows another, such as the rights bundle named after the
// organization; the organization or VDC answered in another step's form),
// in every field when all (the form shown again), and asks again for
// choices whose answers changed.
func (fm *form) refresh(all bool) tea.Cmd {
	pf := fm.w.env.Plan()
	for i := range fm.fields {
		ff := &fm.fields[i]
		if i == fm.focus && !fm.idle && !all {
			continue
		}
		if ff.touched && fm.fieldErr(ff) != nil {
			continue // what was typed stays, with why it is refused
		}
		if v := ff.f.Get(pf); v != ff.input.Value() {
			ff.input.SetValue(v)
			ff.input.CursorEnd()
		}
	}
	fm.publish() // what the watching sessions see follows
	return fm.reloadChoices()
}

// followEach shows in the fields answering for several items at once
// (steps.Field.Each) what they answer once the items changed (the VMs
// selected together): each one's own, in words, or the value they share.
func (fm *form) followEach() {
	pf := fm.w.env.Plan()
	for i := range fm.fields {
		ff := &fm.fields[i]
		if v := ff.f.Get(pf); ff.f.Each != nil && v != ff.input.Value() {
			ff.input.SetValue(v)
			ff.input.CursorEnd()
		}
	}
}

func (fm *form) key(msg tea.KeyMsg) (cmd tea.Cmd, submitted bool) {
	defer fm.publish()
	ff := &fm.fields[fm.focus]
	if fm.idle {
		if msg.Type == tea.KeyEnter || msg.Type == tea.KeyTab {
			fm.idle = false
			fm.setFocus(fm.focus)
		}
		return nil, false
	}
	if msg.Type == tea.KeyEsc {
		fm.idle = true
		ff.input.Blur()
		return nil, false
	}
	vis := fm.visible(ff)
	if ff.f.Bool && fm.toggle(ff, msg) {
		return nil, false
	}
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
			n := min(len(vis), maxChoices)
			switch at := fm.highlighted(ff); {
			case at < 0 && msg.Type == tea.KeyUp:
				ff.pick = n - 1
			case at < 0:
				ff.pick = 0
			case msg.Type == tea.KeyUp:
				ff.pick = (at - 1 + n) % n
			default:
				ff.pick = (at + 1) % n
			}
			ff.moved = true
			return nil, false
		}
		if msg.Type == tea.KeyUp {
			fm.setFocus(fm.focus - 1)
		} else {
			fm.setFocus(fm.focus + 1)
		}
		return nil, false
	case msg.Type == tea.KeyEnter:
		at := fm.highlighted(ff)
		picked := at >= 0 && at < len(vis)
		if picked {
			v := ff.picked(vis[at].Value)
			ff.input.SetValue(v)
			ff.input.CursorEnd()
			fm.set(ff, v)
			ff.touched, ff.pick, ff.moved = true, 0, false
		}
		// A form answered in full (the lab's plan, a resumed session)
		// plans with one enter from any field (not the enter that picked
		// from a list: the operator is changing an answer); tab moves
		// between them.
		if fm.focus == len(fm.fields)-1 || (!picked && fm.oneEnter()) {
			return nil, fm.submit()
		}
		fm.setFocus(fm.focus + 1)
		return nil, false
	}
	ff.input, cmd = ff.input.Update(msg)
	fm.set(ff, ff.input.Value())
	ff.touched, ff.pick, ff.moved = true, 0, false
	return cmd, false
}

// highlighted is the choice enter would pick (-1: none). An empty field
// with a default, or an optional one, picks nothing until the operator
// moves in the list: enter takes the default, or leaves it empty (the
// list's first entry is not what the placeholder promised).
func (fm *form) highlighted(ff *formField) int {
	if len(fm.visible(ff)) == 0 {
		return -1
	}
	if !ff.moved && ff.input.Value() == "" && (!ff.f.IsRequired(fm.w.env.Plan()) || ff.f.Default != nil && ff.f.Default(fm.w.env.Plan()) != "") {
		return -1 // enter keeps the default, or leaves an optional answer empty
	}
	return ff.pick
}

// set writes a field's answer into the plan: as a new plan (Env.EditPlan),
// since the steps, the replication jobs and under ferry serve the other
// terminals read the plan while this one types.
func (fm *form) set(ff *formField, v string) {
	fm.w.env.EditPlan(func(pf *steps.PlanFile) { ff.f.Set(pf, v) })
}

// publish shares the form as typed with the engine's other sessions (a
// watching session shows it: a guided demo's audience sees the presenter
// type), when it changed since it was last shared. The fields are plan
// answers; no secret is asked in a form.
func (fm *form) publish() {
	if fm.w.readOnly || fm.w.session == nil || fm.w.session.Runs == nil {
		return
	}
	answers, focus, sig := fm.typed()
	if sig != fm.published {
		fm.published = sig
		fm.w.share(SharedRun{Step: fm.w.it[fm.idx].Step.ID(), Phase: runEditing, Answers: answers, Focus: focus})
	}
}

// typed is the form as the driver has it: its values by field key, the
// field it is in (-1: none), and both in one string to compare.
func (fm *form) typed() (answers map[string]string, focus int, sig string) {
	answers = make(map[string]string, len(fm.fields))
	for _, ff := range fm.fields {
		answers[ff.f.Key] = ff.input.Value()
	}
	focus = fm.focus
	if fm.idle {
		focus = -1
	}
	return answers, focus, fmt.Sprint(focus, answers)
}

// showAnswers shows the driver's form as it types it: its values, and the
// field it is in (focus -1: it left the fields).
func (fm *form) showAnswers(answers map[string]string, focus int) {
	for i := range fm.fields {
		if ff := &fm.fields[i]; ff.input.Value() != answers[ff.f.Key] {
			if v, ok := answers[ff.f.Key]; ok {
				ff.input.SetValue(v)
			}
		}
	}
	switch {
	case len(fm.fields) == 0:
	case focus < 0:
		fm.idle = true
		fm.fields[fm.focus].input.Blur()
	case focus < len(fm.fields):
		fm.idle = false
		fm.setFocus(focus)
	}
}

func (fm *form) oneEnter() bool { return fm.prefilled && fm.complete() }

// toggle handles the keys of a true/false field: space, ←/→, y/n, t/f. It
// reports whether the key was the field's; other printable keys are
// swallowed, so nothing but a boolean is ever stored. A field answering
// for items whose own answers differ (steps.Field.Each) has a third
// answer, empty: each keeps its own; space and ←/→ go from it to yes for
// all, no for all, and back to it.
func (fm *form) toggle(ff *formField, msg tea.KeyMsg) bool {
	cur := boolValue(ff)
	v := cur
	each := fm.each(ff) != ""
	switch msg.String() {
	case " ", "space", "left", "right":
		v = !cur
		switch {
		case each && ff.input.Value() == "":
			v = true
		case each && !cur:
			fm.setBool(ff, "")
			return true
		}
	case "y", "Y", "t", "T":
		v = true
	case "n", "N", "f", "F":
		v = false
	default:
		return msg.Type == tea.KeyRunes || msg.Type == tea.KeyBackspace || msg.Type == tea.KeyDelete
	}
	fm.setBool(ff, strconv.FormatBool(v))
	return true
}

// each is the words of a field answering for items whose own answers
// differ (steps.Field.Each), "" for any other.
func (fm *form) each(ff *formField) string {
	if ff.f.Each == nil {
		return ""
	}
	return ff.f.Each(fm.w.env.Plan())
}

// setBool gives a true/false field answer s.
func (fm *form) setBool(ff *formField, s string) {
	ff.input.SetValue(s)
	fm.set(ff, s)
	ff.touched = true
}

// boolValue reads a true/false field, its default when empty.
func boolValue(ff *formField) bool {
	v := ff.input.Value()
	if v == "" {
		v = ff.input.Placeholder
	}
	b, err := strconv.ParseBool(v)
	return err == nil && b
}

func (fm *form) keys() keyMap {
	if len(fm.fields) == 0 {
		return nil
	}
	if fm.idle {
		edit := keyNext
		edit.SetHelp("enter", "edit the answers")
		return keyMap{edit}
	}
	ff := &fm.fields[fm.focus]
	// enter first: it is the main action and the narrowest help bar keeps it.
	next := keyNext
	var km keyMap
	switch {
	case fm.focus == len(fm.fields)-1 || fm.oneEnter():
		next.SetHelp("enter", "plan")
		km = keyMap{next, keyField, keyPrev}
	default:
		next.SetHelp("enter", "next field")
		km = keyMap{next, keyField, keyPrev, keySubmit}
	}
	switch {
	case ff.f.Bool:
		km = append(km, newKey("space", "toggle", " "))
	case len(fm.visible(ff)) > 0:
		km = append(km, keyPick)
	}
	return km
}

// view renders the fields, scrolled so the focused one is visible.
func (fm *form) view(width, height int) []string {
	labelW := 0
	for _, ff := range fm.fields {
		labelW = max(labelW, len(ff.f.Title))
	}
	// Labels get up to two fifths of the panel: at 80 columns a label of
	// 22 characters (every step's longest) shows whole.
	labelW = min(labelW, max(8, width*2/5))
	inputW := max(8, width-labelW-4)
	var out []string
	focusStart, focusEnd := 0, 0
	// Of the focused field: help, its description's lines; picks, the
	// lines of its pick list before the highlighted choice, and picked,
	// the end of that choice's (0: none highlighted).
	var help, picks [2]int
	picked, pickIndent := 0, ""
	// titleAt is the line of each field's title; choiceAt, the choices
	// each line of the pick list stands for (the scroll counts what it
	// hides).
	titleAt, choiceAt := make([]int, len(fm.fields)), map[int]int{}
	for i := range fm.fields {
		ff := &fm.fields[i]
		focused := i == fm.focus
		if focused {
			focusStart = len(out)
		}
		mark := "  "
		if focused && !fm.idle {
			mark = sTitle.Render("▸ ")
		}
		if ff.input.Width != inputW-1 {
			// The window of the value the input shows was set for the
			// width before (none, before the first view: a long value
			// showed its beginning, cut at the panel's edge): set again
			// around the cursor, the end of a value set from the plan.
			ff.input.Width = inputW - 1
			pos := ff.input.Position()
			ff.input.CursorStart()
			ff.input.CursorEnd()
			ff.input.SetCursor(pos)
		}
		// Defaults may derive from other answers (the job name from the
		// first selected VM): refresh the placeholder.
		if ff.f.Default != nil {
			if d := ff.f.Default(fm.w.env.Plan()); d != "" {
				ff.input.Placeholder = d
			}
		}
		if ff.f.RequiredWhen != nil {
			ff.input.Placeholder = map[bool]string{true: "required", false: "optional"}[ff.f.IsRequired(fm.w.env.Plan())]
		}
		label := fit(ff.f.Title, labelW)
		if ff.f.IsRequired(fm.w.env.Plan()) {
			label = sBold.Render(label)
		}
		in := ff.input.View()
		var eachMore []string // the words of each item's own answer, wrapped
		if ff.f.Bool {
			in = "[ ] no"
			if boolValue(ff) {
				in = "[x] yes"
			}
			if each := fm.each(ff); each != "" && ff.input.Value() == "" {
				lines := wrap("[~] "+each, max(8, width-labelW-4))
				in, eachMore = lines[0], lines[1:]
			}
			if focused {
				in = sCursor.Render(in)
			}
		} else if each := fm.each(ff); each != "" && ff.input.Value() == "" {
			// Empty, the answer is each item's own, in words in place
			// of the placeholder; what is typed is for all.
			lines := wrap("[~] "+each, max(8, width-labelW-4))
			in, eachMore = lines[0], lines[1:]
			if focused {
				in = sCursor.Render(in)
			}
		}
		// A value wider than its field keeps its end, where a path's file
		// name is (QA: the appliance OVA read "/tmp/ferry-lab-…/nsx-…");
		// the field being typed in shows it whole under itself.
		long := !ff.f.Bool && ansiWidth(ff.input.Value()) > ff.input.Width
		if long && !ff.input.Focused() {
			in = truncLeft(ff.input.Value(), ff.input.Width)
		}
		titleAt[i] = len(out)
		out = append(out, mark+label+"  "+in)
		indent := strings.Repeat(" ", labelW+4)
		for _, l := range eachMore {
			out = append(out, indent+l)
		}
		if long && ff.input.Focused() {
			for _, l := range wrapValue(ff.input.Value(), width-len(indent)) {
				out = append(out, indent+l)
			}
		}
		err := fm.fieldErr(ff)
		showErr := err != nil && (fm.submitted || (ff.touched && ff.input.Value() != ""))
		if showErr {
			for _, l := range wrap("✗ "+err.Error(), width-len(indent)) {
				out = append(out, indent+sErr.Render(l))
			}
		}
		if focused {
			// The field's help and why its choices did not load wrap:
			// their ends say what is valid.
			help[0] = len(out)
			if !showErr {
				for _, l := range wrap(ff.f.Description, width-len(indent)) {
					out = append(out, indent+sDim.Render(l))
				}
			}
			help[1] = len(out)
			if d := ff.input.Placeholder; ff.input.Value() == "" && ff.f.Default != nil && d == ff.f.Default(fm.w.env.Plan()) &&
				len(ff.choices) > 0 && !slices.Contains(steps.Values(ff.choices), d) {
				for _, l := range wrap(fmt.Sprintf("the default %q is not one of them: pick one, or type it", d), width-len(indent)) {
					out = append(out, indent+sWarn.Render(l))
				}
			}
			switch {
			case ff.loading:
				out = append(out, indent+sDim.Render(fm.w.spin()+" loading choices…"))
			case ff.loadErr != nil:
				for _, l := range wrap("choices unavailable: "+ff.loadErr.Error(), width-len(indent)) {
					out = append(out, indent+sWarn.Render(l))
				}
			}
			vis, at := fm.visible(ff), fm.highlighted(ff)
			// The choices go under the answer, unless a note would be cut
			// there and the panel is wider from under the labels: at 80
			// columns the answer's column leaves 31 cells, which cut "VMs
			// on it (…" before "refused as the sink" (QA).
			list := indent
			if len(indent) > 4 {
				for j, c := range vis {
					if j < maxChoices && c.Note != "" && ansiWidth("  "+c.Value+"  "+c.Note) > width-len(indent) {
						list = "    "
						break
					}
				}
			}
			picks, pickIndent = [2]int{len(out), len(out)}, list
			for j, c := range vis {
				choiceAt[len(out)] = 1
				if j == maxChoices {
					choiceAt[len(out)] = len(vis) - maxChoices
					out = append(out, list+sDim.Render(trunc("… "+itoa(len(vis)-maxChoices)+" more: type to narrow", width-len(list))))
					break
				}
				line, note := "  "+c.Value, ""
				if c.Note != "" {
					note = "  " + c.Note
				}
				if j == at {
					line = "› " + c.Value
				}
				if j == at {
					picks[1] = len(out)
					// The highlighted choice's note wraps: its end says
					// what would come of the pick.
					for _, l := range wrapped(line+note, width-len(list), 4, sCursor) {
						out = append(out, list+l)
					}
					picked = len(out)
				} else {
					out = append(out, list+choiceLine(line, note, width-len(list)))
				}
			}
			focusEnd = len(out)
		}
	}
	// Scroll: keep the focused field and its extras in view, and say
	// what is left out above and below (QA: at 80x24 step 5's options
	// showed 7 of their 9 fields and step 3's 13 of 15, without a sign).
	if len(out) > height && height > 0 {
		// A focused field taller than the window shows from its title down
		// to its highlighted choice at least: its description makes room,
		// then the choices above the highlighted one, counted on a line of
		// their own (at 80x24 step 5's storage policy, its VMs' own in
		// words, had its highlighted choice under the window's end: "↓ 1
		// more choice" and no "›").
		fs, fe := focusStart, focusEnd
		// replace puts lines in place of out[a:b], the lines after them
		// moving with their marks.
		replace := func(a, b int, lines ...string) {
			d := len(lines) - (b - a)
			out = slices.Replace(out, a, b, lines...)
			for i := range titleAt {
				if titleAt[i] >= b {
					titleAt[i] += d
				}
			}
			moved := map[int]int{}
			for at, c := range choiceAt {
				switch {
				case at >= b:
					moved[at+d] = c
				case at < a:
					moved[at] = c
				}
			}
			choiceAt, picked, fe = moved, picked+d, fe+d
			if picks[0] >= b {
				picks[0], picks[1] = picks[0]+d, picks[1]+d
			}
		}
		k := max(1, height-2)
		if picked > fs+k && help[1] > help[0] {
			replace(help[0], help[1])
		}
		if n := picked - (fs + k) + 1; picked > fs+k && n > 1 && n <= picks[1]-picks[0] {
			skipped := 0
			for at := picks[0]; at < picks[0]+n; at++ {
				skipped += choiceAt[at]
			}
			replace(picks[0], picks[0]+n, pickIndent+sDim.Render(fmt.Sprintf("  ↑ %d more %s", skipped, plural(skipped, "choice"))))
			choiceAt[picks[0]] = skipped
		}
		if picked > fs+k {
			fs, fe = picked-k, picked
		}
		start, end := formWindow(len(out), fs, fe, height)
		// A field above the focused one starts whole or not at all: its
		// last lines without its title (the wrapped words of each VM's
		// own answer) read as another field's.
		for start > 0 && start < focusStart && !slices.Contains(titleAt, start) {
			start++
			end = min(len(out), end+1)
		}
		hidden := func(from, to int) string {
			fields, choices := 0, 0
			for _, at := range titleAt {
				if at >= from && at < to {
					fields++
				}
			}
			for at, n := range choiceAt {
				if at >= from && at < to {
					choices += n
				}
			}
			var parts []string
			if choices > 0 {
				parts = append(parts, fmt.Sprintf("%d more %s", choices, plural(choices, "choice")))
			}
			if fields > 0 {
				parts = append(parts, fmt.Sprintf("%d more %s", fields, plural(fields, "field")))
			}
			if len(parts) == 0 && from < to {
				parts = append(parts, "more") // the focused field's help
			}
			return strings.Join(parts, " · ")
		}
		top, bottom := moreMarks(hidden(0, start), hidden(end, len(out)), height-(end-start))
		out = append(append(top, out[start:end]...), bottom...)
	}
	return out
}

// formWindow is the part [start, end) of a form's n lines that height
// lines show, with a line for each "more" mark it needs (moreMarks): the
// focused field's lines [fs, fe) whole when they fit, else from their top.
func formWindow(n, fs, fe, height int) (start, end int) {
	if n <= height {
		return 0, n
	}
	if k := max(1, height-1); fe <= k { // from the top: a mark below
		return 0, k
	}
	if k := max(1, height-1); fs >= n-k { // to the end: a mark above
		return n - k, n
	}
	k := max(1, height-2) // marks above and below
	start = max(0, min(fs, fe-k))
	if start == 0 { // the focused field taller than the window, first
		return 0, max(1, height-1)
	}
	return start, min(n, start+k)
}

func plural(n int, s string) string {
	if n == 1 {
		return s
	}
	return s + "s"
}

// choiceLine is a choice that is not highlighted, with its note, in width
// cells: a note too long keeps what follows its last ": ", what would come
// of the pick ("VMs on it (…): refused as the sink", "not on provider-ds:
// the import would copy the disks"), and gives up its beginning, when the
// choice's name stays whole; otherwise it is cut at its end.
func choiceLine(line, note string, width int) string {
	s := line + note
	if note == "" || ansiWidth(s) <= width {
		return trunc(s, width)
	}
	i := strings.LastIndex(note, ": ")
	if i < 0 {
		return trunc(s, width)
	}
	tail := note[i:]
	room := width - ansiWidth(line) - ansiWidth(tail)
	if room < 3 { // "  " and at least one cell of the note's beginning
		return trunc(s, width)
	}
	return line + trunc(note[:i], room) + tail
}

// Package steps is ferry's itinerary: the eight steps of a warm migration
// (docs/itinerary.md), each behind one Step interface that the TUI and the headless
// runner share; the operator's answers (PlanFile); the persisted State that
// lets a dropped session resume; and the headless Runner.
//
// A step can Plan (say what it would change; change nothing), Apply
// (idempotent: a second apply changes nothing and says so) and Verify. Steps
// take their inputs from the PlanFile through their Fields, whose validators
// both front ends use, and reach vCenter, Cloud Director and the edge through
// the Env. Nothing here knows about the lab or about the terminal.
package steps

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Step is one unit of the itinerary.
type Step interface {
	// ID is the stable key used in the state file, the plan file's skip
	// list and JSON events ("appliance").
	ID() string
	// Title is the name shown to people ("L2 appliance").
	Title() string
	// Fields are the answers the step needs, with their validators.
	Fields() []Field
	// Plan reads the world and says what Apply would do. It changes nothing.
	Plan(ctx context.Context, env *Env) (Plan, error)
	// Apply makes the world match the plan. It is idempotent: when
	// everything already exists it changes nothing and its Result says "no
	// changes". Every change is reported with emit(Changed(...)) as it
	// happens so the runner can persist it.
	Apply(ctx context.Context, env *Env, emit Emit) (Result, error)
	// Verify reads the world back and returns an error when it does not
	// match what Apply would have made.
	Verify(ctx context.Context, env *Env) error
}

// Action is what a plan item would do.
type Action string

const (
	ActionExists Action = "exists" // found, nothing to do
	ActionCheck  Action = "check"  // looked at, nothing changed (a probe)
	ActionCreate Action = "create"
	ActionUpdate Action = "update"
	ActionPower  Action = "power on"
	// ActionConflict is something found that differs from the plan in a way
	// ferry will not change on its own (e.g. an appliance with another IP).
	ActionConflict Action = "conflict"
)

var actionMarks = map[Action]string{
	ActionExists: "=", ActionCheck: "?", ActionCreate: "+", ActionUpdate: "~", ActionPower: "~", ActionConflict: "!",
}

// Item is one line of a plan, or one change made.
type Item struct {
	Action Action `json:"action"`
	Kind   string `json:"kind"`             // "port group", "VM"
	Name   string `json:"name"`             // "ferry-sink"
	Detail string `json:"detail,omitempty"` // "on onprem-vds, promiscuous=Accept, forged transmits=Accept"
	// Resource identifies the object once it exists (recorded in the state).
	Resource *Resource `json:"resource,omitempty"`
	// Field is the answer that resolves a conflict when changed (a front
	// end opens it), if one does.
	Field string `json:"field,omitempty"`
}

func (it Item) String() string {
	s := fmt.Sprintf("%s %s %s %q", actionMarks[it.Action], it.Action, it.Kind, it.Name)
	if it.Detail != "" {
		s += ": " + it.Detail
	}
	return s
}

// Plan is what a step would change.
type Plan struct {
	Step  string `json:"step"`
	Items []Item `json:"items"`
}

// Changes counts the items that would change something.
func (p Plan) Changes() int {
	n := 0
	for _, it := range p.Items {
		if it.Action != ActionExists && it.Action != ActionCheck {
			n++
		}
	}
	return n
}

// Conflicts returns the items Apply would refuse.
func (p Plan) Conflicts() []Item {
	var out []Item
	for _, it := range p.Items {
		if it.Action == ActionConflict {
			out = append(out, it)
		}
	}
	return out
}

// conflictText is the conflicts, one after the other, for an error.
func (p Plan) conflictText() string {
	var lines []string
	for _, it := range p.Conflicts() {
		lines = append(lines, it.String())
	}
	return strings.Join(lines, "; ")
}

func (p Plan) String() string {
	var b strings.Builder
	for _, it := range p.Items {
		b.WriteString(it.String())
		b.WriteByte('\n')
	}
	if p.Changes() == 0 {
		b.WriteString("no changes\n")
	}
	return b.String()
}

// Resource is an object a step created or relies on, by name and id, so a
// resumed session (and a later cleanup) can find it again.
type Resource struct {
	Kind string `json:"kind" yaml:"kind"`
	Name string `json:"name" yaml:"name"`
	// ID is the moref ("dvportgroup-42"), URN or href.
	ID string `json:"id,omitempty" yaml:"id,omitempty"`
	// Created marks an object ferry created (a cleanup may remove it), as
	// opposed to one it found and uses (never removed).
	Created bool `json:"created,omitempty" yaml:"created,omitempty"`
}

// Result is what Apply did.
type Result struct {
	Changes []Item `json:"changes,omitempty"`
	// Resources are the objects the step owns once applied, whether it
	// created them now or found them.
	Resources []Resource `json:"resources,omitempty"`
}

// Summary is "no changes" or "N changes".
func (r Result) Summary() string {
	switch len(r.Changes) {
	case 0:
		return "no changes"
	case 1:
		return "1 change"
	}
	return fmt.Sprintf("%d changes", len(r.Changes))
}

// ErrNotBuilt marks a step of the itinerary that is not implemented in this
// version. Every step is built now; the TUI still offers to skip such a step.
var ErrNotBuilt = errors.New("not built yet in this version of ferry")

package steps

import (
	"bytes"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// Saving a plan file keeps what the operator wrote around the answers:
// plan files are hand-written and kept (often in git) with comments that
// say why an answer is what it is, and the lab's plan explains its other
// VMs and probes in comments. Before, a save from the wizard wrote the
// answers alone, and every comment and the file's indentation were gone.

// marshalKeeping marshals pf as YAML, with the comments of the plan file
// held in was (its bytes; nil: none) carried over to the same keys, list
// items and values, and was's indentation.
func marshalKeeping(pf *PlanFile, was []byte) ([]byte, error) {
	var now yaml.Node
	if err := now.Encode(pf); err != nil {
		return nil, err
	}
	indent := 4 // yaml.Marshal's
	var old yaml.Node
	if len(was) > 0 && yaml.Unmarshal(was, &old) == nil && old.Kind == yaml.DocumentNode && len(old.Content) == 1 {
		keepComments(old.Content[0], &now)
		now.HeadComment = strings.TrimSpace(strings.Join([]string{old.HeadComment, now.HeadComment}, "\n"))
		now.FootComment = strings.TrimSpace(strings.Join([]string{now.FootComment, old.FootComment}, "\n"))
		indent = indentOf(was)
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(indent)
	if err := enc.Encode(&now); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// keepComments copies old's comments to now, which holds the same place
// in the new document, and so on down: a mapping's values by key, a
// list's items by their name (the plan's lists of VMs and probes) or,
// for lists of plain values, by value.
func keepComments(old, now *yaml.Node) {
	if old.Kind != now.Kind {
		return
	}
	now.HeadComment = keep(now.HeadComment, old.HeadComment)
	now.LineComment = keep(now.LineComment, old.LineComment)
	now.FootComment = keep(now.FootComment, old.FootComment)
	switch now.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(now.Content); i += 2 {
			for j := 0; j+1 < len(old.Content); j += 2 {
				if old.Content[j].Value == now.Content[i].Value {
					keepComments(old.Content[j], now.Content[i])
					keepComments(old.Content[j+1], now.Content[i+1])
					break
				}
			}
		}
	case yaml.SequenceNode:
		used := make([]bool, len(old.Content))
		for _, n := range now.Content {
			for j, o := range old.Content {
				if !used[j] && sameItem(o, n) {
					used[j] = true
					keepComments(o, n)
					break
				}
			}
		}
	}
}

// sameItem says whether two list items are the same: mappings with the
// same name, or equal plain values.
func sameItem(a, b *yaml.Node) bool {
	switch {
	case a.Kind != b.Kind:
		return false
	case a.Kind == yaml.ScalarNode:
		return a.Value == b.Value
	case a.Kind == yaml.MappingNode:
		an, bn := nameOf(a), nameOf(b)
		return an != "" && an == bn
	}
	return false
}

func nameOf(n *yaml.Node) string {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "name" {
			return n.Content[i+1].Value
		}
	}
	return ""
}

func keep(now, old string) string {
	if now != "" {
		return now
	}
	return old
}

// indentOf is the indentation of the first nested line of a YAML file
// (2 for a file written by hand or by the lab), 4 when it has none.
func indentOf(b []byte) int {
	for _, line := range strings.Split(string(b), "\n") {
		t := strings.TrimLeft(line, " ")
		if n := len(line) - len(t); n > 0 && t != "" && !strings.HasPrefix(t, "#") && !strings.HasPrefix(t, "- ") {
			return min(max(n, 2), 8)
		}
	}
	return 4
}

// readIfThere is the file's bytes, or nil when it cannot be read.
func readIfThere(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return b
}

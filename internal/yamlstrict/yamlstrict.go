// Package yamlstrict decodes a YAML file an operator wrote into a Go value
// strictly, with messages that say where and what: an unknown key is
// refused with the keys valid there, and a value of the wrong type names its
// key and the kind of value wanted, instead of yaml.v3's "cannot unmarshal
// !!str `many` into int".
package yamlstrict

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Decode decodes b into v (a pointer to a struct), refusing keys v's type
// does not have. root is b parsed (Parse), for the key paths of messages.
func Decode(b []byte, root *yaml.Node, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	err := dec.Decode(v)
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	paths := keyPaths(root)
	var msgs []string
	for _, m := range te.Errors {
		msgs = append(msgs, explain(m, paths, reflect.TypeOf(v)))
	}
	return errors.New(strings.Join(msgs, "; "))
}

// Parse parses b as YAML into a node tree.
func Parse(b []byte) (*yaml.Node, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, fmt.Errorf("not valid YAML: %w", err)
	}
	return &root, nil
}

var (
	unknownRE  = regexp.MustCompile(`^line (\d+): field (\S+) not found in type \S+$`)
	mismatchRE = regexp.MustCompile("^line (\\d+): cannot unmarshal !!(\\w+)(?: `(.*)`)? into (\\S+)$")
)

// place is a key of the file: its dotted path and the line of its key or
// value.
type place struct {
	path  string
	key   bool // the line is the key's (else the value's)
	value string
}

// keyPaths maps line numbers to the keys on them: a key's own line, and the
// line of its scalar value (a value of a block mapping or list starts
// below its key).
func keyPaths(root *yaml.Node) map[int][]place {
	out := map[int][]place{}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				out[c.Line] = append(out[c.Line], place{path: p, value: c.Value})
				walk(c, p)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, val := n.Content[i], n.Content[i+1]
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				out[k.Line] = append(out[k.Line], place{path: p, key: true, value: k.Value})
				out[val.Line] = append(out[val.Line], place{path: p, value: val.Value})
				walk(val, p)
			}
		}
	}
	if root != nil {
		walk(root, "")
	}
	return out
}

// Lines maps each key path of root ("network.gateway_cidr", "vms[0].rpo",
// "skip[1]") to its line: a key's own line, a list item's first.
func Lines(root *yaml.Node) map[string]int {
	out := map[string]int{}
	for line, places := range keyPaths(root) {
		for _, p := range places {
			if !p.key && !strings.HasSuffix(p.path, "]") {
				continue // a value: its key says where
			}
			if cur, ok := out[p.path]; !ok || line < cur {
				out[p.path] = line
			}
		}
	}
	return out
}

// explain turns one of yaml.v3's messages into an operator's.
func explain(msg string, paths map[int][]place, t reflect.Type) string {
	if m := unknownRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		for _, p := range paths[line] {
			if p.key && p.value == m[2] {
				parent, _ := splitLast(p.path)
				where := ""
				if parent != "" {
					where = " under " + parent
				}
				valid := keysAt(t, parent)
				if len(valid) == 0 {
					return fmt.Sprintf("line %d: unknown key %q%s", line, p.path, where)
				}
				return fmt.Sprintf("line %d: unknown key %q%s (valid there: %s)", line, m[2], where, strings.Join(valid, ", "))
			}
		}
		return fmt.Sprintf("line %d: unknown key %q", line, m[2])
	}
	if m := mismatchRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		got, into := m[3], m[4]
		what := wanted(into)
		for _, p := range paths[line] {
			switch {
			case got == "" && !p.key: // a mapping or list where a value belongs, or the reverse
				return fmt.Sprintf("line %d: %s: want %s", line, p.path, what)
			case !p.key && p.value == got:
				return fmt.Sprintf("line %d: %s: %q is not %s", line, p.path, got, what)
			}
		}
		if got == "" {
			return fmt.Sprintf("line %d: want %s", line, what)
		}
		return fmt.Sprintf("line %d: %q is not %s", line, got, what)
	}
	return strings.TrimPrefix(msg, "yaml: ")
}

// wanted says in words what a Go type of yaml.v3's message takes.
func wanted(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "a list (lines starting with \"- \")"
	case strings.HasPrefix(goType, "map["):
		return "a mapping (key: value lines)"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "a whole number"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "bool":
		return "true or false"
	case goType == "string":
		return "a single value (text)"
	case strings.Contains(goType, "."):
		return "a mapping (key: value lines)"
	}
	return "a " + goType
}

func splitLast(path string) (parent, last string) {
	i := strings.LastIndexByte(path, '.')
	if i < 0 {
		return "", path
	}
	return path[:i], path[i+1:]
}

// keysAt lists the yaml keys of the struct found at path in t (list
// indexes are followed through slices), sorted; nil if that is no struct.
func keysAt(t reflect.Type, path string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if path != "" {
		for _, seg := range strings.Split(path, ".") {
			name, _, _ := strings.Cut(seg, "[")
			f, ok := fieldByKey(t, name)
			if !ok {
				return nil
			}
			t = f
			for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
				t = t.Elem()
			}
		}
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var keys []string
	for f := range fields(t) {
		keys = append(keys, yamlKey(f))
	}
	slices.Sort(keys)
	return keys
}

func fieldByKey(t reflect.Type, key string) (reflect.Type, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil, false
	}
	for f := range fields(t) {
		if yamlKey(f) == key {
			return f.Type, true
		}
	}
	return nil, false
}

// fields yields the fields of struct t that yaml.v3 reads, those of inline
// structs included.
func fields(t reflect.Type) func(func(reflect.StructField) bool) {
	return func(yield func(reflect.StructField) bool) {
		for f := range t.Fields() {
			if _, opts, _ := strings.Cut(f.Tag.Get("yaml"), ","); strings.Contains(opts, "inline") {
				ft := f.Type
				for ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					for g := range fields(ft) {
						if !yield(g) {
							return
						}
					}
				}
				continue
			}
			if yamlKey(f) != "" && !yield(f) {
				return
			}
		}
	}
}

// yamlKey is the key yaml.v3 reads a field from ("" for none).
func yamlKey(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	tag := f.Tag.Get("yaml")
	name, _, _ := strings.Cut(tag, ",")
	switch {
	case name == "-":
		return ""
	case name != "":
		return name
	}
	return strings.ToLower(f.Name)
}

package steps

import "fmt"

// answers checks fields in pf and returns a copy of pf with their defaults
// filled in, or every bad answer at once. Steps call it so they work the
// same whether or not the front end has applied the defaults.
func answers(pf *PlanFile, fields []Field) (*PlanFile, error) {
	c := *pf
	var errs []error
	for _, f := range fields {
		if err := f.Check(&c); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, &ValidationError{Path: pf.path, Errs: errs}
	}
	fillDefaults(&c, fields)
	return &c, nil
}

// fillDefaults sets the empty fields that have a default, in field order
// (a default may derive from an answer filled before it).
func fillDefaults(pf *PlanFile, fields []Field) {
	for _, f := range fields {
		if f.Get(pf) == "" && f.Default != nil {
			f.Set(pf, f.Default(pf))
		}
	}
}

// pick returns the fields of these keys, in this order, so that steps
// sharing an answer share its definition.
func pick(fields []Field, keys ...string) []Field {
	out := make([]Field, 0, len(keys))
	for _, k := range keys {
		found := false
		for _, f := range fields {
			if f.Key == k {
				out = append(out, f)
				found = true
				break
			}
		}
		if !found {
			panic(fmt.Sprintf("steps: no field %q", k))
		}
	}
	return out
}

package steps

import "reflect"

// Clone is a deep copy of the plan: changing the copy, however deep (a VM's
// power_on, a probe's VMs, an OVF property), leaves pf as it was. Fields
// added to PlanFile later are copied too: the copy walks the type.
func (pf *PlanFile) Clone() *PlanFile {
	if pf == nil {
		return nil
	}
	c := *pf
	deepen(reflect.ValueOf(&c).Elem())
	return &c
}

// deepen replaces, in the settable value v, every pointer, slice and map
// reachable through exported fields by a copy of what it refers to.
func deepen(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if f := v.Field(i); f.CanSet() {
				deepen(f)
			}
		}
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		p := reflect.New(v.Type().Elem())
		p.Elem().Set(v.Elem())
		deepen(p.Elem())
		v.Set(p)
	case reflect.Slice:
		if v.IsNil() {
			return
		}
		s := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(s, v)
		for i := 0; i < s.Len(); i++ {
			deepen(s.Index(i))
		}
		v.Set(s)
	case reflect.Map:
		if v.IsNil() {
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), v.Len())
		for it := v.MapRange(); it.Next(); {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(it.Value())
			deepen(e)
			m.SetMapIndex(it.Key(), e)
		}
		v.Set(m)
	}
}

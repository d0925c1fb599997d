package steps_test

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/ferry-migrate/ferry/steps"
)

// fill gives every field reachable from v (exported, settable) a value
// derived from seed: two elements per slice and map, every pointer set.
func fill(t *testing.T, v reflect.Value, seed string) {
	t.Helper()
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if f := v.Field(i); f.CanSet() {
				fill(t, f, fmt.Sprintf("%s.%d", seed, i))
			}
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, v.Elem(), seed)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := 0; i < 2; i++ {
			fill(t, v.Index(i), fmt.Sprintf("%s[%d]", seed, i))
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		for i := 0; i < 2; i++ {
			k := reflect.New(v.Type().Key()).Elem()
			fill(t, k, fmt.Sprintf("%s{%d}", seed, i))
			e := reflect.New(v.Type().Elem()).Elem()
			fill(t, e, fmt.Sprintf("%s{%d}=", seed, i))
			v.SetMapIndex(k, e)
		}
	case reflect.String:
		v.SetString(seed)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(len(seed)))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(len(seed)))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(len(seed)))
	default:
		t.Fatalf("fill: PlanFile holds a %s (%s): teach this test (and check Clone copies it)", v.Kind(), seed)
	}
}

// mutate changes every value reachable from v in place: through a shared
// pointer, slice or map the change would show in the original.
func mutate(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if f := v.Field(i); f.CanSet() {
				mutate(f)
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			mutate(v.Elem())
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			mutate(v.Index(i))
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(it.Value())
			mutate(e)
			v.SetMapIndex(it.Key(), e)
		}
	case reflect.String:
		v.SetString(v.String() + "!")
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(v.Int() + 1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(v.Uint() + 1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(v.Float() + 1)
	}
}

// TestPlanCloneIsDeep fills every field of a plan (so a field added later is
// covered), clones it, changes every value of the clone in place, and
// checks that the original did not move.
func TestPlanCloneIsDeep(t *testing.T) {
	orig, want := &steps.PlanFile{}, &steps.PlanFile{}
	fill(t, reflect.ValueOf(orig).Elem(), "plan")
	fill(t, reflect.ValueOf(want).Elem(), "plan")
	c := orig.Clone()
	if !reflect.DeepEqual(c, orig) {
		t.Fatalf("the clone differs from the original:\n%+v\n%+v", c, orig)
	}
	mutate(reflect.ValueOf(c).Elem())
	if reflect.DeepEqual(c, orig) {
		t.Fatal("mutating the clone changed nothing: the test does not test")
	}
	if !reflect.DeepEqual(orig, want) {
		t.Fatalf("mutating the clone changed the original:\n got %+v\nwant %+v", orig, want)
	}
}

func TestPlanCloneKeepsPathAndNil(t *testing.T) {
	var nilPlan *steps.PlanFile
	if nilPlan.Clone() != nil {
		t.Fatal("Clone of a nil plan is not nil")
	}
	path := t.TempDir() + "/plan.yaml"
	on := true
	pf := &steps.PlanFile{Org: "Company", VMs: []steps.VMPlan{{Name: "WebApp2", PowerOn: &on}}}
	if err := pf.Save(path); err != nil {
		t.Fatal(err)
	}
	c := pf.Clone()
	if c.Path() != path {
		t.Fatalf("clone's Path() = %q, want %q", c.Path(), path)
	}
	*c.VMs[0].PowerOn = false
	c.VMs = append(c.VMs, steps.VMPlan{Name: "WebApp3"})
	if !*pf.VMs[0].PowerOn || len(pf.VMs) != 1 {
		t.Fatalf("original changed with its clone: %+v", pf.VMs)
	}
}

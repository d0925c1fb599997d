package session_test

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/session"
)

func TestStorePath(t *testing.T) {
	for _, c := range []struct {
		f    session.StoreFiles
		want string
	}{
		{session.StoreFiles{Plan: "/p/plan.yaml", State: "/s/other.state"}, "/p/plan.replication.db"},
		{session.StoreFiles{Plan: "/p/plan", State: "/s/st"}, "/p/plan.replication.db"},
		{session.StoreFiles{State: "/s/bench.state"}, "/s/bench.state.replication.db"},
		{session.StoreFiles{Plan: "/p/plan.yaml"}, ""}, // a state kept in memory
		{session.StoreFiles{}, ""},
	} {
		if got := c.f.Path(); got != c.want {
			t.Errorf("%+v: store at %q, want %q", c.f, got, c.want)
		}
	}
}

// TestStoreRefusesAnotherStateFile: the plan's store binds to the state file
// that first used it once that file exists; a second state file for the
// same plan is refused by Open, CheckStore and Read alike, with a message
// naming the owner and the --state that would work.
func TestStoreRefusesAnotherStateFile(t *testing.T) {
	dir := t.TempDir()
	plan := filepath.Join(dir, "plan.yaml")
	first := session.StoreFiles{Plan: plan, State: filepath.Join(dir, "first.state")}
	second := session.StoreFiles{Plan: plan, State: filepath.Join(dir, "second.state")}
	log := slog.New(slog.DiscardHandler)

	var s session.Store
	st, err := s.Open(first, log)
	if err != nil {
		t.Fatal(err)
	}
	if owner, err := st.Owner(); err != nil || owner != "" {
		t.Fatalf("owner before the state file exists: %q, %v; want none", owner, err)
	}
	if err := os.WriteFile(first.State, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if st, err = s.Open(first, log); err != nil {
		t.Fatal(err)
	}
	if owner, err := st.Owner(); err != nil || owner != first.State {
		t.Fatalf("owner once the state file exists: %q, %v; want %s", owner, err, first.State)
	}
	s.Close()

	if err := session.CheckStore(first); err != nil {
		t.Fatalf("check by its own state file: %v", err)
	}
	var other session.Store
	for name, try := range map[string]func() error{
		"Open":       func() error { _, err := other.Open(second, log); return err },
		"CheckStore": func() error { return session.CheckStore(second) },
		"Read":       func() error { _, _, err := other.Read(second); return err },
	} {
		err := try()
		if !errors.Is(err, session.ErrStoreOwned) {
			t.Fatalf("%s by another state file: %v, want ErrStoreOwned", name, err)
		}
		for _, want := range []string{session.ReplicationStorePath(plan), "with state file " + first.State, "use --state " + first.State} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %q does not say %q", name, err, want)
			}
		}
	}
	other.Close()

	// The refusal changed nothing: the first state file still opens it.
	if st, err = s.Open(first, log); err != nil {
		t.Fatalf("reopen by its owner: %v", err)
	}
	s.Close()
}

// TestStoreAdoptsTheStoreBesideTheStateFile: a store an older ferry kept
// beside the state file moves beside the plan with its history.
func TestStoreAdoptsTheStoreBesideTheStateFile(t *testing.T) {
	dir := t.TempDir()
	f := session.StoreFiles{Plan: filepath.Join(dir, "plan.yaml"), State: filepath.Join(dir, "run.state")}
	log := slog.New(slog.DiscardHandler)
	var old session.Store
	st, err := old.Open(session.StoreFiles{State: f.State}, log) // a state without a plan
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetOwner("/somewhere/run.state"); err != nil {
		t.Fatal(err)
	}
	old.Close()

	var s session.Store
	_, err = s.Open(f, log)
	if !errors.Is(err, session.ErrStoreOwned) {
		t.Fatalf("adopted store owned elsewhere: %v, want ErrStoreOwned (its history moved with it)", err)
	}
	if _, err := os.Stat(f.State + ".replication.db"); !os.IsNotExist(err) {
		t.Fatalf("the old store is still beside the state file: %v", err)
	}
	if _, err := os.Stat(session.ReplicationStorePath(f.Plan)); err != nil {
		t.Fatalf("the store is not beside the plan: %v", err)
	}
}

// TestInMemoryStoreLeavesNothing: an in-memory state's store lives in a
// temporary directory that Close removes.
func TestInMemoryStoreLeavesNothing(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	var s session.Store
	if _, err := s.Open(session.StoreFiles{}, slog.Default()); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 1 {
		t.Fatalf("an open in-memory store: %d entries in the temporary directory, want its one directory", len(ents))
	}
	s.Close()
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("after Close the temporary directory holds %v", ents)
	}
}

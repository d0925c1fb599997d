// Package labtest holds the test helpers that the tests of several packages
// share: starting the embedded lab for one test, and reading the exit code
// of a command the test ran. Only tests import it.
package labtest

import (
	"context"
	"errors"
	"os/exec"
	"testing"

	"github.com/ferry-migrate/ferry/lab"
)

// Start starts a lab with opts for the test t and closes it when the test
// ends; a lab that does not start fails the test.
func Start(t testing.TB, opts lab.Options) *lab.Lab {
	t.Helper()
	l, err := lab.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// ExitCode is the exit code of a command that ran and returned err
// (exec.Cmd.Run and friends): 0 for nil, the process's code for an
// *exec.ExitError, -1 for a command that did not run or was killed.
func ExitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

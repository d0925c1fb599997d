package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestLabServeHangup: a dropped SSH session sends SIGHUP; the lab stops as
// on SIGTERM and removes its temporary directory (it holds credentials).
func TestLabServeHangup(t *testing.T) {
	cmd := exec.Command(ferryBin, "lab", "serve", "--disk-mib", "16")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	dir := ""
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && sc.Text() != "lab ready" {
		if v, ok := strings.CutPrefix(sc.Text(), "export FERRY_CA_FILE="); ok {
			dir = filepath.Dir(strings.Trim(v, "'"))
		}
	}
	if dir == "" {
		t.Fatal("no FERRY_CA_FILE line before lab ready")
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("lab serve after SIGHUP: %v (want a clean exit, as after SIGTERM)", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("lab directory %s left behind after SIGHUP: %v", dir, err)
	}
}

//go:build !unix && !windows

package subprocess

import (
	"errors"
	"os"
	"syscall"
)

// poolSupported is false where processes cannot be given extra files.
const poolSupported = false

func groupAttr() *syscall.SysProcAttr { return nil }

func terminateGroup(p *os.Process) error { return killGroup(p) }

func killGroup(p *os.Process) error {
	if err := p.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

func exitSignal(*os.ProcessState) string { return "" }

func executable() (string, error) { return os.Executable() }

func workerFiles() (r, w *os.File, err error) {
	return nil, nil, errors.ErrUnsupported
}

func workerAttr() *syscall.SysProcAttr { return groupAttr() }

func watchParent() {}

func parentGone() bool { return false }

func orphaned() {}

// killDescendants does nothing here: a worker cannot find the processes
// below it on this platform (see doc.go).
func killDescendants() {}

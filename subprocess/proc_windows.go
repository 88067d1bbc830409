package subprocess

import (
	"errors"
	"os"
	"syscall"
)

// poolSupported is false on Windows: os/exec cannot pass the pool's pipes
// as extra files there. [Command] works.
const poolSupported = false

// groupAttr starts a child in a process group of its own.
func groupAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP}
}

// terminateGroup kills p: Windows has no SIGTERM to send.
func terminateGroup(p *os.Process) error { return killGroup(p) }

// killGroup kills p (Windows has no signals for process groups; a job
// object would be needed to reach its children).
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

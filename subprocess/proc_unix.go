//go:build unix

package subprocess

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// poolSupported reports whether worker pools work here: they pass their
// pipes to the worker as extra file descriptors.
const poolSupported = true

// groupAttr puts a child in a process group of its own (so that signalling
// the group reaches everything it started, and a terminal's Ctrl-C reaches
// only the parent, which decides) and, on Linux, has the kernel kill it
// when its parent dies.
func groupAttr() *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true}
	setPdeathsig(a)
	return a
}

// terminateGroup sends SIGTERM to the process group led by p.
func terminateGroup(p *os.Process) error { return signalGroup(p, syscall.SIGTERM) }

// killGroup sends SIGKILL to the process group led by p.
func killGroup(p *os.Process) error { return signalGroup(p, syscall.SIGKILL) }

// signalGroup signals the process group whose ID is p's PID. A group's ID
// stays allocated while any member lives, even after its leader was reaped,
// so this reaches stragglers the leader left behind and nothing else; only
// when the group is empty could the number have been reused, and then only
// as a new group leader's.
func signalGroup(p *os.Process, sig syscall.Signal) error {
	if err := syscall.Kill(-p.Pid, sig); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		return err
	}
	return nil
}

// exitSignal names the signal that ended a process, or returns "".
func exitSignal(ps *os.ProcessState) string {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return ws.Signal().String()
	}
	return ""
}

// Workers receive their stream to the parent as fds 3 (read) and 4 (write).
const (
	workerReadFD  = 3
	workerWriteFD = 4
)

// workerFiles opens the worker's ends of the pipes. They are made
// non-blocking, so that the runtime's poller serves them, and close-on-exec,
// so that programs the worker's functions start do not inherit them (a
// grandchild holding fd 4 would keep the parent from seeing the worker die).
func workerFiles() (r, w *os.File, err error) {
	for _, fd := range []int{workerReadFD, workerWriteFD} {
		var st syscall.Stat_t
		if err := syscall.Fstat(fd, &st); err != nil {
			return nil, nil, fmt.Errorf("subprocess: worker fd %d: %w", fd, err)
		}
		syscall.CloseOnExec(fd)
		if err := syscall.SetNonblock(fd, true); err != nil {
			return nil, nil, fmt.Errorf("subprocess: worker fd %d: %w", fd, err)
		}
	}
	return os.NewFile(workerReadFD, "subprocess-in"), os.NewFile(workerWriteFD, "subprocess-out"), nil
}

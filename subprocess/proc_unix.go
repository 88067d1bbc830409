//go:build unix

package subprocess

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
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

// parentPid is the worker's parent when Main started.
var parentPid int

// watchParent makes the worker take its process tree down with it when
// its parent dies. On Linux the parent's death sends SIGCONT (see
// workerAttr), which resumes a stopped worker; a SIGCONT from anyone else
// changes nothing. A SIGHUP (the kernel sends it to an orphaned process
// group with a stopped member) is handled the same way if the parent is
// gone, and otherwise takes its default action, as if it were not caught.
// serve calls orphaned too when the stream from the parent ends and the
// parent is gone, which is how workers elsewhere learn of it. SIGTERM,
// which the pool sends to stop a worker, is not caught: it ends the
// worker at once, and the pool then kills the worker's group.
func watchParent() {
	parentPid = os.Getppid()
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP, syscall.SIGCONT)
	go func() {
		for sig := range ch {
			// The signal comes when the thread that started the
			// worker exits, which may be a moment before its whole
			// process has gone (until then the worker still has it
			// for a parent).
			for range 200 {
				if parentGone() {
					orphaned()
				}
				time.Sleep(10 * time.Millisecond)
			}
			if sig == syscall.SIGHUP {
				signal.Reset(syscall.SIGHUP)
				syscall.Kill(os.Getpid(), syscall.SIGHUP)
			}
		}
	}()
}

// parentGone reports whether the worker's parent has died (it was
// reparented).
func parentGone() bool { return os.Getppid() != parentPid }

// orphaned kills the programs the worker's functions started, all of its
// descendants on Linux and its process group elsewhere, and the worker.
func orphaned() {
	killDescendants()
	syscall.Kill(0, syscall.SIGKILL) // the worker's group, the worker last
	os.Exit(3)
}

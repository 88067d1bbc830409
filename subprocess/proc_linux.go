package subprocess

import "syscall"

// setPdeathsig has the kernel send SIGKILL to the child when the thread
// that started it exits. That is the thread, not the process
// (golang/go#27505): children are started on a goroutine locked to its
// thread until the child has been reaped, so the signal comes only when the
// whole parent dies.
func setPdeathsig(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }

// executable returns the path that re-executes this program. /proc/self/exe
// keeps working when the binary was replaced or deleted on disk.
func executable() (string, error) { return "/proc/self/exe", nil }

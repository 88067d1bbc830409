//go:build unix && !linux

package subprocess

import (
	"os"
	"syscall"
)

// setPdeathsig does nothing: only Linux has a parent-death signal. Workers
// elsewhere notice their parent's death when their pipe from it ends, and
// exit at once.
func setPdeathsig(*syscall.SysProcAttr) {}

func workerAttr() *syscall.SysProcAttr { return groupAttr() }

// executable returns the path of this program's binary.
func executable() (string, error) { return os.Executable() }

// killDescendants does nothing: without /proc, a worker only kills its
// process group.
func killDescendants() {}

package subprocess

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// setPdeathsig has the kernel send SIGKILL to the child when the thread
// that started it exits. That is the thread, not the process
// (golang/go#27505): children are started on a goroutine locked to its
// thread until the child has been reaped, so the signal comes only when the
// whole parent dies.
func setPdeathsig(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }

// workerAttr is groupAttr for a worker, whose parent-death signal is
// SIGCONT. The worker catches it (see watchParent) to kill the programs its
// functions started before it exits, which SIGKILL would not let it do;
// and SIGCONT, unlike any other catchable signal, also resumes a worker
// that was stopped (SIGSTOP, SIGTSTP) when its parent died, which would
// otherwise never run its handler and survive, stopped, for ever. (The
// kernel's own rescue of an orphaned process group with a stopped member,
// SIGHUP then SIGCONT, comes only if the stop had completed in every
// thread of the worker when the parent died, which a Go program's many
// threads make a race.)
func workerAttr() *syscall.SysProcAttr {
	a := groupAttr()
	a.Pdeathsig = syscall.SIGCONT
	return a
}

// executable returns the path that re-executes this program. /proc/self/exe
// keeps working when the binary was replaced or deleted on disk.
func executable() (string, error) { return "/proc/self/exe", nil }

// killDescendants kills every process below this one in the process tree,
// whatever its process group: it stops them all first (a stopped process
// cannot fork a child that would escape to init when its parent is
// killed), looking again until no new one appears, then kills them.
func killDescendants() {
	stopped := make(map[int]bool)
	for range 10 {
		found := false
		for _, pid := range descendants(os.Getpid()) {
			if !stopped[pid] {
				stopped[pid] = true
				found = true
				syscall.Kill(pid, syscall.SIGSTOP)
			}
		}
		if !found {
			break
		}
	}
	for pid := range stopped {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// descendants lists the processes below root, from the parent IDs in
// /proc/*/stat.
func descendants(root int) []int {
	paths, _ := filepath.Glob("/proc/[0-9]*/stat")
	children := make(map[int][]int)
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // it exited
		}
		// pid (comm) state ppid ...: comm may hold anything, so parse
		// after the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(b[i+1:])
		if len(f) < 2 {
			continue
		}
		pid, err1 := strconv.Atoi(filepath.Base(filepath.Dir(path)))
		ppid, err2 := strconv.Atoi(string(f[1]))
		if err1 == nil && err2 == nil {
			children[ppid] = append(children[ppid], pid)
		}
	}
	var out []int
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, c := range children[pid] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

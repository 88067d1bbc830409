package subprocess

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"runtime"
	"sync"
	"time"
)

// commandWaitDelay is the WaitDelay a Cmd starts with.
const commandWaitDelay = 2 * time.Second

// Cmd is an external program run as a well-behaved task: it runs in a
// process group of its own, the whole group is killed when the context is
// done, processes left in the group when the program exits are killed
// too, and on Linux the kernel kills the program if the parent dies.
//
// Cmd embeds *exec.Cmd: set Dir, Env, Stdin, Stdout, Stderr and the other
// fields before starting it, and use its methods such as StdoutPipe. Its
// own Start, Wait, Run, Output and CombinedOutput replace exec.Cmd's; do not
// call the embedded ones. SysProcAttr is preset (Setpgid, and Pdeathsig on
// Linux): change its fields rather than replacing it. Cancel kills the
// process group, and WaitDelay is 2s, so that a grandchild holding the
// program's output pipes open cannot make Wait hang; both may be changed
// before Start.
//
// A Cmd runs once. Like exec.Cmd, it must not be used from several
// goroutines at once, except that Wait may run while another goroutine
// reads from a pipe.
type Cmd struct {
	*exec.Cmd

	ctx     context.Context
	waitReq chan struct{} // closed by Wait: the starter may reap the process
	done    chan struct{} // closed when the process has been reaped
	waitErr error
	once    sync.Once
}

// Command returns a Cmd that runs the program name with args, as
// exec.CommandContext does, killing its process group when ctx is done. In
// a nursery:
//
//	n.Go(func(ctx context.Context) error {
//		return subprocess.Command(ctx, "convert", in, out).Run()
//	})
//
// Command panics if ctx is nil.
func Command(ctx context.Context, name string, args ...string) *Cmd {
	if ctx == nil {
		panic("subprocess: nil Context")
	}
	c := &Cmd{Cmd: exec.CommandContext(ctx, name, args...), ctx: ctx}
	c.SysProcAttr = groupAttr()
	c.Cancel = func() error { return killGroup(c.Process) }
	c.WaitDelay = commandWaitDelay
	return c
}

// Start starts the program. On Linux it starts it from an OS thread that a
// goroutine keeps locked until the program is reaped, because the
// parent-death signal fires when the starting thread exits, not the whole
// parent (golang/go#27505). Wait must be called to release the program's
// resources.
func (c *Cmd) Start() error {
	if c.done != nil {
		return errors.New("subprocess: Cmd already started")
	}
	c.waitReq = make(chan struct{})
	c.done = make(chan struct{})
	started := make(chan error, 1)
	go func() {
		defer close(c.done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := c.Cmd.Start(); err != nil {
			c.waitErr = err
			started <- err
			return
		}
		started <- nil
		// Reap only when Wait is called: exec.Cmd.Wait closes the
		// pipes, which must not happen before the caller has read them.
		<-c.waitReq
		c.waitErr = c.Cmd.Wait()
		killGroup(c.Process) // stragglers the program left in its group
	}()
	if err := <-started; err != nil {
		<-c.done
		return c.fixErr(err)
	}
	return nil
}

// Wait waits for the program to exit and for its output to be copied, and
// kills whatever the program left running in its process group. If the
// context was done and the program failed, Wait returns
// context.Cause(ctx), so that a nursery recognizes the cancellation;
// otherwise it returns what exec.Cmd.Wait returns.
func (c *Cmd) Wait() error {
	if c.done == nil {
		return errors.New("subprocess: Cmd not started")
	}
	c.once.Do(func() { close(c.waitReq) })
	<-c.done
	return c.fixErr(c.waitErr)
}

func (c *Cmd) fixErr(err error) error {
	if err != nil && c.ctx.Err() != nil {
		return context.Cause(c.ctx)
	}
	return err
}

// Run starts the program and waits for it.
func (c *Cmd) Run() error {
	if err := c.Start(); err != nil {
		return err
	}
	return c.Wait()
}

// Output runs the program and returns its standard output. If Stderr is
// nil, the last 32 KiB of the program's standard error are kept in the
// *exec.ExitError's Stderr, as exec.Cmd.Output does.
func (c *Cmd) Output() ([]byte, error) {
	if c.Stdout != nil {
		return nil, errors.New("subprocess: Stdout already set")
	}
	var stdout bytes.Buffer
	c.Stdout = &stdout
	var stderr *tailWriter
	if c.Stderr == nil {
		stderr = newTailWriter(nil, 32<<10)
		c.Stderr = stderr
	}
	err := c.Run()
	var ee *exec.ExitError
	if stderr != nil && errors.As(err, &ee) {
		ee.Stderr = []byte(stderr.String())
	}
	return stdout.Bytes(), err
}

// CombinedOutput runs the program and returns its standard output and
// standard error together.
func (c *Cmd) CombinedOutput() ([]byte, error) {
	if c.Stdout != nil {
		return nil, errors.New("subprocess: Stdout already set")
	}
	if c.Stderr != nil {
		return nil, errors.New("subprocess: Stderr already set")
	}
	var b syncBuffer
	c.Stdout = &b
	c.Stderr = &b
	err := c.Run()
	return b.Bytes(), err
}

// syncBuffer is a bytes.Buffer for two copying goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Bytes()
}

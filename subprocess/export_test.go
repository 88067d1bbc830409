package subprocess

// WorkerPids returns the process IDs of the workers that take calls.
func WorkerPids(p *Pool) []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	pids := make([]int, len(p.live))
	for i, w := range p.live {
		pids[i] = w.pid
	}
	return pids
}

// InFlight returns the number of calls the pool's workers are running.
func InFlight(p *Pool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for w := range p.all {
		n += w.inflight
	}
	return n
}

// FramesSent returns how many frames the pool sent to its live workers.
func FramesSent(p *Pool) int {
	p.mu.Lock()
	ws := append([]*worker(nil), p.live...)
	p.mu.Unlock()
	n := 0
	for _, w := range ws {
		w.fw.mu.Lock()
		n += w.fw.frames
		w.fw.mu.Unlock()
	}
	return n
}

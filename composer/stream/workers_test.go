package stream

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// idleCount is how many workers wait for work.
func (p *workers) idleCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

// waitIdle waits until n workers are idle: a worker parks just after its
// function returns.
func waitIdle(t *testing.T, p *workers, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second) // a bound, not a timing claim
	for p.idleCount() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d idle workers, want %d", p.idleCount(), n)
		}
		runtime.Gosched()
	}
}

func TestWorkersReuseGoroutines(t *testing.T) {
	var p workers
	ids := map[*worker]bool{}
	for range 100 {
		done := make(chan struct{})
		p.Go(func() { close(done) })
		<-done
		waitIdle(t, &p, 1)
		p.mu.Lock()
		ids[p.idle[0]] = true
		p.mu.Unlock()
	}
	if len(ids) != 1 {
		t.Errorf("100 sequential fetches ran on %d goroutines, want 1 reused", len(ids))
	}
	p.stopIdle()
}

func TestWorkersBoundTheirIdleOnes(t *testing.T) {
	p := workers{maxIdle: 3}
	release := make(chan struct{})
	var started sync.WaitGroup
	for range 10 {
		started.Add(1)
		p.Go(func() { started.Done(); <-release })
	}
	started.Wait()
	close(release)
	waitIdle(t, &p, 3) // the other 7 exited
	p.stopIdle()
}

func TestWorkersIdleTooLongAreSentAway(t *testing.T) {
	p := workers{idleFor: time.Millisecond}
	var started sync.WaitGroup
	release := make(chan struct{})
	for range 2 {
		started.Add(1)
		p.Go(func() { started.Done(); <-release })
	}
	started.Wait()
	close(release)
	waitIdle(t, &p, 2)
	time.Sleep(5 * time.Millisecond) // past idleFor
	done := make(chan struct{})
	p.Go(func() { close(done) }) // the most recent worker runs it
	<-done
	// Parking again, it sends away the one idle since before.
	waitIdle(t, &p, 1)
	p.stopIdle()
}

// stopIdle ends the idle workers (for tests).
func (p *workers) stopIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, w := range p.idle {
		w.run <- nil
	}
	p.idle = nil
}

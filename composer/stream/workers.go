package stream

import (
	"sync"
	"time"
)

// workers runs fragment fetches on goroutines kept from earlier pages. A
// fetch goes deep (cache, transport, dialer, poller) and a new goroutine
// grows its stack to get there, copying it twice, for every fragment of
// every page; a kept goroutine has its stack already. Idle workers wait
// in a stack, most recently used on top, so a steady load reuses the same
// few; past maxIdle of them a finishing worker exits, and one left idle
// longer than idleFor is sent away by the next one to finish.
type workers struct {
	maxIdle int           // 0: maxIdleWorkers
	idleFor time.Duration // 0: workerIdleFor

	mu   sync.Mutex
	idle []*worker
}

type worker struct {
	run   chan func()
	since time.Time // idle since
}

// fetchWorkers runs every Composer's fetches: goroutines are the
// process's, so one bound on idle ones holds however many Composers there
// are (tests make many).
var fetchWorkers workers

const (
	maxIdleWorkers = 1024
	workerIdleFor  = 30 * time.Second
)

// Go runs f on an idle worker or a new one.
func (p *workers) Go(f func()) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		w.run <- f
		return
	}
	p.mu.Unlock()
	go p.work(&worker{run: make(chan func(), 1)}, f)
}

func (p *workers) work(w *worker, f func()) {
	for f != nil {
		f()
		f = nil // let it be collected while idle
		if !p.park(w) {
			return
		}
		f = <-w.run
	}
}

// park puts w on the idle stack, sending away the longest-idle worker if
// it has idled too long. It reports false when w should exit instead.
func (p *workers) park(w *worker) bool {
	now := time.Now()
	w.since = now
	p.mu.Lock()
	defer p.mu.Unlock()
	idleFor, maxIdle := p.idleFor, p.maxIdle
	if idleFor == 0 {
		idleFor = workerIdleFor
	}
	if maxIdle == 0 {
		maxIdle = maxIdleWorkers
	}
	if len(p.idle) > 0 && now.Sub(p.idle[0].since) > idleFor {
		p.idle[0].run <- nil
		p.idle = append(p.idle[:0], p.idle[1:]...)
	}
	if len(p.idle) >= maxIdle {
		return false
	}
	p.idle = append(p.idle, w)
	return true
}

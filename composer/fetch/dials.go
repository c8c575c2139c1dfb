package fetch

import "time"

// A dial runs on a goroutine of its own (connect, dialAhead: dialling goes
// deep into the net package, and the fetching goroutine's stack would keep
// that depth), and a goroutine waiting in connect holds its stack, 4 to 8
// KB. A burst with nothing pooled (a thousand pages of five fragments, the
// composer just started or the fragment's server just restarted) dials
// thousands of connections to one address at once: in the harness's
// memory run, 2,500 dialling goroutines and 20 MB of stacks, which the
// process kept after they ended. So the dials in flight to one address are
// bounded: past wireDialsPerAddr, a dial waits its turn as a queued
// function (a closure, not a stack), and the first of that address's
// dialling goroutines to finish runs it next, in the order they came.
//
// Per address, not per process: a fragment server that takes no
// connections holds back the dials to itself only (each ends with its
// page's deadline, or the dialler's timeout), never another fragment's.
// A queued dial whose page is gone fails at once when its turn comes (the
// dialler sees the context ended).
//
// 64 at once is far more than a loopback or in-VPC connect needs (tens of
// microseconds to a millisecond each: tens of thousands of dials a second
// to one address); a burst's rate is set by the machine, not by this.
//
// A dial that waited wireDialWait while none of its address's dials
// ended, or wireDialWaitMost in any case, dials on a goroutine of its own
// as if there were no bound: a server that never completes a connection
// holds each line for the dialler's whole timeout (2 s), and the dials
// behind would otherwise wait 2 s, 4 s, ... past their fragments'
// deadlines, where each would fail at 2 s without the bound. A burst
// against a healthy server on a machine short of CPU keeps ending dials,
// and keeps its bound (its dials waited up to a few hundred milliseconds
// for the CPU, in line or not).
const (
	wireDialsPerAddr = 64
	wireDialWait     = 100 * time.Millisecond
	wireDialWaitMost = time.Second
)

// dialLine is one address's dials: how many goroutines are dialling, the
// dials waiting their turn (the oldest first), and the timer that starts
// the ones that waited wireDialWait.
type dialLine struct {
	running int
	queue   []queuedDial
	timer   *time.Timer // set while the queue is not empty
	// ended counts the dials that ended; endedAtTimer, what it was when
	// timer was set.
	ended, endedAtTimer uint64
}

type queuedDial struct {
	dial  func()
	since time.Time
}

// goDial runs dial on a goroutine of its own, or queues it behind addr's
// dials in flight when there are wireDialsPerAddr of them.
func (w *wire) goDial(addr string, dial func()) {
	w.dialMu.Lock()
	l := w.dials[addr]
	if l == nil {
		if w.dials == nil {
			w.dials = map[string]*dialLine{}
		}
		l = &dialLine{}
		w.dials[addr] = l
	}
	if l.running >= wireDialsPerAddr {
		l.queue = append(l.queue, queuedDial{dial, time.Now()})
		if l.timer == nil {
			l.endedAtTimer = l.ended
			l.timer = time.AfterFunc(w.dialWait, func() { w.overdue(addr, l) })
		}
		w.dialMu.Unlock()
		w.dialsWaited.Add(1)
		return
	}
	l.running++
	w.dialMu.Unlock()
	go w.runDials(addr, l, dial)
}

// runDials runs dial, then addr's queued dials, one after another, until
// none is left.
func (w *wire) runDials(addr string, l *dialLine, dial func()) {
	for {
		dial()
		w.dialMu.Lock()
		l.ended++
		if len(l.queue) == 0 {
			l.running--
			if l.running == 0 && w.dials[addr] == l {
				delete(w.dials, addr)
			}
			w.dialMu.Unlock()
			return
		}
		dial = l.queue[0].dial
		l.queue[0] = queuedDial{}
		l.queue = l.queue[1:]
		w.dialMu.Unlock()
	}
}

// overdue starts the dials of l that waited too long (wireDialWait with
// no dial of the address ended since the timer was set, or
// wireDialWaitMost), each on a goroutine of its own (which, done, goes on
// with the queue as the others do), and sets the timer again: it looks
// every wireDialWait while dials wait.
func (w *wire) overdue(addr string, l *dialLine) {
	now := time.Now()
	w.dialMu.Lock()
	wait := w.dialWait
	if l.ended != l.endedAtTimer {
		wait = max(wait, wireDialWaitMost)
	}
	n := 0
	for n < len(l.queue) && now.Sub(l.queue[n].since) >= wait {
		n++
	}
	late := make([]func(), n)
	for i := range late {
		late[i] = l.queue[i].dial
		l.queue[i] = queuedDial{}
	}
	l.queue = l.queue[n:]
	l.running += n
	l.timer = nil
	if len(l.queue) > 0 {
		l.endedAtTimer = l.ended
		l.timer = time.AfterFunc(w.dialWait, func() { w.overdue(addr, l) })
	}
	w.dialMu.Unlock()
	w.dialsLate.Add(int64(n))
	for _, dial := range late {
		go w.runDials(addr, l, dial)
	}
}

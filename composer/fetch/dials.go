package fetch

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
const wireDialsPerAddr = 64

// dialLine is one address's dials: how many goroutines are dialling, and
// the dials waiting their turn.
type dialLine struct {
	running int
	queue   []func()
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
		l.queue = append(l.queue, dial)
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
		if len(l.queue) == 0 {
			l.running--
			if l.running == 0 {
				delete(w.dials, addr)
			}
			w.dialMu.Unlock()
			return
		}
		dial = l.queue[0]
		l.queue[0] = nil
		l.queue = l.queue[1:]
		w.dialMu.Unlock()
	}
}

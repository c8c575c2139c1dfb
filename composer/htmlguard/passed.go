package htmlguard

import (
	"hash/maphash"
	"math"
	"sync/atomic"
	"unsafe"
)

// Passed remembers what a Guard made of whole pieces, so that the same
// piece, under the same rules, is not read again: a fragment that answers
// the same bytes on every page (a header, a footer, the recommendations of
// a popular product) is guarded once, not once a page. For each piece it
// keeps a 64-bit hash of it, with a key drawn at random when the Passed is
// made (no one outside the process can make a piece that takes another's
// place; a match by chance is one in 2^64), and the guard's output as
// spans of the piece and the few bytes the guard wrote itself (end tags it
// added, tags it rewrote): a piece whose output would take more is
// guarded every time. It holds a fixed number of pieces, the latest in
// each of its slots; a piece forgotten is guarded again. It is safe for
// concurrent use, and reads take no lock.
//
// What the guard's output depends on is the piece, its Reserved ids and
// its Scripts: a Guard's Passed is used only with no Scripts or Scripts
// without a policy (a fragment that sent no Content-Security-Policy),
// whether there are Scripts and their Trust are part of the key, and
// Scope stands for the Reserved ids (see Guard.Scope).
type Passed struct {
	seed  maphash.Seed
	slots []atomic.Pointer[passedPiece]
}

// What one piece's output may take, at most, to be remembered: a few
// spans and a few bytes of the guard's own (a slot holds under 1 KB).
const (
	maxPassedSpans = 32
	maxPassedBytes = 256
)

// passedPiece is what the guard made of one piece: its output is spans,
// each of the piece or of own.
type passedPiece struct {
	check uint64
	size  int
	spans []passedSpan
	own   []byte
}

type passedSpan struct {
	from, to int32
	own      bool
}

// NewPassed returns a Passed of n slots.
func NewPassed(n int) *Passed {
	return &Passed{seed: maphash.MakeSeed(), slots: make([]atomic.Pointer[passedPiece], max(n, 1))}
}

// key is a piece's slot and the check kept in it: the piece's hash, with
// the rules mixed in (scope and script rules, each pair its own: scope
// is below 2^62).
func (p *Passed) key(piece []byte, scope uint64, scripts *Scripts) (slot int, check uint64) {
	rules := scope << 2
	switch {
	case scripts == nil: // passed as they are
	case scripts.Trust:
		rules |= 1
	default: // made inert
		rules |= 2
	}
	// The whole hash is kept: a piece matches another's only if all 64
	// bits do.
	check = maphash.Bytes(p.seed, piece) ^ rules
	if check == 0 {
		check = 1 // 0 is an empty slot
	}
	return int(check % uint64(len(p.slots))), check
}

// WriteWhole is Write of a whole piece, then Close. With a Passed, a
// piece this Guard read before under the same rules is not read again:
// its output is written from what was kept. The output is what Write and
// Close would give, byte for byte.
func (g *Guard) WriteWhole(piece []byte, emit func([]byte)) {
	p := g.Passed
	if p == nil || g.reference || g.Scripts != nil && !g.Scripts.Policy.IsZero() || !g.fresh() || len(piece) > math.MaxInt32 {
		g.Write(piece, emit)
		g.Close(emit)
		return
	}
	slot, check := p.key(piece, g.Scope, g.Scripts)
	if e := p.slots[slot].Load(); e != nil && e.check == check && e.size == len(piece) {
		for _, sp := range e.spans {
			if sp.own {
				emit(e.own[sp.from:sp.to])
			} else {
				emit(piece[sp.from:sp.to])
			}
		}
		return
	}
	// Guard it, keeping the output as spans of the piece and bytes of the
	// guard's own.
	e := &passedPiece{check: check, size: len(piece)}
	keep := len(piece) > 0
	base := uintptr(unsafe.Pointer(unsafe.SliceData(piece)))
	watch := func(b []byte) {
		emit(b)
		if !keep || len(b) == 0 {
			return
		}
		var sp passedSpan
		if at := uintptr(unsafe.Pointer(unsafe.SliceData(b))) - base; at < uintptr(len(piece)) && at+uintptr(len(b)) <= uintptr(len(piece)) {
			sp = passedSpan{from: int32(at), to: int32(at) + int32(len(b))}
			if n := len(e.spans); n > 0 && !e.spans[n-1].own && e.spans[n-1].to == sp.from {
				e.spans[n-1].to = sp.to // one span with the one before
				return
			}
		} else {
			if len(e.own)+len(b) > maxPassedBytes {
				keep = false
				return
			}
			sp = passedSpan{from: int32(len(e.own)), to: int32(len(e.own) + len(b)), own: true}
			e.own = append(e.own, b...)
		}
		if len(e.spans) == maxPassedSpans {
			keep = false
			return
		}
		e.spans = append(e.spans, sp)
	}
	g.Write(piece, watch)
	g.Close(watch)
	if keep {
		p.slots[slot].Store(e)
	}
}

// fresh reports whether g holds nothing of a piece: a new Guard, or one
// after Close.
func (g *Guard) fresh() bool {
	return g.st == sData && len(g.stack) == 0 && len(g.held) == 0 && len(g.utf8Tail) == 0 && len(g.run) == 0 && !g.scr.on
}

package htmlguard

import (
	"bytes"
	"hash/maphash"
	"sync/atomic"
)

// Passed remembers whole pieces that a Guard passed unchanged, so that the
// same piece, under the same rules, passes again without being read: a
// fragment that answers the same bytes on every page (a header, a footer,
// the recommendations of a popular product) is guarded once, not once a
// page. It remembers no piece, only a 64-bit hash of it, with a key drawn
// at random when the Passed is made: no one outside the process can make
// a piece that takes another's place (a match by chance is one in 2^64). It holds a fixed number of pieces, the latest in each of its
// slots; a piece forgotten is guarded again. It is safe for concurrent
// use, and reads take no lock.
//
// What the guard's output depends on is the piece, its Reserved ids and
// its Scripts: a Guard's Passed is used only with no Scripts or Scripts
// without a policy (a fragment that sent no Content-Security-Policy),
// whether there are Scripts and their Trust are part of the key, and
// Scope stands for the Reserved ids (see Guard.Scope).
type Passed struct {
	seed  maphash.Seed
	slots []atomic.Uint64 // a piece's hash, in the slot its low bits pick; 0: empty
}

// NewPassed returns a Passed of n slots (a power of two is best: the
// slot is picked by a hash's low bits).
func NewPassed(n int) *Passed {
	return &Passed{seed: maphash.MakeSeed(), slots: make([]atomic.Uint64, max(n, 1))}
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
// piece this Guard passed unchanged before under the same rules is passed
// at once; one it passes unchanged now is remembered. The output is what
// Write and Close would give, byte for byte.
func (g *Guard) WriteWhole(piece []byte, emit func([]byte)) {
	p := g.Passed
	if p == nil || g.reference || g.Scripts != nil && !g.Scripts.Policy.IsZero() || !g.fresh() {
		g.Write(piece, emit)
		g.Close(emit)
		return
	}
	slot, check := p.key(piece, g.Scope, g.Scripts)
	if p.slots[slot].Load() == check {
		if len(piece) > 0 {
			emit(piece)
		}
		return
	}
	// Guard it, watching whether the output is the piece itself.
	off, same := 0, true
	watch := func(b []byte) {
		if same {
			same = off+len(b) <= len(piece) && (len(b) == 0 || &b[0] == &piece[off] || bytes.Equal(b, piece[off:off+len(b)]))
			off += len(b)
		}
		emit(b)
	}
	g.Write(piece, watch)
	g.Close(watch)
	if same && off == len(piece) {
		p.slots[slot].Store(check)
	}
}

// fresh reports whether g holds nothing of a piece: a new Guard, or one
// after Close.
func (g *Guard) fresh() bool {
	return g.st == sData && len(g.stack) == 0 && len(g.held) == 0 && len(g.utf8Tail) == 0 && len(g.run) == 0 && !g.scr.on
}

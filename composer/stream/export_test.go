package stream

// MoverScript is the async mover script, for the tests.
const MoverScript = moverScript

// RedirectLocation is redirectLocation, for the tests.
var RedirectLocation = redirectLocation

// OverlayScript is the debug view's overlay script, for the tests.
const OverlayScript = overlayScript

// CommentValue is commentValue, for the tests.
var CommentValue = commentValue

// ChunksMade is how many chunks c's pool has made: with nothing given back
// yet, how many its fragments hold.
func (c *Composer) ChunksMade() int64 { return c.chunksMade.Load() }

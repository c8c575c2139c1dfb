// Package jitter spreads periodic work so that a fleet of composers
// started together does not call AWS in step.
package jitter

import (
	"math/rand/v2"
	"time"
)

// Fraction is how much of a period jitter may take off: a period d becomes
// a wait in (d × (1 − Fraction), d]. Waits are only ever shortened, so a
// configured period stays an upper bound (a change is served within it)
// and the mean rate rises by at most 1/(1 − Fraction/2) ≈ 11 %.
const Fraction = 0.2

// Shorten returns d × (1 − Fraction × r) for r in [0, 1); r outside is
// clamped. Pass a random number, or a fixed one in tests.
func Shorten(d time.Duration, r float64) time.Duration {
	r = min(max(r, 0), 1)
	return d - time.Duration(float64(d)*Fraction*r)
}

// Random is the default source of r: math/rand/v2, which needs no seed and
// no lock.
func Random() float64 { return rand.Float64() }

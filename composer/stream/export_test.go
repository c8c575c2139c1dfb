package stream

// MoverScript is the async mover script, for the tests.
const MoverScript = moverScript

// RedirectLocation is redirectLocation, for the tests.
var RedirectLocation = redirectLocation

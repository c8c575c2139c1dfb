//go:build race

package stream_test

// raceEnabled: under the race detector sync.Pool drops a share of what it
// is given on purpose, so pooled things are made again.
const raceEnabled = true

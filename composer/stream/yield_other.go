//go:build !linux

package stream

// osYield: not measured outside Linux; nothing.
func osYield() {}

// Package goroutines reads the stacks of every goroutine of the process,
// for the tests that count goroutines by what they are doing.
package goroutines

import (
	"runtime"
	"strings"
)

// Stacks is the stack of each goroutine of the process, its header line
// ("goroutine 7 [IO wait]:") first.
func Stacks() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Split(string(buf[:n]), "\n\n")
		}
		buf = make([]byte, 2*len(buf))
	}
}

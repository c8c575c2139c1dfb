// Package procio reads a process's count of read and write system calls
// from /proc/PID/io, for the tests that count what a page or a request
// costs.
package procio

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Syscalls returns the read and write system calls (read, readv, write,
// writev...; recv and send with flags are not counted) process pid ("self"
// for this one) has made so far.
func Syscalls(pid string) (reads, writes int, err error) {
	b, err := os.ReadFile("/proc/" + pid + "/io")
	if err != nil {
		return 0, 0, err
	}
	found := 0
	for line := range strings.SplitSeq(string(b), "\n") {
		name, value, _ := strings.Cut(line, ": ")
		n, _ := strconv.Atoi(value)
		switch name {
		case "syscr":
			reads, found = n, found+1
		case "syscw":
			writes, found = n, found+1
		}
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("/proc/%s/io has no syscr and syscw", pid)
	}
	return reads, writes, nil
}

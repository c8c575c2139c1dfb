package procio

import (
	"os"
	"testing"
)

func TestSyscallsCountsThisProcesssWrites(t *testing.T) {
	_, before, err := Syscalls("self")
	if err != nil {
		t.Skip(err)
	}
	f, err := os.Create(t.TempDir() + "/x")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for range 3 {
		if _, err := f.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if _, after, _ := Syscalls("self"); after-before < 3 {
		t.Errorf("3 writes counted as %d", after-before)
	}
}

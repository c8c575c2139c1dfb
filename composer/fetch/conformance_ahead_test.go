package fetch

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// presendConformanceEnv makes this test binary, run again as a child, run
// the conformance suite with every request sent ahead: each HTTP.Fetch of
// a request not sent ahead first calls Presend, looks with Answered, and
// then reads the answer as the Fetch of a request sent ahead.
//
// The suite calls (*HTTP).Fetch on the client newClient gives it, not a
// Transport it could be handed: it cannot be run over a wrapping client
// in this process without changing it, and a switch for every client of
// the process would change the other tests running beside it. A child of
// its own has every client send ahead, and runs the suite unchanged.
const presendConformanceEnv = "FETCH_TEST_PRESEND_CONFORMANCE"

func init() {
	if os.Getenv(presendConformanceEnv) != "" {
		presendEveryFetch = true
	}
}

// The conformance suite, every request sent ahead of its Fetch.
func TestSentAheadConformance(t *testing.T) {
	if presendEveryFetch {
		t.Skip("the child itself")
	}
	if testing.Short() {
		t.Skip("runs the conformance suite again")
	}
	t.Parallel()
	args := []string{"-test.run", "^TestConformance", "-test.count", "1", "-test.v"}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), presendConformanceEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the conformance suite with every request sent ahead: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestConformanceVisitorsRequestsNeverShareAConnection") {
		t.Fatalf("the suite did not run in the child:\n%s", out)
	}
	var sent int
	if _, err := fmt.Sscanf(string(out[strings.LastIndex(string(out), "requests sent ahead: "):]), "requests sent ahead: %d", &sent); err != nil || sent < 100 {
		t.Fatalf("%d requests sent ahead (%v), want every plain-http one of the suite:\n%s", sent, err, out)
	}
	t.Logf("%d conformance cases passed, %d requests sent ahead", strings.Count(string(out), "--- PASS: TestConformance"), sent)
}

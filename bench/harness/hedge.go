package main

// The hedge measurement (composer only: -only hedge): one fragment that
// answers in 20 ms, and in 500 ms on every 20th request (5 %), alone in a
// page; the page served without hedging and with "hedge": "30ms", in
// alternating rounds. It reports page TTLB p50 / p99 and the fragment
// requests per page. It runs a composer of its own (the build under test)
// with its own templates and registry, so that the other measurements'
// configuration is untouched.

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// hedge scenario: the fragment's usual and slow latency, and how often it
// is slow (every slowEvery-th request of each fragment id).
const (
	hedgeFast      = 20 * time.Millisecond
	hedgeSlow      = 500 * time.Millisecond
	hedgeSlowEvery = 20
	hedgeDelay     = "30ms"
)

// tailFragment serves /t?id=: hedgeFast, and hedgeSlow on every
// hedgeSlowEvery-th request of that id; it counts requests per id.
type tailFragment struct {
	addr string
	mu   sync.Mutex
	n    map[string]int
}

func startTailFragment() *tailFragment {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	f := &tailFragment{addr: l.Addr().String(), n: map[string]int{}}
	body := "<div>" + strings.Repeat("<p>tail at scale</p>", 100) + "</div>"
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("id")
		f.mu.Lock()
		f.n[id]++
		n := f.n[id]
		f.mu.Unlock()
		wait := hedgeFast
		if n%hedgeSlowEvery == 0 {
			wait = hedgeSlow
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-r.Context().Done(): // a cancelled hedge or first request
			t.Stop()
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprint(w, body)
	})}
	go func() { _ = srv.Serve(l) }()
	return f
}

func (f *tailFragment) requests(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n[id]
}

// hedgeRun measures pages of the tail fragment without and with hedging,
// with a composer of its own built from bin.
func hedgeRun(report *strings.Builder, name, bin, work string, pages int, cell func(name, v string) string) {
	frag := startTailFragment()
	dir := filepath.Join(work, "hedge")
	check(os.MkdirAll(dir, 0o755))
	page := func(id string) string {
		return head + fmt.Sprintf("<section><micro-frontend id=%q/></section>\n", id) + "</main><footer>Footer</footer></body></html>\n"
	}
	check(os.WriteFile(filepath.Join(dir, "off.html"), []byte(page("tail-off")), 0o644))
	check(os.WriteFile(filepath.Join(dir, "on.html"), []byte(page("tail-on")), 0o644))
	check(os.WriteFile(filepath.Join(dir, "routes.json"), []byte(`{"/off": "off.html", "/on": "on.html"}`), 0o644))
	endpoint := func(id string) string { return fmt.Sprintf("http://%s/t?id=%s", frag.addr, id) }
	check(os.WriteFile(filepath.Join(dir, "registry.json"), []byte(fmt.Sprintf(`{
  "tail-off": {"endpoint": %q, "timeout": "2s"},
  "tail-on": {"endpoint": %q, "timeout": "2s", "hedge": %q}
}`, endpoint("tail-off"), endpoint("tail-on"), hedgeDelay)), 0o644))
	ports := freePorts(2)
	base := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[1])
	cmd := startProc(work, "composer-hedge", bin, nil,
		"COMPOSER_ADDR=127.0.0.1:"+strconv.Itoa(ports[0]), "COMPOSER_DEBUG_ADDR=127.0.0.1:"+strconv.Itoa(ports[1]),
		"COMPOSER_TEMPLATES="+dir, "COMPOSER_REGISTRY="+filepath.Join(dir, "registry.json"),
		"COMPOSER_LOG_LEVEL=warn", "COMPOSER_FRAGMENT_TIMEOUT=5s")
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	waitReady(name+" (hedge run)", base+"/off")
	waitReady(name+" (hedge run)", base+"/on")
	probe(base+"/off", 40, 4) // warm connections
	probe(base+"/on", 40, 4)
	off0, on0 := frag.requests("tail-off"), frag.requests("tail-on")
	hedges0 := hedgeOutcomes(metricsURL, "tail-on")
	load0 := loadAvg()
	var off, on []time.Duration
	const rounds = 5
	for range rounds {
		_, t := probe(base+"/off", pages/rounds, 4)
		off = append(off, t...)
		_, t = probe(base+"/on", pages/rounds, 4)
		on = append(on, t...)
	}
	hedges := hedgeOutcomes(metricsURL, "tail-on")
	var outcomes []string
	for _, o := range []string{"won", "lost", "failed", "skipped_budget", "skipped_breaker", "skipped_full"} {
		if n := hedges[o] - hedges0[o]; n > 0 {
			outcomes = append(outcomes, fmt.Sprintf("%s %d", o, n))
		}
	}
	perPage := func(id string, before int, n int) float64 { return float64(frag.requests(id)-before) / float64(n) }
	offPer, onPer := perPage("tail-off", off0, len(off)), perPage("tail-on", on0, len(on))
	about := fmt.Sprintf("one fragment of %s, %s on every %dth request", ms(hedgeFast), ms(hedgeSlow), hedgeSlowEvery)
	fmt.Fprintf(report, "| %s, %s, no hedging: page TTLB p50 / p99, fragment requests per page, %d pages | %s |\n",
		name, about, len(off), cell(name, fmt.Sprintf("%s / %s, %.3f", ms(pct(off, 50)), ms(pct(off, 99)), offPer)))
	fmt.Fprintf(report, "| %s, the same, `\"hedge\": %q`: page TTLB p50 / p99, fragment requests per page, %d pages | %s |\n",
		name, hedgeDelay, len(on), cell(name, fmt.Sprintf("%s / %s, %.3f (%+.1f %%; hedges: %s); load average %s then %s",
			ms(pct(on, 50)), ms(pct(on, 99)), onPer, 100*(onPer/offPer-1), strings.Join(outcomes, ", "), load0, loadAvg())))
	if p99 := pct(on, 99); p99 > 60*time.Millisecond || onPer > 1.1*offPer {
		log.Printf("hedge: goal missed on this run (p99 %s, want at most 60 ms; %.3f requests per page, want at most 10 %% more than %.3f)", ms(p99), onPer, offPer)
	}
}

// hedgeOutcomes reads composer_fragment_hedges_total of a fragment by
// outcome from the composer's metrics.
func hedgeOutcomes(metricsURL, fragment string) map[string]int {
	resp, err := http.Get(metricsURL)
	check(err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	check(err)
	out := map[string]int{}
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "composer_fragment_hedges_total{") || !strings.Contains(l, `fragment="`+fragment+`"`) {
			continue
		}
		_, rest, _ := strings.Cut(l, `outcome="`)
		outcome, _, _ := strings.Cut(rest, `"`)
		v, _ := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
		out[outcome] = int(v)
	}
	return out
}

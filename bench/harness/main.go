// Command harness compares the composer with nginx SSI and Zalando Tailor
// serving the same pages from the same synthetic fragment server, on
// loopback, and prints one table. Run it through bench/run.sh, which
// installs the peers and builds the composer.
//
// Scenarios (each page has five fragments, but s5's 50):
//
//	s1  zero-latency fragments of 2 KB          throughput (wrk), compression cost
//	s2  fragments taking 10..50 ms, 2 KB         time to first and last byte (p50, p99)
//	s3  fragments of 64 KB taking 300 ms         1,000 concurrent streams: peak RSS
//	s4  zero-latency fragments of 2 KB, but the first is blackholed (it
//	    accepts connections and never answers; timeout 300 ms): once the
//	    composer's circuit breaker is open, page TTLB against s4ok (the same
//	    page, that fragment healthy), and the requests the blackhole receives
//	    (composer only: -only breaker)
//	s5  50 zero-latency fragments of 2 KB          throughput: how cost grows with fragments a page
//	s6  s1's page with a visitor's Cookie           throughput when each fragment request forwards
//	    the cookie (the composer gives each such request a connection of its own)
//	hedge  one fragment of 20 ms, 500 ms on every 20th request, without and
//	    with "hedge": "30ms" (composer only: -only hedge; see hedge.go)
package main

import (
	"bufio"
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type scenario struct {
	name  string
	lat   []time.Duration // one a fragment
	size  int
	about string
	// cookie: the composer's entries forward the visitor's Cookie, so
	// each fragment request has a connection of its own.
	cookie bool
}

var scenarios = []scenario{
	{"s1", make([]time.Duration, 5), 2 << 10, "zero-latency fragments, 2 KB each", false},
	{"s2", []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 30 * time.Millisecond, 40 * time.Millisecond, 50 * time.Millisecond}, 2 << 10, "fragments taking 10, 20, 30, 40, 50 ms", false},
	{"s3", []time.Duration{300 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond}, 64 << 10, "fragments of 64 KB taking 300 ms", false},
	{"s5", make([]time.Duration, 50), 2 << 10, "50 zero-latency fragments, 2 KB each", false},
	{"s6", make([]time.Duration, 5), 2 << 10, "zero-latency fragments, 2 KB each, the visitor's Cookie forwarded to each (the composer: a connection per fragment request)", true},
}

// scenario names the scenario called name.
func scenarioNamed(name string) scenario {
	for _, s := range scenarios {
		if s.name == name {
			return s
		}
	}
	panic("no scenario " + name)
}

const head = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>bench</title>
<link rel="stylesheet" href="/static/site.css"></head>
<body><header><h1>Benchmark page</h1><nav><a href="/">home</a></nav></header>
<main>
`

func main() {
	composerBin := flag.String("composer", "bench/out/bin/composer", "composer binary")
	composerBase := flag.String("composer-base", "", "a second composer binary (say, built from main) measured in the same run, in a column of its own, in rounds alternating with this build's")
	baseLabel := flag.String("composer-base-label", "composer (base)", "the second composer's column")
	tailorJS := flag.String("tailor", "bench/tailor/server.js", "Tailor server script")
	out := flag.String("out", "bench/out", "working folder for configs and results")
	duration := flag.Duration("duration", 10*time.Second, "length of each throughput run")
	conc := flag.Int("concurrency", 64, "connections for the throughput runs")
	rounds := flag.Int("rounds", 4, "rounds of the throughput, latency and compression measurements; each round measures every server in turn, in alternating order (the median of the rounds is reported; an even number is fairest)")
	streams := flag.Int("streams", 1000, "concurrent page streams for the memory run")
	memoryRuns := flag.Int("memory-runs", 5, "memory runs, each with a fresh process of every server, in alternating order (the median is reported)")
	bareBin := flag.String("bare", "", "the measuring stick's binary (bench/bare): the least a Go composer on net/http's server costs, measured in a column of its own (with -bare-mode goroutines: one goroutine a fragment request waiting for its answer)")
	bareMode := flag.String("bare-mode", "inline", "bench/bare's BARE_MODE: inline or goroutines")
	composerEnv := flag.String("composer-env", "", "extra environment for the composers, comma-separated NAME=value")
	baseEnv := flag.String("composer-base-env", "", "extra environment for the -composer-base one only (after -composer-env), comma-separated NAME=value: the same build measured with and without a setting")
	only := flag.String("only", "throughput,many,cookie,latency,memory,compression", "which measurements to run, comma-separated (many: s5's 50 fragments a page; cookie: s6; also: breaker, hedge, not run by default)")
	breakerPages := flag.Int("breaker-pages", 2000, "pages of each kind in the breaker run")
	hedgePages := flag.Int("hedge-pages", 2000, "pages of each kind in the hedge run")
	profile := flag.Bool("profile", false, "also write CPU profiles of the composer during its first throughput run (out/cpu.prof) and first compressed runs (out/cpu-gzip.prof, out/cpu-br.prof) and heap and goroutine profiles at three moments of its first memory run (out/heap-<ms>.prof and .txt, out/goroutine-<ms>.prof) and what that run allocated (out/allocs-memory.prof) and a CPU profile of it (out/cpu-memory.prof) and the runtime's memory figures every 100 ms (out/memstats-memory.txt); with -composer-base, the same of the base composer (out/base-*), so that both carry the same cost")
	flag.Parse()
	log.SetFlags(0)
	// wrk runs whole seconds: the pages per second and the CPU per page
	// are computed over the duration it really ran.
	*duration = max(time.Second, duration.Round(time.Second))
	run := map[string]bool{}
	for _, m := range strings.Split(*only, ",") {
		switch m {
		case "throughput", "many", "cookie", "latency", "memory", "compression", "breaker", "hedge":
			run[m] = true
		default:
			log.Fatalf("-only: unknown measurement %q (throughput, many, cookie, latency, memory, compression, breaker, hedge)", m)
		}
	}
	if *duration > time.Minute {
		log.Fatal("-duration: at most 1m: every run here is bounded")
	}
	if *rounds < 1 || *rounds > 20 {
		log.Fatal("-rounds: 1 to 20")
	}
	if *memoryRuns < 1 || *memoryRuns > 20 {
		log.Fatal("-memory-runs: 1 to 20")
	}

	fragAddr := startFragmentServer()
	hole := startBlackhole()
	work, err := filepath.Abs(*out)
	check(err)
	ports := freePorts(7)
	writeConfigs(work, fragAddr, ports[1])
	writeBreakerPages(work, fragAddr, hole.addr)

	var extraEnv []string
	if *composerEnv != "" {
		extraEnv = strings.Split(*composerEnv, ",")
	}
	composerServer := func(name, bin string, port, debugPort int, env []string) *server {
		s := &server{name: name, port: port, debugPort: debugPort, composer: true}
		s.start = func() *exec.Cmd {
			return startProc(work, strings.NewReplacer(" ", "-", "(", "", ")", "", "/", "-", "=", "-").Replace(name), bin, nil, append(slices.Clone(env),
				"COMPOSER_ADDR=127.0.0.1:"+strconv.Itoa(port),
				"COMPOSER_TEMPLATES="+filepath.Join(work, "composer"),
				"COMPOSER_REGISTRY="+filepath.Join(work, "composer", "registry.json"),
				"COMPOSER_LOG_LEVEL=warn", "COMPOSER_FRAGMENT_TIMEOUT=5s", "COMPOSER_DEBUG_ADDR=127.0.0.1:"+strconv.Itoa(debugPort))...)
		}
		return s
	}
	// The servers measured: this build, with -composer-base another
	// composer, nginx SSI and Tailor, each on a port of its own, all
	// measured in the same run in alternating rounds.
	composer := composerServer("composer", *composerBin, ports[0], ports[3], extraEnv)
	var servers, composers []*server
	if *composerBase != "" {
		env := extraEnv
		if *baseEnv != "" {
			env = append(slices.Clone(extraEnv), strings.Split(*baseEnv, ",")...)
		}
		base := composerServer(*baseLabel, *composerBase, ports[4], ports[5], env)
		servers = append(servers, base)
		composers = append(composers, base)
	}
	servers = append(servers, composer)
	composers = append(composers, composer)
	nginx := &server{name: "nginx SSI", port: ports[1], start: func() *exec.Cmd {
		return startProc(work, "nginx", "nginx", []string{"-p", filepath.Join(work, "nginx"), "-c", "nginx.conf", "-g", "daemon off;"})
	}}
	tailor := &server{name: "Tailor", port: ports[2], start: func() *exec.Cmd {
		return startProc(work, "tailor", "node", []string{*tailorJS},
			"PORT="+strconv.Itoa(ports[2]), "TEMPLATES="+filepath.Join(work, "tailor"), "WORKERS="+strconv.Itoa(runtime.NumCPU()))
	}}
	servers = append(servers, nginx, tailor)
	peers := []*server{nginx, tailor}
	if *bareBin != "" {
		if *bareMode != "inline" && *bareMode != "goroutines" {
			log.Fatal("-bare-mode: inline or goroutines")
		}
		// The same configuration as the composers': it reads their
		// templates and registry.
		bare := &server{name: "bare Go (" + *bareMode + ")", port: ports[6], start: func() *exec.Cmd {
			return startProc(work, "bare", *bareBin, nil, "BARE_MODE="+*bareMode,
				"COMPOSER_ADDR=127.0.0.1:"+strconv.Itoa(ports[6]),
				"COMPOSER_TEMPLATES="+filepath.Join(work, "composer"),
				"COMPOSER_REGISTRY="+filepath.Join(work, "composer", "registry.json"))
		}}
		servers = append(servers, bare)
		peers = append(peers, bare)
	}
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	for _, s := range servers {
		s.startAndWait()
	}
	// order is the servers in round i's order: the composers first, then
	// the peers, each group reversed every other round, so that over two
	// rounds each composer is measured as often right after the other as
	// the other right after it. Every measurement starts after a pause
	// (settle), so that none pays for the tail of the one before.
	order := func(i int) []*server {
		o := append([]*server(nil), composers...)
		p := slices.Clone(peers)
		if i%2 == 1 {
			slices.Reverse(o)
			slices.Reverse(p)
		}
		return append(o, p...)
	}
	settle := func() { time.Sleep(time.Second) }
	// row prints one line of the table: each server's value, and its
	// ratio to nginx's.
	var report strings.Builder
	row := func(label string, v map[*server]float64, format func(float64) string) {
		var cells []string
		for _, s := range servers {
			x, ok := v[s]
			switch {
			case !ok:
				cells = append(cells, "")
			case s == nginx || v[nginx] == 0:
				cells = append(cells, format(x))
			default:
				cells = append(cells, fmt.Sprintf("%s (%.2fx)", format(x), x/v[nginx]))
			}
		}
		fmt.Fprintf(&report, "| %s | %s |\n", label, strings.Join(cells, " | "))
	}
	// rangeRow prints each server's lowest and highest value.
	rangeRow := func(label string, v map[*server][]float64, format string) {
		var cells []string
		for _, s := range servers {
			if len(v[s]) == 0 {
				cells = append(cells, "")
				continue
			}
			cells = append(cells, fmt.Sprintf(format+"-"+format, slices.Min(v[s]), slices.Max(v[s])))
		}
		fmt.Fprintf(&report, "| %s | %s |\n", label, strings.Join(cells, " | "))
	}
	load0 := loadAvg()
	fmt.Fprintf(&report, "Machine: %s, %d cores; %s; %s; node %s; load average %s at the start.\n\n", cpuModel(), runtime.NumCPU(), runtime.Version(), nginxVersion(), nodeVersion(), load0)
	var names []string
	for _, s := range servers {
		names = append(names, s.name)
	}
	fmt.Fprintf(&report, "| | %s |\n|---%s|\n", strings.Join(names, " | "), strings.Repeat("|---", len(servers)))

	// Throughput: s1, then (many) s5's 50 fragments a page and (cookie)
	// s6's forwarded cookie.
	for _, t := range []struct {
		measurement, scenario, profile string
		header                         []string
	}{
		{"throughput", "s1", "cpu.prof", nil},
		{"many", "s5", "cpu-s5.prof", nil},
		{"cookie", "s6", "cpu-s6.prof", []string{"Cookie: session=visitor-1; theme=dark"}},
	} {
		if !run[t.measurement] {
			continue
		}
		sc := scenarioNamed(t.scenario)
		rps := map[*server][]float64{}
		for i := range *rounds {
			for _, s := range order(i) {
				if *profile && i == 0 && s.composer {
					go saveProfile(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", s.debugPort, max(1, int(duration.Seconds())-1)), filepath.Join(work, profilePrefix(s, composer)+t.profile))
				}
				settle()
				rps[s] = append(rps[s], wrk(s.url()+"/"+sc.name, *conc, *duration, t.header...))
			}
		}
		row(fmt.Sprintf("pages/s, %s: %s, %d connections, %s, median of %d rounds (x nginx; higher is better)", sc.name, sc.about, *conc, *duration, *rounds),
			medians(rps), func(x float64) string { return fmt.Sprintf("%.0f", x) })
		rangeRow("pages/s: range over the rounds", rps, "%.0f")
	}

	// Latency.
	if run["latency"] {
		ttfb, ttlb := map[*server][]time.Duration{}, map[*server][]time.Duration{}
		for i := range *rounds {
			for _, s := range order(i) {
				settle()
				f, l := probe(s.url()+"/s2", 300, 4)
				ttfb[s], ttlb[s] = append(ttfb[s], f...), append(ttlb[s], l...)
			}
		}
		for _, m := range []struct {
			what string
			ds   map[*server][]time.Duration
		}{{"TTFB", ttfb}, {"TTLB", ttlb}} {
			for _, p := range []int{50, 99} {
				v := map[*server]float64{}
				for s, ds := range m.ds {
					v[s] = float64(pct(ds, p).Microseconds()) / 1000
				}
				row(fmt.Sprintf("%s p%d, %s, %d pages (x nginx; lower is better)", m.what, p, scenarios[1].about, 300**rounds), v,
					func(x float64) string { return fmt.Sprintf("%.2f ms", x) })
			}
		}
	}

	// Memory: concurrent streams of big, slow fragments, a fresh process
	// of each server for each run (peak RSS is a high-water mark), the
	// servers in alternating order; the peak is summed over each
	// server's processes (nginx's master and workers, Tailor's primary
	// and workers).
	if run["memory"] {
		peaks, idles, psss := map[*server][]float64{}, map[*server][]float64{}, map[*server][]float64{}
		ttlbs := map[*server][]time.Duration{}
		for i := range *memoryRuns {
			for _, s := range order(i) {
				s.stop()
				s.startAndWait()
				pid := s.cmd.Process.Pid
				idle := treeSum(pid, rssKB)
				if *profile && i == 0 && s.composer {
					go func() {
						// While the fragments are awaited, and twice while
						// their bodies stream (the peak is then): the heap
						// (with the runtime's memory statistics in the
						// text form) and the goroutines.
						start := time.Now()
						lat := scenarios[2].lat[0]
						go saveProfile(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=2", s.debugPort),
							filepath.Join(work, profilePrefix(s, composer)+"cpu-memory.prof"))
						go traceMemStats(fmt.Sprintf("http://127.0.0.1:%d/metrics", s.debugPort), 3*time.Second,
							filepath.Join(work, profilePrefix(s, composer)+"memstats-memory.txt"))
						for _, at := range []time.Duration{lat * 3 / 2, lat * 3, lat * 5} {
							time.Sleep(time.Until(start.Add(at)))
							debug := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/", s.debugPort)
							name := fmt.Sprintf("-%dms", at.Milliseconds())
							pre := profilePrefix(s, composer)
							saveProfile(debug+"heap", filepath.Join(work, pre+"heap"+name+".prof"))
							saveProfile(debug+"heap?debug=1", filepath.Join(work, pre+"heap"+name+".txt"))
							saveProfile(debug+"goroutine", filepath.Join(work, pre+"goroutine"+name+".prof"))
						}
					}()
				}
				stopSampling := samplePeak(pid, func(pid int) int { return treeSum(pid, pssKB) })
				_, t := probe(s.url()+"/s3", *streams*2, *streams)
				if *profile && i == 0 && s.composer {
					// What the whole run allocated, by site (a GC first,
					// so that the profile covers every page).
					debug := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/", s.debugPort)
					saveProfile(debug+"heap?gc=1", filepath.Join(work, profilePrefix(s, composer)+"allocs-memory.prof"))
				}
				psss[s] = append(psss[s], mb(stopSampling()))
				peaks[s] = append(peaks[s], mb(treeSum(pid, peakKB)))
				idles[s] = append(idles[s], mb(idle))
				ttlbs[s] = append(ttlbs[s], pct(t, 50))
			}
		}
		format := func(x float64) string { return fmt.Sprintf("%.0f MB", x) }
		row(fmt.Sprintf("peak RSS, %d concurrent streams, %s, median of %d runs (x nginx; lower is better)", *streams, scenarios[2].about, *memoryRuns), medians(peaks), format)
		row(fmt.Sprintf("peak PSS, the same runs: the processes' proportional set size summed (pages shared between a server's processes counted once), sampled every %s (x nginx; lower is better)", pssEvery), medians(psss), format)
		spread := map[*server]string{}
		for s, p := range peaks {
			sort.Float64s(p)
			d := append([]time.Duration(nil), ttlbs[s]...)
			spread[s] = fmt.Sprintf("%.0f-%.0f MB; idle %.0f MB; TTLB p50 %s", p[0], p[len(p)-1], medians(idles)[s], ms(pct(d, 50)))
		}
		var cells []string
		for _, s := range servers {
			cells = append(cells, spread[s])
		}
		fmt.Fprintf(&report, "| peak RSS: range over the runs; idle RSS; page TTLB p50 | %s |\n", strings.Join(cells, " | "))

		// The same pages asked by a browser, which takes compressed
		// pages: the composers compress them (nginx and Tailor, as
		// configured here, do not), and a page's compressor holds its
		// memory for as long as the page streams.
		const browser = "Accept-Encoding: gzip, deflate, br, zstd"
		zpeaks, zpsss := map[*server][]float64{}, map[*server][]float64{}
		for i := range *memoryRuns {
			for _, s := range order(i) {
				if !s.composer {
					continue
				}
				s.stop()
				s.startAndWait()
				pid := s.cmd.Process.Pid
				stopSampling := samplePeak(pid, func(pid int) int { return treeSum(pid, pssKB) })
				probe(s.url()+"/s3", *streams*2, *streams, browser)
				zpsss[s] = append(zpsss[s], mb(stopSampling()))
				zpeaks[s] = append(zpeaks[s], mb(treeSum(pid, peakKB)))
			}
		}
		zcells := func(m map[*server][]float64) string {
			var cells []string
			for _, s := range servers {
				if !s.composer {
					cells = append(cells, "not compressed")
					continue
				}
				cells = append(cells, format(medians(m)[s]))
			}
			return strings.Join(cells, " | ")
		}
		fmt.Fprintf(&report, "| peak RSS, the same streams asked with a browser's %q (median of %d runs) | %s |\n", browser, *memoryRuns, zcells(zpeaks))
		fmt.Fprintf(&report, "| peak PSS, the same | %s |\n", zcells(zpsss))
	}

	// Compression: CPU per page and the page's size for each encoding.
	if run["compression"] {
		type key struct {
			s   *server
			enc string
		}
		cpu, rate, rd, wr := map[key][]float64{}, map[key][]float64{}, map[key][]float64{}, map[key][]float64{}
		encs := []string{"", "gzip", "br"}
		for i := range *rounds {
			for _, s := range order(i) {
				// The encodings in a rotating order, so that none is always
				// measured first or last; the peers, which do not compress,
				// without one only: what a page costs nginx and Tailor,
				// their workers' CPU summed.
				for j := range encs {
					enc := encs[(i+j)%len(encs)]
					if !s.composer {
						if enc != "" {
							continue
						}
						settle()
						pid := s.cmd.Process.Pid
						cpu0 := treeSum(pid, cpuMicros)
						r := wrk(s.url()+"/s1", *conc, *duration)
						c := treeSum(pid, cpuMicros) - cpu0
						k := key{s, enc}
						cpu[k] = append(cpu[k], float64(c)/(r*duration.Seconds()))
						rate[k] = append(rate[k], r)
						continue
					}
					if *profile && i == 0 && s.composer && enc != "" {
						go saveProfile(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", s.debugPort, max(1, int(duration.Seconds())-1)), filepath.Join(work, profilePrefix(s, composer)+"cpu-"+enc+".prof"))
					}
					settle()
					pid := s.cmd.Process.Pid
					cpu0 := cpuTime(pid)
					r0, w0 := syscalls(pid)
					var hdr []string
					if enc != "" {
						hdr = []string{"Accept-Encoding: " + enc}
					}
					r := wrk(s.url()+"/s1", *conc, *duration, hdr...)
					c := cpuTime(pid) - cpu0
					r1, w1 := syscalls(pid)
					pages := r * duration.Seconds()
					k := key{s, enc}
					cpu[k] = append(cpu[k], float64(c.Microseconds())/pages)
					rate[k] = append(rate[k], r)
					rd[k] = append(rd[k], float64(r1-r0)/pages)
					wr[k] = append(wr[k], float64(w1-w0)/pages)
				}
			}
		}
		var cells []string
		for _, s := range servers {
			if !s.composer {
				// nginx reads and writes its sockets with recv and send,
				// which /proc's counts leave out: CPU only.
				k := key{s, ""}
				cells = append(cells, fmt.Sprintf("none %.0f µs (%.0f pages/s)", median(cpu[k]), median(rate[k])))
				continue
			}
			var parts []string
			for _, enc := range encs {
				k := key{s, enc}
				label := cmp.Or(enc, "none")
				parts = append(parts, fmt.Sprintf("%s %.0f µs (%.0f pages/s, %.1f + %.1f)", label, median(cpu[k]), median(rate[k]), median(rd[k]), median(wr[k])))
			}
			parts = append(parts, fmt.Sprintf("br/none %.2fx", median(cpu[key{s, "br"}])/median(cpu[key{s, ""}])))
			cells = append(cells, strings.Join(parts, "; "))
		}
		fmt.Fprintf(&report, "| CPU per page, %s, by response encoding, median of %d rounds (pages/s, reads + writes per page) | %s |\n", scenarios[0].about, *rounds, strings.Join(cells, " | "))
		cells = cells[:0]
		for _, s := range servers {
			var parts []string
			for _, enc := range encs {
				if enc != "" && !s.composer {
					continue
				}
				parts = append(parts, fmt.Sprintf("%s %d", cmp.Or(enc, "none"), pageSize(s.url()+"/s1", enc)))
			}
			cells = append(cells, strings.Join(parts, "; "))
		}
		fmt.Fprintf(&report, "| page bytes on the wire, %s, by response encoding (median of 9 pages) | %s |\n", scenarios[0].about, strings.Join(cells, " | "))
	}
	// cell puts v in name's column of a row, the others empty.
	cell := func(name, v string) string {
		var cells []string
		for _, s := range servers {
			if s.name == name {
				cells = append(cells, v)
			} else {
				cells = append(cells, "")
			}
		}
		return strings.Join(cells, " | ")
	}
	if run["breaker"] {
		for _, c := range composers {
			breakerRun(&report, c, hole, *breakerPages, cell)
		}
	}
	if run["hedge"] {
		hedgeRun(&report, composer.name, *composerBin, work, *hedgePages, cell)
	}
	fmt.Fprintf(&report, "\nLoad average %s at the start, %s at the end.\n", load0, loadAvg())
	fmt.Print(report.String())
	check(os.WriteFile(filepath.Join(work, "results.md"), []byte(report.String()), 0o644))
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medians(m map[*server][]float64) map[*server]float64 {
	r := map[*server]float64{}
	for s, v := range m {
		r[s] = median(v)
	}
	return r
}

// pageSize is the median length in bytes of url's body as sent with
// Accept-Encoding enc (not decoded), over nine requests: the compressor
// flushes where the page writer waits, so the bytes move with timing.
func pageSize(url, enc string) int {
	var ns []float64
	for range 9 {
		ns = append(ns, float64(onePageSize(url, enc)))
	}
	return int(median(ns))
}

func onePageSize(url, enc string) int {
	req, _ := http.NewRequest("GET", url, nil)
	if enc != "" {
		req.Header.Set("Accept-Encoding", enc)
	}
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	check(err)
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	check(err)
	if enc != "" && resp.Header.Get("Content-Encoding") != enc {
		log.Fatalf("%s with Accept-Encoding %s: Content-Encoding %q", url, enc, resp.Header.Get("Content-Encoding"))
	}
	return int(n)
}

// blackhole accepts connections and never answers; it counts the requests
// it receives.
type blackhole struct {
	addr     string
	requests atomic.Int64
}

func startBlackhole() *blackhole {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	b := &blackhole{addr: l.Addr().String()}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					b.requests.Add(int64(strings.Count(string(buf[:n]), "GET ")))
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return b
}

// writeBreakerPages writes s4 (its first fragment blackholed, timeout
// 300 ms) and s4ok (the same page, that fragment healthy) for the
// composer, and adds their fragments to its registry.
func writeBreakerPages(work, fragAddr, holeAddr string) {
	regPath := filepath.Join(work, "composer", "registry.json")
	reg, err := os.ReadFile(regPath)
	check(err)
	var entries []string
	for _, name := range []string{"s4", "s4ok"} {
		var c strings.Builder
		c.WriteString(head)
		for i := range 5 {
			id := fmt.Sprintf("%s-f%d", name, i)
			fmt.Fprintf(&c, "<section><micro-frontend id=%q/></section>\n", id)
			endpoint := fragURL(fragAddr, scenario{size: 2 << 10, lat: make([]time.Duration, 5)}, i)
			if i == 0 && name == "s4" {
				endpoint = "http://" + holeAddr + "/f"
			}
			entries = append(entries, fmt.Sprintf("%q: {\"endpoint\": %q, \"timeout\": \"300ms\"}", id, endpoint))
		}
		c.WriteString("</main><footer>Footer</footer></body></html>\n")
		check(os.WriteFile(filepath.Join(work, "composer", name+".html"), []byte(c.String()), 0o644))
	}
	reg = append(reg[:len(reg)-1], []byte(",\n"+strings.Join(entries, ",\n")+"}")...)
	check(os.WriteFile(regPath, reg, 0o644))
	routesPath := filepath.Join(work, "composer", "routes.json")
	routes, err := os.ReadFile(routesPath)
	check(err)
	routes = append(routes[:len(routes)-1], []byte(`,"/s4": "s4.html","/s4ok": "s4ok.html"}`)...)
	check(os.WriteFile(routesPath, routes, 0o644))
}

// breakerRun opens the breaker of s4's blackholed fragment, then measures
// s4 and s4ok in alternating rounds, and counts what reaches the blackhole
// meanwhile.
func breakerRun(report *strings.Builder, c *server, hole *blackhole, pages int, cell func(name, v string) string) {
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", c.debugPort)
	probe(c.url()+"/s4", 40, 8) // 20 timeouts or more: the volume and rate rule opens it
	deadline := time.Now().Add(30 * time.Second)
	for breakerState(metricsURL, "s4-f0") == 0 {
		if time.Now().After(deadline) {
			log.Fatalf("%s: the breaker of s4-f0 did not open", c.name)
		}
		probe(c.url()+"/s4", 8, 8)
	}
	load0 := loadAvg()
	before := hole.requests.Load()
	start := time.Now()
	var open, healthy []time.Duration
	const rounds = 5
	for range rounds {
		_, t := probe(c.url()+"/s4ok", pages/rounds, 4)
		healthy = append(healthy, t...)
		_, t = probe(c.url()+"/s4", pages/rounds, 4)
		open = append(open, t...)
	}
	elapsed := time.Since(start)
	got := hole.requests.Load() - before
	fmt.Fprintf(report, "| %s, s4: 5 fragments of 2 KB, the first blackholed (300 ms timeout), breaker open: TTLB p50 / p99, %d pages | %s |\n",
		c.name, len(open), cell(c.name, fmt.Sprintf("%s / %s", ms(pct(open, 50)), ms(pct(open, 99)))))
	fmt.Fprintf(report, "| %s, s4ok: the same page, that fragment healthy: TTLB p50 / p99, %d pages | %s |\n",
		c.name, len(healthy), cell(c.name, fmt.Sprintf("%s / %s", ms(pct(healthy, 50)), ms(pct(healthy, 99)))))
	fmt.Fprintf(report, "| %s, s4 p50 - s4ok p50; requests the blackhole received while measured | %s |\n",
		c.name, cell(c.name, fmt.Sprintf("%+.2f ms; %d in %.1f s (%.2f/s); load average %s then %s",
			float64((pct(open, 50)-pct(healthy, 50)).Microseconds())/1000, got, elapsed.Seconds(), float64(got)/elapsed.Seconds(), load0, loadAvg())))
}

// breakerState reads composer_fragment_breaker_state of a fragment from
// the composer's metrics: 0 closed, 1 half-open, 2 open.
func breakerState(metricsURL, fragment string) int {
	resp, err := http.Get(metricsURL)
	check(err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	check(err)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "composer_fragment_breaker_state{") && strings.Contains(l, `fragment="`+fragment+`"`) {
			v, _ := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
			return int(v)
		}
	}
	return 0
}

// loadAvg is the one-minute load average.
func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}

func mb(kb int) float64 { return float64(kb) / 1024 }

// traceMemStats writes, every 100 ms for d, the runtime's memory figures
// read from a composer's /metrics: MB allocated so far, heap in use,
// stacks in use, the heap's free spans not yet returned to the system,
// the runtime's own metadata (the collector's, spans', other), all it has
// from the system, and the process's RSS.
func traceMemStats(url string, d time.Duration, path string) {
	names := []string{"go_memstats_alloc_bytes_total", "go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes", "go_memstats_heap_idle_bytes-go_memstats_heap_released_bytes",
		"go_memstats_gc_sys_bytes+go_memstats_mspan_sys_bytes+go_memstats_other_sys_bytes", "go_memstats_sys_bytes-go_memstats_heap_released_bytes", "process_resident_memory_bytes"}
	var out strings.Builder
	fmt.Fprintf(&out, "ms\tallocated MB\theap in use MB\tstacks MB\tfree, kept MB\tmetadata MB\tfrom the system MB\tRSS MB\n")
	start := time.Now()
	for time.Since(start) < d {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			fmt.Fprintf(&out, "%d", time.Since(start).Milliseconds())
			for _, n := range names {
				fmt.Fprintf(&out, "\t%.1f", metricSum(string(b), n)/(1<<20))
			}
			out.WriteString("\n")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
		log.Printf("memstats: %v", err)
	}
}

// metricSum reads samples without labels from a Prometheus text page,
// added and subtracted as the expression says ("a+b-c").
func metricSum(page, expr string) float64 {
	sum, sign := 0.0, 1.0
	for expr != "" {
		i := strings.IndexAny(expr, "+-")
		if i < 0 {
			i = len(expr)
		}
		sum += sign * metricValue(page, expr[:i])
		if i < len(expr) && expr[i] == '-' {
			sign = -1
		} else {
			sign = 1
		}
		expr = expr[min(i+1, len(expr)):]
	}
	return sum
}

// metricValue reads one sample without labels from a Prometheus text page.
func metricValue(page, name string) float64 {
	for l := range strings.SplitSeq(page, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}

func saveProfile(url, path string) {
	resp, err := http.Get(url)
	if err != nil {
		log.Printf("profile: %v", err)
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		log.Printf("profile: %v", err)
	}
}

// server is one server under test: a composer, nginx or Tailor.
type server struct {
	name            string
	port, debugPort int // debugPort: a composer's admin listener
	composer        bool
	start           func() *exec.Cmd
	cmd             *exec.Cmd
}

func (s *server) url() string { return fmt.Sprintf("http://127.0.0.1:%d", s.port) }

func (s *server) startAndWait() {
	s.cmd = s.start()
	waitReady(s.name, s.url()+"/s1")
}

// stop ends the server's process group, if it runs.
func (s *server) stop() {
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	_ = s.cmd.Wait()
	s.cmd = nil
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

// startFragmentServer serves /f?ms=&size=&id= : wait, then HTML of size
// bytes. It never lets anyone cache: every page is composed for real.
func startFragmentServer() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	filler := strings.Repeat("<p>Lorem ipsum dolor sit amet, <b>consectetur</b> adipiscing elit.</p>\n", 2000)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		wait, _ := strconv.Atoi(q.Get("ms"))
		size, _ := strconv.Atoi(q.Get("size"))
		if wait > 0 {
			t := time.NewTimer(time.Duration(wait) * time.Millisecond)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		open := `<div class="fragment-` + q.Get("id") + `">`
		body := filler[:max(0, min(size-len(open)-6, len(filler)))]
		io.WriteString(w, open+body+"</div>")
	})}
	go func() { _ = srv.Serve(l) }()
	return l.Addr().String()
}

func fragURL(addr string, s scenario, i int) string {
	return fmt.Sprintf("http://%s/f?id=%d&ms=%d&size=%d", addr, i, s.lat[i].Milliseconds(), s.size)
}

func writeConfigs(work, fragAddr string, nginxPort int) {
	for _, d := range []string{"composer", "nginx/html", "nginx/logs", "tailor"} {
		check(os.MkdirAll(filepath.Join(work, d), 0o755))
	}
	routes := map[string]string{}
	var reg []string
	for _, s := range scenarios {
		var c, n, t strings.Builder
		for _, b := range []*strings.Builder{&c, &n, &t} {
			b.WriteString(head)
		}
		for i := range s.lat {
			id := fmt.Sprintf("%s-f%d", s.name, i)
			fmt.Fprintf(&c, "<section><micro-frontend id=%q/></section>\n", id)
			if s.cookie {
				reg = append(reg, fmt.Sprintf("%q: {\"endpoint\": %q, \"forwardHeaders\": [\"Cookie\"]}", id, fragURL(fragAddr, s, i)))
			} else {
				reg = append(reg, fmt.Sprintf("%q: %q", id, fragURL(fragAddr, s, i)))
			}
			u := fragURL(fragAddr, s, i)
			fmt.Fprintf(&n, "<section><!--# include virtual=\"/frag/%s\" --></section>\n", u[strings.Index(u, "/f?")+1:])
			fmt.Fprintf(&t, "<section><fragment src=%q></fragment></section>\n", u)
		}
		for _, b := range []*strings.Builder{&c, &n, &t} {
			b.WriteString("</main><footer>Footer</footer></body></html>\n")
		}
		routes["/"+s.name] = s.name + ".html"
		check(os.WriteFile(filepath.Join(work, "composer", s.name+".html"), []byte(c.String()), 0o644))
		check(os.WriteFile(filepath.Join(work, "nginx/html", s.name+".html"), []byte(n.String()), 0o644))
		check(os.WriteFile(filepath.Join(work, "tailor", s.name+".html"), []byte(t.String()), 0o644))
	}
	var rj []string
	for k, v := range routes {
		rj = append(rj, fmt.Sprintf("%q: %q", k, v))
	}
	check(os.WriteFile(filepath.Join(work, "composer", "routes.json"), []byte("{"+strings.Join(rj, ",")+"}"), 0o644))
	check(os.WriteFile(filepath.Join(work, "composer", "registry.json"), []byte("{"+strings.Join(reg, ",\n")+"}"), 0o644))
	conf := fmt.Sprintf(`worker_processes auto;
error_log logs/error.log warn;
pid logs/nginx.pid;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 100000;
  upstream fragments { server %s; keepalive 4096; }
  server {
    listen 127.0.0.1:%d reuseport;
    root html;
    location ~ ^/(s[0-9]+)$ { ssi on; postpone_output 0; default_type text/html; try_files /$1.html =404; }
    location /frag/ {
      internal;
      proxy_pass http://fragments/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
`, fragAddr, nginxPort)
	check(os.WriteFile(filepath.Join(work, "nginx", "nginx.conf"), []byte(conf), 0o644))
}

func freePorts(n int) []int {
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		check(err)
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

func startProc(work, name, bin string, args []string, env ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	// Appended: a server restarted for each memory run keeps the logs of
	// the runs before.
	logf, err := os.OpenFile(filepath.Join(work, name+".log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	check(err)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	check(cmd.Start())
	return cmd
}

func waitReady(name, url string) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	log.Fatalf("%s did not serve %s within 30 s (see its log in the out folder)", name, url)
}

var (
	rpsRe       = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	socketErrRe = regexp.MustCompile(`Socket errors:[^\n]*`)
)

// wrk runs wrk against url with the request headers given ("Name:
// value") and returns requests per second.
func wrk(url string, conc int, d time.Duration, headers ...string) float64 {
	args := []string{"-t2", "-c" + strconv.Itoa(conc), "-d" + strconv.Itoa(int(d.Seconds())) + "s", "--timeout", "10s"}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	outp, err := exec.Command("wrk", append(args, url)...).CombinedOutput()
	check(err)
	m := rpsRe.FindSubmatch(outp)
	if m == nil {
		log.Fatalf("wrk output without requests/s:\n%s", outp)
	}
	if strings.Contains(string(outp), "Non-2xx") {
		log.Fatalf("non-2xx responses from %s:\n%s", url, outp)
	}
	if strings.Contains(string(outp), "Socket errors") {
		// Connections that failed or timed out: the rate is of fewer pages
		// than asked. Said, not fatal: a run's last requests may be cut.
		log.Printf("wrk %s: %s", url, socketErrRe.Find(outp))
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// probe fetches url n times with conc at once and returns the times to the
// first and to the last byte of each response.
func probe(url string, n, conc int, header ...string) (ttfb, ttlb []time.Duration) {
	tr := &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	var mu sync.Mutex
	work := make(chan struct{}, n)
	for range n {
		work <- struct{}{}
	}
	close(work)
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				var first time.Time
				start := time.Now()
				ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{GotFirstResponseByte: func() { first = time.Now() }})
				req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
				for _, h := range header {
					name, value, _ := strings.Cut(h, ": ")
					req.Header.Set(name, value)
				}
				resp, err := client.Do(req)
				if err != nil {
					log.Fatalf("probe %s: %v", url, err)
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 {
					log.Fatalf("probe %s: %d %v", url, resp.StatusCode, err)
				}
				end := time.Now()
				mu.Lock()
				ttfb = append(ttfb, first.Sub(start))
				ttlb = append(ttlb, end.Sub(start))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return ttfb, ttlb
}

func pct(ds []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	return s[min(len(s)-1, len(s)*p/100)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func procStatus(pid int, field string) int {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	check(err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.Atoi(strings.Fields(v)[0])
			return n
		}
	}
	return 0
}

func rssKB(pid int) int { return procStatus(pid, "VmRSS") }

// pssKB is a process's proportional set size: its pages, those it shares
// with other processes divided among them. Summed over nginx's or Node's
// processes it counts a shared page once, where VmRSS counts it in each.
func pssKB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "Pss:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

// pssEvery is how often samplePeak samples.
const pssEvery = 50 * time.Millisecond

// samplePeak samples f(pid) every pssEvery until the returned function is
// called, which returns the largest value seen. The kernel keeps no
// high-water mark of PSS: a sampled peak may miss a spike shorter than
// the period.
func samplePeak(pid int, f func(int) int) (stop func() int) {
	done := make(chan struct{})
	peak := make(chan int)
	go func() {
		best := f(pid)
		t := time.NewTicker(pssEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				best = max(best, f(pid))
			case <-done:
				peak <- max(best, f(pid))
				return
			}
		}
	}()
	return func() int {
		close(done)
		return <-peak
	}
}

// profilePrefix names a composer's profile files: none for the build
// under test, "base-" for the one it is compared with.
func profilePrefix(s, composer *server) string {
	if s == composer {
		return ""
	}
	return "base-"
}
func peakKB(pid int) int { return procStatus(pid, "VmHWM") }

// treeSum sums f over pid and its descendants (nginx's workers, Tailor's
// cluster workers).
func treeSum(pid int, f func(int) int) int {
	sum := f(pid)
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, t := range tasks {
		b, _ := os.ReadFile(t)
		for _, c := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(c); err == nil {
				sum += treeSum(n, f)
			}
		}
	}
	return sum
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	check(err)
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// cpuMicros is cpuTime in microseconds, for treeSum.
func cpuMicros(pid int) int { return int(cpuTime(pid).Microseconds()) }

// syscalls is how many read and write system calls pid has made.
func syscalls(pid int) (reads, writes int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	check(err)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "syscr: "); ok {
			reads, _ = strconv.Atoi(v)
		}
		if v, ok := strings.CutPrefix(l, "syscw: "); ok {
			writes, _ = strconv.Atoi(v)
		}
	}
	return reads, writes
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return runtime.GOARCH
}

func nginxVersion() string {
	out, _ := exec.Command("nginx", "-v").CombinedOutput()
	return strings.TrimSpace(strings.TrimPrefix(string(out), "nginx version: "))
}

func nodeVersion() string {
	out, _ := exec.Command("node", "--version").Output()
	return strings.TrimSpace(string(out))
}

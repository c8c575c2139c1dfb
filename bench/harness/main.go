// Command harness compares the composer with nginx SSI and Zalando Tailor
// serving the same pages from the same synthetic fragment server, on
// loopback, and prints one table. Run it through bench/run.sh, which
// installs the peers and builds the composer.
//
// Scenarios (each page has five fragments):
//
//	s1  zero-latency fragments of 2 KB          throughput (wrk), compression cost
//	s2  fragments taking 10..50 ms, 2 KB         time to first and last byte (p50, p99)
//	s3  fragments of 64 KB taking 200 ms         1,000 concurrent streams: composer peak RSS
//	s4  zero-latency fragments of 2 KB, but the first is blackholed (it
//	    accepts connections and never answers; timeout 300 ms): once the
//	    composer's circuit breaker is open, page TTLB against s4ok (the same
//	    page, that fragment healthy), and the requests the blackhole receives
//	    (composer only: -only breaker)
//	hedge  one fragment of 20 ms, 500 ms on every 20th request, without and
//	    with "hedge": "30ms" (composer only: -only hedge; see hedge.go)
package main

import (
	"bufio"
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
	lat   [5]time.Duration
	size  int
	about string
}

var scenarios = []scenario{
	{"s1", [5]time.Duration{}, 2 << 10, "zero-latency fragments, 2 KB each"},
	{"s2", [5]time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 30 * time.Millisecond, 40 * time.Millisecond, 50 * time.Millisecond}, 2 << 10, "fragments taking 10, 20, 30, 40, 50 ms"},
	{"s3", [5]time.Duration{200 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond}, 64 << 10, "fragments of 64 KB taking 200 ms"},
}

const head = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>bench</title>
<link rel="stylesheet" href="/static/site.css"></head>
<body><header><h1>Benchmark page</h1><nav><a href="/">home</a></nav></header>
<main>
`

func main() {
	composerBin := flag.String("composer", "bench/out/bin/composer", "composer binary")
	composerBase := flag.String("composer-base", "", "a second composer binary (say, built from main) measured in the same run, in a column of its own")
	baseLabel := flag.String("composer-base-label", "composer (base)", "the second composer's column")
	tailorJS := flag.String("tailor", "bench/tailor/server.js", "Tailor server script")
	out := flag.String("out", "bench/out", "working folder for configs and results")
	duration := flag.Duration("duration", 10*time.Second, "length of each throughput run")
	conc := flag.Int("concurrency", 64, "connections for the throughput runs")
	streams := flag.Int("streams", 1000, "concurrent page streams for the memory run")
	memoryRuns := flag.Int("memory-runs", 5, "memory runs, each with a fresh composer (the median is reported)")
	composerEnv := flag.String("composer-env", "", "extra environment for the composer, comma-separated NAME=value")
	only := flag.String("only", "throughput,latency,memory,compression", "which measurements to run, comma-separated (also: breaker, hedge, not run by default)")
	breakerPages := flag.Int("breaker-pages", 2000, "pages of each kind in the breaker run")
	hedgePages := flag.Int("hedge-pages", 2000, "pages of each kind in the hedge run")
	profile := flag.Bool("profile", false, "also write a CPU profile of the composer during its throughput run (out/cpu.prof)")
	flag.Parse()
	log.SetFlags(0)
	run := map[string]bool{}
	for _, m := range strings.Split(*only, ",") {
		switch m {
		case "throughput", "latency", "memory", "compression", "breaker", "hedge":
			run[m] = true
		default:
			log.Fatalf("-only: unknown measurement %q (throughput, latency, memory, compression, breaker, hedge)", m)
		}
	}
	if *duration > time.Minute {
		log.Fatal("-duration: at most 1m: every run here is bounded")
	}

	fragAddr := startFragmentServer()
	hole := startBlackhole()
	work, err := filepath.Abs(*out)
	check(err)
	ports := freePorts(6)
	nginxURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	tailorURL := fmt.Sprintf("http://127.0.0.1:%d", ports[2])
	writeConfigs(work, fragAddr, ports[1])
	writeBreakerPages(work, fragAddr, hole.addr)

	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			_ = syscall.Kill(-p.Process.Pid, syscall.SIGTERM)
			_ = p.Wait()
		}
	}()
	var extraEnv []string
	if *composerEnv != "" {
		extraEnv = strings.Split(*composerEnv, ",")
	}
	// The composers measured: this build, and with -composer-base another
	// one, each on a port of its own, so that both are measured in the same
	// run on the same machine state.
	composers := []*composerProc{{name: "composer", bin: *composerBin, port: ports[0], debugPort: ports[3]}}
	if *composerBase != "" {
		composers = append([]*composerProc{{name: *baseLabel, bin: *composerBase, port: ports[4], debugPort: ports[5]}}, composers...)
	}
	composer := composers[len(composers)-1] // this build
	startComposer := func(c *composerProc) {
		c.cmd = startProc(work, strings.NewReplacer(" ", "-", "(", "", ")", "").Replace(c.name), c.bin, nil, append(extraEnv,
			"COMPOSER_ADDR=127.0.0.1:"+strconv.Itoa(c.port),
			"COMPOSER_TEMPLATES="+filepath.Join(work, "composer"),
			"COMPOSER_REGISTRY="+filepath.Join(work, "composer", "registry.json"),
			"COMPOSER_LOG_LEVEL=warn", "COMPOSER_FRAGMENT_TIMEOUT=5s", "COMPOSER_DEBUG_ADDR=127.0.0.1:"+strconv.Itoa(c.debugPort))...)
	}
	stopComposer := func(c *composerProc) {
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGTERM)
		_ = c.cmd.Wait()
		c.cmd = nil
	}
	defer func() {
		for _, c := range composers {
			if c.cmd != nil {
				stopComposer(c)
			}
		}
	}()
	var peers []peer
	for _, c := range composers {
		startComposer(c)
		peers = append(peers, peer{c.name, c.url()})
	}
	procs = append(procs, startProc(work, "nginx", "nginx", []string{"-p", filepath.Join(work, "nginx"), "-c", "nginx.conf", "-g", "daemon off;"}))
	procs = append(procs, startProc(work, "tailor", "node", []string{*tailorJS},
		"PORT="+strconv.Itoa(ports[2]), "TEMPLATES="+filepath.Join(work, "tailor"), "WORKERS="+strconv.Itoa(runtime.NumCPU())))
	peers = append(peers, peer{"nginx SSI", nginxURL}, peer{"Tailor", tailorURL})
	for _, p := range peers {
		waitReady(p.name, p.url+"/s1")
	}
	// cell puts v in peer name's column.
	cell := func(name, v string) string {
		cells := make([]string, len(peers))
		for i, p := range peers {
			if p.name == name {
				cells[i] = v
			}
		}
		return strings.Join(cells, " | ")
	}

	var report strings.Builder
	fmt.Fprintf(&report, "Machine: %s, %d cores; %s; %s; node %s.\n\n", cpuModel(), runtime.NumCPU(), runtime.Version(), nginxVersion(), nodeVersion())
	var names []string
	for _, p := range peers {
		names = append(names, p.name)
	}
	fmt.Fprintf(&report, "| | %s |\n|---%s|\n", strings.Join(names, " | "), strings.Repeat("|---", len(peers)))

	// Throughput.
	rps := map[string]float64{}
	for _, p := range peers {
		if !run["throughput"] {
			break
		}
		if *profile && p.name == composer.name {
			go saveProfile(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", composer.debugPort, max(1, int(duration.Seconds())-1)), filepath.Join(work, "cpu.prof"))
		}
		rps[p.name] = wrk(p.url+"/s1", *conc, *duration, "")
	}
	if run["throughput"] {
		var vals, ratios []string
		for _, p := range peers {
			vals = append(vals, fmt.Sprintf("%.0f", rps[p.name]))
			r := ""
			if p.name != composer.name {
				r = fmt.Sprintf("%.2fx", rps[composer.name]/rps[p.name])
			}
			ratios = append(ratios, r)
		}
		fmt.Fprintf(&report, "| requests/s, %s, %d connections, %s | %s |\n", scenarios[0].about, *conc, *duration, strings.Join(vals, " | "))
		fmt.Fprintf(&report, "| %s / peer | %s |\n", composer.name, strings.Join(ratios, " | "))
	}

	// Latency.
	for _, p := range peers {
		if !run["latency"] {
			break
		}
		ttfb, ttlb := probe(p.url+"/s2", 300, 4)
		fmt.Fprintf(&report, "| %s, %s: TTFB p50 / p99 | %s |\n", p.name, scenarios[1].about, cell(p.name, fmt.Sprintf("%s / %s", ms(pct(ttfb, 50)), ms(pct(ttfb, 99)))))
		fmt.Fprintf(&report, "| %s, %s: TTLB p50 / p99 | %s |\n", p.name, scenarios[1].about, cell(p.name, fmt.Sprintf("%s / %s", ms(pct(ttlb, 50)), ms(pct(ttlb, 99)))))
	}

	// Memory: concurrent streams of big, slow fragments.
	if run["memory"] {
		// A composer of its own for each run: peak RSS is a high-water
		// mark, and this machine's noise needs a median. With two
		// composers their runs alternate.
		for _, c := range composers {
			stopComposer(c)
		}
		type mem struct {
			peaks, idles []int
			ttlbs        []time.Duration
		}
		mems := map[string]*mem{}
		for i := range *memoryRuns {
			for _, c := range composers {
				startComposer(c)
				waitReady(c.name, c.url()+"/s1")
				peak, idle, ttlb := memory(c.cmd, *streams, *profile && i == 0 && c == composer, c.debugPort, c.url(), work)
				stopComposer(c)
				m := mems[c.name]
				if m == nil {
					m = &mem{}
					mems[c.name] = m
				}
				m.peaks, m.idles, m.ttlbs = append(m.peaks, peak), append(m.idles, idle), append(m.ttlbs, ttlb)
			}
		}
		for _, c := range composers {
			m := mems[c.name]
			sort.Ints(m.peaks)
			fmt.Fprintf(&report, "| %s peak RSS, %d concurrent streams, %s: median (min-max of %d runs) | %s |\n",
				c.name, *streams, scenarios[2].about, len(m.peaks), cell(c.name, fmt.Sprintf("%.0f MB (%.0f-%.0f; idle %.0f MB; TTLB p50 %s)",
					mb(m.peaks[len(m.peaks)/2]), mb(m.peaks[0]), mb(m.peaks[len(m.peaks)-1]), mb(m.idles[0]), ms(pct(m.ttlbs, 50)))))
		}
		if run["compression"] {
			for _, c := range composers {
				startComposer(c)
				waitReady(c.name, c.url()+"/s1")
			}
		}
	}

	// Compression: throughput and CPU per page.
	for _, enc := range []string{"", "gzip", "br"} {
		if !run["compression"] {
			break
		}
		for _, c := range composers {
			pid := c.cmd.Process.Pid
			cpu0 := cpuTime(pid)
			r0, w0 := syscalls(pid)
			r := wrk(c.url()+"/s1", *conc, *duration, enc)
			cpu := cpuTime(pid) - cpu0
			r1, w1 := syscalls(pid)
			pages := r * duration.Seconds()
			label := enc
			if label == "" {
				label = "none"
			}
			perPage := time.Duration(float64(cpu) / pages)
			fmt.Fprintf(&report, "| %s, %s, compression %s: requests/s, CPU per page, reads + writes per page | %s |\n",
				c.name, scenarios[0].about, label, cell(c.name, fmt.Sprintf("%.0f, %s, %.1f + %.1f", r, perPage.Round(time.Microsecond), float64(r1-r0)/pages, float64(w1-w0)/pages)))
		}
	}
	if run["breaker"] {
		for _, c := range composers {
			breakerRun(&report, c, hole, *breakerPages, cell)
		}
	}
	if run["hedge"] {
		hedgeRun(&report, composer.name, composer.bin, work, *hedgePages, cell)
	}
	fmt.Print(report.String())
	check(os.WriteFile(filepath.Join(work, "results.md"), []byte(report.String()), 0o644))
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
			endpoint := fragURL(fragAddr, scenario{size: 2 << 10}, i)
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
func breakerRun(report *strings.Builder, c *composerProc, hole *blackhole, pages int, cell func(name, v string) string) {
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

// memory measures the composer's peak RSS while streams pages of big, slow
// fragments are in flight at once. It returns the peak and idle RSS in KB
// and the pages' median time to last byte.
func memory(composer *exec.Cmd, streams int, profile bool, debugPort int, composerURL, work string) (peak, idle int, ttlb time.Duration) {
	idle = rssKB(composer.Process.Pid)
	if profile {
		go func() {
			time.Sleep(1500 * time.Millisecond) // mid-run: every stream open
			saveProfile(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/heap", debugPort), filepath.Join(work, "heap.prof"))
		}()
	}
	_, ttlbs := probe(composerURL+"/s3", streams*2, streams)
	return peakKB(composer.Process.Pid), idle, pct(ttlbs, 50)
}

func mb(kb int) float64 { return float64(kb) / 1024 }

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

// composerProc is one composer under test.
type composerProc struct {
	name, bin       string
	port, debugPort int
	cmd             *exec.Cmd
}

func (c *composerProc) url() string { return fmt.Sprintf("http://127.0.0.1:%d", c.port) }

type peer struct{ name, url string }

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
		for i := range 5 {
			id := fmt.Sprintf("%s-f%d", s.name, i)
			fmt.Fprintf(&c, "<section><micro-frontend id=%q/></section>\n", id)
			reg = append(reg, fmt.Sprintf("%q: %q", id, fragURL(fragAddr, s, i)))
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
  upstream fragments { server %s; keepalive 256; }
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
	logf, err := os.Create(filepath.Join(work, name+".log"))
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

var rpsRe = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

// wrk runs wrk against url and returns requests per second.
func wrk(url string, conc int, d time.Duration, encoding string) float64 {
	args := []string{"-t2", "-c" + strconv.Itoa(conc), "-d" + strconv.Itoa(int(d.Seconds())) + "s", "--timeout", "10s"}
	if encoding != "" {
		args = append(args, "-H", "Accept-Encoding: "+encoding)
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
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// probe fetches url n times with conc at once and returns the times to the
// first and to the last byte of each response.
func probe(url string, n, conc int) (ttfb, ttlb []time.Duration) {
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

func rssKB(pid int) int  { return procStatus(pid, "VmRSS") }
func peakKB(pid int) int { return procStatus(pid, "VmHWM") }

// cpuTime is the process's user and system CPU time so far.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	check(err)
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

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

package main

// BenchmarkComposerPage counts what the composer itself spends on a page:
// the composer runs as a process of its own (the binary, as deployed),
// while the load client and the fragment servers run here, in the
// benchmark's process, so that none of their work is counted. The
// composer's allocations are read from its own /metrics
// (go_memstats_mallocs_total, go_memstats_alloc_bytes_total) before and
// after the pages, less what the reads of /metrics cost; its CPU from
// /proc.
//
//	go test ./bench/harness -run '^$' -bench ComposerPage -benchtime 4000x
//
// COMPOSER_BIN names a composer binary to measure (say, one built from
// main, for the figure before a change); by default the working tree's
// composer is built. COMPOSER_PROFILE_DIR, if set, receives the
// composer's allocation profiles before and after the measured pages
// (allocs-<name>-before.prof, -after.prof: go tool pprof -sample_index
// alloc_objects -diff_base before after) and a CPU profile of them.

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// composerBinary is COMPOSER_BIN, or the working tree's composer built
// into dir.
func composerBinary(b *testing.B, dir string) string {
	if bin := os.Getenv("COMPOSER_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(dir, "composer")
	cmd := exec.Command("go", "build", "-o", bin, "../../composer")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func BenchmarkComposerPage(b *testing.B) {
	for _, bc := range []struct {
		name      string
		fragments int
		size      int  // bytes a fragment, about
		cookie    bool // the entries forward Cookie: a connection per request
	}{
		{"5x2KB", 5, 2 << 10, false},
		{"50x2KB", 50, 2 << 10, false},
		{"5x2KB-cookie", 5, 2 << 10, true},
		{"5x64KB", 5, 64 << 10, false}, // the memory run's page (without its 300 ms)
	} {
		b.Run(bc.name, func(b *testing.B) { benchComposerPage(b, bc.fragments, bc.size, bc.cookie) })
	}
}

func benchComposerPage(b *testing.B, fragments, size int, cookie bool) {
	dir := b.TempDir()
	bin := composerBinary(b, dir)
	line := "<p>Lorem ipsum dolor sit amet, <b>consectetur</b> adipiscing elit.</p>\n"
	frag := strings.Repeat(line, size/len(line)+1)
	fs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, frag)
	}))
	var dialled atomic.Int64
	fs.Config.ConnState = func(c net.Conn, st http.ConnState) {
		if st == http.StateNew {
			dialled.Add(1)
		}
	}
	fs.Start()
	defer fs.Close()
	var page strings.Builder
	var reg []string
	page.WriteString(head)
	for i := range fragments {
		id := fmt.Sprintf("f%d", i)
		fmt.Fprintf(&page, "<section><micro-frontend id=%q/></section>\n", id)
		if cookie {
			reg = append(reg, fmt.Sprintf(`%q: {"endpoint": %q, "forwardHeaders": ["Cookie"]}`, id, fs.URL+"/f?id="+id))
		} else {
			reg = append(reg, fmt.Sprintf("%q: %q", id, fs.URL+"/f?id="+id))
		}
	}
	page.WriteString("</main><footer>Footer</footer></body></html>\n")
	tpl := filepath.Join(dir, "templates")
	check(os.MkdirAll(tpl, 0o755))
	check(os.WriteFile(filepath.Join(tpl, "page.html"), []byte(page.String()), 0o644))
	check(os.WriteFile(filepath.Join(tpl, "routes.json"), []byte(`{"/page": "page.html"}`), 0o644))
	check(os.WriteFile(filepath.Join(tpl, "registry.json"), []byte("{"+strings.Join(reg, ",\n")+"}"), 0o644))

	ports := freePorts(2)
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[1])
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "COMPOSER_ADDR="+addr, "COMPOSER_TEMPLATES="+tpl,
		"COMPOSER_REGISTRY="+filepath.Join(tpl, "registry.json"), "COMPOSER_LOG_LEVEL=warn",
		"COMPOSER_FRAGMENT_TIMEOUT=5s", "COMPOSER_DEBUG_ADDR=127.0.0.1:"+strconv.Itoa(ports[1]))
	logs, err := os.Create(filepath.Join(dir, "composer.log"))
	check(err)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	check(cmd.Start())
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	url := "http://" + addr + "/page"
	waitReady("composer", url)

	scrape := func() string {
		resp, err := http.Get(metricsURL)
		check(err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		check(err)
		return string(body)
	}
	// What one read of /metrics costs the composer, so that it can be
	// taken off.
	m0, m1 := scrape(), scrape()
	scrapeAllocs := metricValue(m1, "go_memstats_mallocs_total") - metricValue(m0, "go_memstats_mallocs_total")
	scrapeBytes := metricValue(m1, "go_memstats_alloc_bytes_total") - metricValue(m0, "go_memstats_alloc_bytes_total")

	const conc = 8
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc, DisableCompression: true}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	get := func(i int) error {
		req, _ := http.NewRequest("GET", url, nil)
		if cookie {
			req.Header.Set("Cookie", "session=visitor"+strconv.Itoa(i%conc))
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || n < int64(fragments*size)*9/10 {
			return fmt.Errorf("status %d, %d bytes, %v", resp.StatusCode, n, err)
		}
		return nil
	}
	pages := func(n int) {
		work := make(chan int, n)
		for i := range n {
			work <- i
		}
		close(work)
		var wg sync.WaitGroup
		for range conc {
			wg.Go(func() {
				for i := range work {
					if err := get(i); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	pages(200) // warm: connections, pools, the composer's own buffers

	profiles := os.Getenv("COMPOSER_PROFILE_DIR")
	name := strings.NewReplacer("/", "-").Replace(b.Name())
	debug := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/", ports[1])
	if profiles != "" {
		saveProfile(debug+"allocs", filepath.Join(profiles, "allocs-"+name+"-before.prof"))
	}
	var cpuProfile sync.WaitGroup
	if profiles != "" {
		cpuProfile.Go(func() { saveProfile(debug+"profile?seconds=5", filepath.Join(profiles, "cpu-"+name+".prof")) })
	}
	pid := cmd.Process.Pid
	before := scrape()
	cpu0 := cpuTime(pid)
	dialled0 := dialled.Load()
	b.ResetTimer()
	pages(b.N)
	b.StopTimer()
	cpu := cpuTime(pid) - cpu0
	after := scrape()
	if profiles != "" {
		saveProfile(debug+"allocs", filepath.Join(profiles, "allocs-"+name+"-after.prof"))
		cpuProfile.Wait()
	}
	allocs := metricValue(after, "go_memstats_mallocs_total") - metricValue(before, "go_memstats_mallocs_total") - scrapeAllocs
	bytes := metricValue(after, "go_memstats_alloc_bytes_total") - metricValue(before, "go_memstats_alloc_bytes_total") - scrapeBytes
	b.ReportMetric(allocs/float64(b.N), "composer-allocs/page")
	b.ReportMetric(bytes/float64(b.N), "composer-B/page")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "composer-cpu-µs/page")
	b.ReportMetric(metricValue(after, "go_goroutines"), "composer-goroutines-idle")
	b.ReportMetric(float64(dialled.Load()-dialled0)/float64(b.N), "fragment-conns/page")
}

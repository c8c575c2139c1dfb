package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// spanKeys are words that, in a log key, name a length of time: such a key
// must say its unit (…_ms) and hold a number of milliseconds.
var spanKeys = []string{"duration", "grace", "stale_for", "elapsed", "took", "timeout", "delay", "wait", "latency"}

// checkLogDurations fails on any logged length of time that is not a
// number of milliseconds under a key ending in _ms, and returns the lines.
func checkLogDurations(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		lines = append(lines, line)
		for k, v := range line {
			for _, w := range spanKeys {
				if !strings.Contains(k, w) {
					continue
				}
				if _, isNumber := v.(float64); !strings.HasSuffix(k, "_ms") || !isNumber {
					t.Errorf("log key %q = %v (%T): want a number of milliseconds under a key ending in _ms\n%s", k, v, v, sc.Text())
				}
			}
		}
	}
	return lines
}

// Durations in the logs are milliseconds, the unit in the key: the
// request line's duration_ms, the shutdown's grace_ms.
func TestLogsSayDurationsInMilliseconds(t *testing.T) {
	inst := start(t, nil, "-shutdown-timeout", "3s")
	if status, _ := fetchPage(t, inst.base+"/product/2"); status != 200 {
		t.Fatalf("page: %d", status)
	}
	inst.stop(t)
	var request, shutdown bool
	for _, line := range checkLogDurations(t, inst.logs.String()) {
		switch line["msg"] {
		case "request":
			ms, ok := line["duration_ms"].(float64)
			request = ok && ms > 0 && ms < 20_000
		case "shutting down: no new connections; finishing pages in flight":
			shutdown = line["grace_ms"] == 3000.0
		}
	}
	if !request || !shutdown {
		t.Errorf("request line with duration_ms: %v; shutdown line with grace_ms 3000: %v\n%s", request, shutdown, inst.logs)
	}
}

// No code logs a time.Duration as it is (nanoseconds in JSON): the
// runtime test above sees only the lines a demo run writes.
func TestNoSlogDurationInTheCode(t *testing.T) {
	for _, root := range []string{".", "../fragments"} {
		err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for i, line := range strings.Split(string(b), "\n") {
				if strings.Contains(line, "slog.Duration(") || strings.Contains(line, "slog.DurationValue(") {
					t.Errorf("%s:%d: logs a time.Duration (nanoseconds); log milliseconds under a key ending in _ms", p, i+1)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// The error page says what happened, at the level a visitor may see: a
// fragment that answered 503 did not "fail to answer in time"; one that
// did not answer in time is a 504 that says so. Neither names an
// endpoint or shows the fragment's answer.
func TestErrorPageSaysWhatHappened(t *testing.T) {
	inst := start(t, nil, "-fragment-timeout", "300ms")
	status, page := fetchPage(t, inst.base+"/productdetails?fail=product")
	if status != 502 || !strings.Contains(page, "not available right now") {
		t.Fatalf("?fail=product: %d, want 502 with the error page:\n%s", status, page)
	}
	for _, wrong := range []string{"in time", "127.0.0.1", "failing on request"} {
		if strings.Contains(page, wrong) {
			t.Errorf("?fail=product (the fragment answered 503) page says %q:\n%s", wrong, page)
		}
	}
	status, page = fetchPage(t, inst.base+"/productdetails?slow=product:10s")
	if status != 504 || !strings.Contains(page, "did not answer in time") || strings.Contains(page, "127.0.0.1") {
		t.Errorf("?slow=product:10s with a 300ms deadline: %d, want 504 saying it did not answer in time:\n%s", status, page)
	}
}

// /metrics (on the admin listener) names Accept-Encoding in Vary once.
func TestMetricsVaryOnce(t *testing.T) {
	inst := start(t, nil)
	for _, enc := range []string{"gzip", "identity", ""} {
		req, _ := http.NewRequest(http.MethodGet, inst.admin+"/metrics", nil)
		if enc != "" {
			req.Header.Set("Accept-Encoding", enc)
		}
		resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		n := 0
		for _, v := range resp.Header.Values("Vary") {
			for _, f := range strings.Split(v, ",") {
				if strings.EqualFold(strings.TrimSpace(f), "Accept-Encoding") {
					n++
				}
			}
		}
		if n > 1 {
			t.Errorf("Accept-Encoding %q: Vary = %q, names Accept-Encoding %d times", enc, resp.Header.Values("Vary"), n)
		}
	}
}

// The AWS SDK's own lines go through the process's logger, at their level,
// not as plain text to the process's stderr: an S3 object without a
// checksum makes the SDK say so (at debug level) on every read.
func TestAWSSDKLogsGoThroughSlog(t *testing.T) {
	w := newAWSWorld(t)
	// A template stored without a checksum, as other tools upload them.
	req, _ := http.NewRequest(http.MethodPut, w.s3.URL+"/pages/site/extra.html", strings.NewReader("<p>extra</p>"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("put without a checksum: %d", resp.StatusCode)
	}

	// The SDK's default logger writes to the os.Stderr of when the config
	// is loaded: catch it.
	stderr, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = stderr
	defer func() { os.Stderr = saved }()
	inst := w.start(t, map[string]string{"COMPOSER_LOG_LEVEL": "debug"})
	eventually(t, "the SDK's line in the composer's log, at debug level", func() bool {
		for _, line := range strings.Split(inst.logs.String(), "\n") {
			if strings.Contains(line, "no supported checksum") && strings.Contains(line, `"level":"DEBUG"`) && strings.Contains(line, `"component":"aws-sdk"`) {
				return true
			}
		}
		return false
	})
	inst.stop(t)
	os.Stderr = saved
	if b, _ := os.ReadFile(stderr.Name()); len(b) > 0 {
		t.Errorf("written to the process's stderr, around the logger:\n%s", b)
	}
}

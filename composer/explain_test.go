package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer is a bytes.Buffer safe for the standard logger's writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// jsonLines fails on any line of logs that is not a JSON object, and
// returns the lines.
func jsonLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Errorf("a log line that is not JSON: %q", sc.Text())
			continue
		}
		lines = append(lines, line)
	}
	return lines
}

// The reverse proxies (COMPOSER_PROXY, and the demo's /api/reviews/) log
// through the process's logger, with the request id: a target that is
// down or cuts its body writes no plain-text line around the JSON log.
func TestProxyErrorsAreLoggedAsJSON(t *testing.T) {
	stray := &lockedBuffer{}
	log.SetOutput(stray)
	defer log.SetOutput(os.Stderr)

	cut := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(200)
		_, _ = w.Write([]byte("short"))
		w.(http.Flusher).Flush()
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	}))
	defer cut.Close()
	down, _ := net.Listen("tcp", "127.0.0.1:0")
	downURL := "http://" + down.Addr().String()
	down.Close()

	inst := start(t, nil, "-proxy", "/down/="+downURL+",/cut/="+cut.URL)
	if status, _ := fetchPage(t, inst.base+"/down/a"); status != http.StatusBadGateway {
		t.Errorf("/down/a: %d, want 502", status)
	}
	if resp, err := http.Get(inst.base + "/cut/a"); err == nil {
		_, _ = bytes.NewBuffer(nil).ReadFrom(resp.Body)
		resp.Body.Close()
	}
	inst.stop(t)
	if s := stray.String(); s != "" {
		t.Errorf("written around the JSON log:\n%s", s)
	}
	var proxyLine bool
	for _, line := range jsonLines(t, inst.logs.String()) {
		if id, _ := line["request_id"].(string); id != "" && line["level"] == "WARN" && strings.Contains(line["msg"].(string), "proxy") && line["path"] == "/down/a" {
			proxyLine = true
		}
	}
	if !proxyLine {
		t.Errorf("no warning with the request id and path for the proxy's error:\n%s", inst.logs)
	}
}

// Every setting error names the setting as the user gave it, flag or
// variable, and a listen address is checked before anything starts.
func TestSettingErrorsNameTheSettingGiven(t *testing.T) {
	tests := []struct {
		env       map[string]string
		args      []string
		want, not string
	}{
		{args: []string{"-addr", "127.0.0.1:0", "-debug-addr", "nonsense"}, want: `-debug-addr "nonsense": `, not: "ADMIN"},
		{args: []string{"-addr", "127.0.0.1:0"}, env: map[string]string{"COMPOSER_DEBUG_ADDR": "nonsense"}, want: `COMPOSER_DEBUG_ADDR="nonsense": `, not: "ADMIN"},
		{args: []string{"-admin-addr", "nonsense"}, want: `-admin-addr "nonsense": `},
		{args: []string{"-admin-addr", "127.0.0.1:0", "-addr", "nonsense"}, want: `-addr "nonsense": `},
		{args: []string{"-admin-addr", "127.0.0.1:0"}, env: map[string]string{"COMPOSER_ADDR": "nonsense"}, want: `COMPOSER_ADDR="nonsense": `},
		{args: []string{"-admin-addr", "127.0.0.1:0", "-addr", "127.0.0.1:0", "-dev=maybe"}, want: `-dev "maybe": want true or false`},
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, tt := range tests {
		var logs strings.Builder
		args := append([]string{"composer", "-log-format", "json"}, tt.args...)
		err := run(t.Context(), args, func(k string) string { return tt.env[k] }, io.Discard, &logs)
		if err == nil || !strings.Contains(err.Error(), tt.want) || (tt.not != "" && strings.Contains(err.Error(), tt.not)) {
			t.Errorf("env %v args %v: %v, want an error containing %q (and not %q)", tt.env, tt.args, err, tt.want, tt.not)
		}
		if logs.Len() > 0 {
			t.Errorf("env %v args %v: started before the error:\n%s", tt.env, tt.args, logs.String())
		}
	}
}

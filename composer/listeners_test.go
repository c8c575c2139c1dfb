package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/ssr-mfe/composer/composer/internal/logbuf"
	"github.com/ssr-mfe/composer/composer/settings"
)

// With no admin setting, a taken 127.0.0.1:9090 (Prometheus' own default
// port) does not stop the demo: the admin listener takes a free loopback
// port, says its URL, and serves there.
func TestDefaultAdminPortTakenFallsBackToAFreeOne(t *testing.T) {
	if l, err := net.Listen("tcp", "127.0.0.1:9090"); err == nil {
		t.Cleanup(func() { l.Close() })
	} // else taken already: as good
	ctx, cancel := context.WithCancel(context.Background())
	logs := &logbuf.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"composer", "-addr", "127.0.0.1:0", "-log-format", "json"}, func(string) string { return "" }, io.Discard, logs)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	var admin string
	eventually(t, "the admin listener started elsewhere", func() bool {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("run returned: %v\nlogs:\n%s", err, logs)
		default:
		}
		for _, line := range jsonLines(t, logs.String()) {
			if line["msg"] == "admin listener" {
				admin, _ = line["addr"].(string)
			}
		}
		return admin != ""
	})
	host, port, _ := net.SplitHostPort(admin)
	if host != "127.0.0.1" || port == "9090" {
		t.Fatalf("admin listener on %s, want a free loopback port", admin)
	}
	if !strings.Contains(logs.String(), "http://"+admin+"/metrics") || !strings.Contains(logs.String(), "127.0.0.1:9090") {
		t.Errorf("the log does not say that 9090 was taken and where the admin listener is:\n%s", logs)
	}
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/metrics on the fallback port: %d", resp.StatusCode)
	}
}

// An admin address that was set and cannot be bound stops start-up, the
// setting named as it was given.
func TestSetAdminAddressTakenStopsStartUp(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().String()
	for _, tt := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{args: []string{"-admin-addr", taken}, want: `-admin-addr "` + taken + `"`},
		{env: map[string]string{"COMPOSER_ADMIN_ADDR": taken}, want: `COMPOSER_ADMIN_ADDR="` + taken + `"`},
	} {
		err := run(context.Background(), append([]string{"composer", "-addr", "127.0.0.1:0"}, tt.args...), func(k string) string { return tt.env[k] }, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "address already in use") {
			t.Errorf("env %v args %v: %v, want an error naming %s", tt.env, tt.args, err, tt.want)
		}
	}
}

// Both listeners given one address: said as such at start-up, before any
// listener is opened.
func TestOneAddressForBothListenersStopsStartUp(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	err = run(context.Background(), []string{"composer", "-addr", addr, "-admin-addr", addr}, func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "one address for two listeners") || strings.Contains(err.Error(), "already in use") {
		t.Errorf("%v, want one address for two listeners said as such", err)
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		t.Errorf("%v: a listener was opened", err)
	}
}

// The container image keeps answering `docker run -p 8080:8080`: with the
// demo's listener on loopback by default, its Dockerfile sets the public
// address on every interface (the admin one stays on loopback).
func TestContainerImageListensOnEveryInterface(t *testing.T) {
	dockerfile, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	stage := string(dockerfile)
	i := strings.Index(stage, " AS composer\n")
	if i < 0 {
		t.Fatal("the Dockerfile has no composer stage")
	}
	stage = stage[i:]
	if j := strings.Index(stage, "\nFROM "); j >= 0 {
		stage = stage[:j]
	}
	m := regexp.MustCompile(`(?m)^ENV COMPOSER_ADDR=(\S+)$`).FindStringSubmatch(stage)
	if m == nil {
		t.Fatal("the composer image does not set COMPOSER_ADDR: the demo would listen on the container's loopback, out of reach of -p 8080:8080")
	}
	cfg, err := settings.Parse(nil, func(k string) string {
		if k == "COMPOSER_ADDR" {
			return m[1]
		}
		return ""
	}, io.Discard, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host, port, _ := net.SplitHostPort(cfg.Addr); host != "" && host != "0.0.0.0" || port != "8080" {
		t.Errorf("the image listens on %s, want :8080", cfg.Addr)
	}
	if !strings.HasPrefix(cfg.AdminAddr, "127.0.0.1:") {
		t.Errorf("the image's admin listener is on %s, want loopback", cfg.AdminAddr)
	}
}

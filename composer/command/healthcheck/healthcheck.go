// Package healthcheck is composer healthcheck: a running composer's
// /healthz, for container health checks in images without curl.
package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/ssr-mfe/composer/composer/command"
)

// Run asks a running composer's /healthz, for container health
// checks in images without curl: exit 0 when it is alive. (Readiness,
// /readyz, is for the load balancer: a task that loaded nothing yet must
// not be restarted for it.)
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := command.Flags("composer healthcheck", "usage: composer healthcheck [URL]\n\nAsks a running composer whether it is alive and exits 0 if it answers 200.\nURL defaults to /healthz at COMPOSER_ADDR (:8080), on 127.0.0.1 when its host is empty or 0.0.0.0.\n", stderr)
	pos, err := command.Args(fs, args)
	if err != nil {
		return err
	}
	if pos == nil {
		return nil // -h
	}
	if len(pos) > 1 {
		fs.Usage()
		return errors.New("healthcheck: want at most one URL")
	}
	var url string
	if len(pos) > 0 {
		url = pos[0]
	} else if url, err = LivenessURL(getenv("COMPOSER_ADDR")); err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %d", url, resp.StatusCode)
	}
	return nil
}

// LivenessURL is /healthz at the listen address addr (COMPOSER_ADDR, or
// its default): a listener on every interface is asked on loopback.
func LivenessURL(addr string) (string, error) {
	if addr == "" {
		addr = ":8080"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("COMPOSER_ADDR=%q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz", nil
}

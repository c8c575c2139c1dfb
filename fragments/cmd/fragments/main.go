// Command fragments serves the demo's example fragments, each on its own
// port from -base-port (header, product, reviews, recommendations,
// notifications, footer), and their static files on -base-port - 1. The
// docker-compose stack runs it; `composer register` points the registry
// at it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ssr-mfe/composer/fragments"
)

func main() {
	host := flag.String("host", "0.0.0.0", "address to listen on")
	base := flag.Int("base-port", 9001, "port of the first fragment; the static files are on base-port - 1")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var servers []*http.Server
	serve := func(port int, name string, h http.Handler) {
		addr := net.JoinHostPort(*host, fmt.Sprint(port))
		s := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 5 * time.Second}
		servers = append(servers, s)
		go func() {
			if err := s.ListenAndServe(); err != nil && err != http.ErrServerClosed {
				log.Error("serve", slog.String("fragment", name), slog.String("error", err.Error()))
				os.Exit(1)
			}
		}()
		log.Info("serving", slog.String("fragment", name), slog.String("addr", addr))
	}
	serve(*base-1, "static", fragments.Static())
	for i, f := range fragments.All(fragments.DefaultRecommendationsDelay) {
		serve(*base+i, f.Name, fragments.Switches(f.Name, f.HTTP()))
	}
	<-ctx.Done()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range servers {
		_ = s.Shutdown(shutdownCtx)
	}
}

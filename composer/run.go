package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/otel/trace"

	"github.com/ssr-mfe/composer/composer/admin"
	"github.com/ssr-mfe/composer/composer/awsclient"
	"github.com/ssr-mfe/composer/composer/breaker"
	"github.com/ssr-mfe/composer/composer/cache"
	"github.com/ssr-mfe/composer/composer/dev"
	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/hedge"
	"github.com/ssr-mfe/composer/composer/internal/gather"
	"github.com/ssr-mfe/composer/composer/internal/gcpace"
	"github.com/ssr-mfe/composer/composer/registry"
	"github.com/ssr-mfe/composer/composer/server"
	"github.com/ssr-mfe/composer/composer/settings"
	"github.com/ssr-mfe/composer/composer/sources"
	"github.com/ssr-mfe/composer/composer/stream"
	"github.com/ssr-mfe/composer/composer/template"
	"github.com/ssr-mfe/composer/composer/tracing"
)

// run is the whole program: main only adds the signals and the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 1 {
		for _, c := range commands {
			if args[1] == c.name {
				return c.run(ctx, args[2:], getenv, stdout, stderr)
			}
		}
		switch {
		case args[1] == "help" && len(args) == 2:
			args = []string{args[0], "-h"}
		case args[1] == "help":
			return run(ctx, []string{args[0], args[2], "-h"}, getenv, stdout, stderr)
		case !strings.HasPrefix(args[1], "-"):
			return unknownCommand(args[1])
		}
	}
	cfg, err := settings.Parse(args[1:], getenv, stderr, commandsUsage)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	return serve(ctx, cfg, getenv, stderr)
}

// serve is the server's start-up, in its steps, and then its life until
// ctx is done:
//
//  1. configuration: cfg, read by settings.Parse; the logger, metrics and
//     AWS clients
//  2. sources: sources.Open says where templates and registry come from;
//     sources.RefuseBroken stops here on a local folder or registry
//     file with problems (outside the development mode)
//  3. the composer: newComposer, the fragment transports, cache, tracing
//     and the page server
//  4. first load: Sources.FirstLoad reads templates and registry once,
//     from their sources or the snapshot
//  5. the listeners: listen serves the admin and public listeners and
//     refreshes the sources until ctx is done, then shuts down
func serve(ctx context.Context, cfg *settings.Config, getenv func(string) string, stderr io.Writer) error {
	log := settings.NewLogger(cfg, stderr)
	defer gcpace.Start(cfg.GCHeadroom)()
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	clients, err := awsclient.Load(ctx, getenv, log)
	if err != nil {
		return err
	}

	in, err := sources.Open(cfg, clients, log, metrics)
	if err != nil {
		return err
	}
	defer in.Close()
	if cfg.Watch {
		dev.Inputs(cfg, in)
	}
	if err := sources.RefuseBroken(cfg, stderr); err != nil {
		return err
	}

	reg := registry.New(nil)
	refused := sources.NewRefusals(metrics)
	srv, closeComposer, err := newComposer(ctx, cfg, getenv, log, metrics, clients, reg, in.Mounts, refused.Notices)
	if err != nil {
		return err
	}
	defer closeComposer()

	src := sources.New(log, srv, reg, in.Templates, in.Registry, cfg.SnapshotDir, refused, metrics)
	if cfg.Watch {
		src.CheckFragments() // composer dev shows what validate would report
	}
	src.FirstLoad(ctx)
	if cfg.Watch {
		d, err := dev.Start(ctx, cfg, log, srv, reg, src)
		if err != nil {
			return err
		}
		defer d.Close()
		return listen(ctx, cfg, log, d, src, metrics)
	}
	return listen(ctx, cfg, log, srv, src, metrics)
}

// newComposer builds what serves pages: the fragment transports (HTTP,
// Lambda, Step Functions), the fragment cache, tracing, the stream
// composer and the page server. The returned func flushes and closes them.
func newComposer(ctx context.Context, cfg *settings.Config, getenv func(string) string, log *slog.Logger, metrics prometheus.Registerer,
	clients *awsclient.Clients, reg *registry.Registry, mounts map[string]http.Handler, notices func() []string) (*server.Server, func(), error) {
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	httpFetch := fetch.NewHTTP()
	httpFetch.AllowHosts(cfg.AllowedHosts)
	closers = append(closers, httpFetch.Close)
	tp, stopTracing, err := tracing.New(ctx, getenv)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	closers = append(closers, func() {
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := stopTracing(flushCtx); err != nil {
			log.Warn("traces not flushed", slog.String("error", err.Error()))
		}
	})
	var tracer trace.Tracer // nil: no spans, the caller's traceparent passes through
	if tp != nil {
		tracer = tp.Tracer("github.com/ssr-mfe/composer")
	}
	pageMetrics := server.NewMetrics(metrics)
	server.PoolMetrics(metrics, httpFetch.PoolStats)
	var transport fetch.Transport = &fetch.Mux{
		HTTP:          httpFetch,
		Lambda:        fetch.NewLambda(clients.Lambda),
		StepFunctions: fetch.NewStepFunctions(clients.SFN),
		Override:      overrideTransport(cfg, log, &closers),
	}
	// Cache, then bulkhead and breaker, then hedging, then the transport:
	// a cache hit never waits for a slot nor counts in a breaker, and the
	// breaker sees one request however many the hedging sent, asked first
	// (Admit) whether a hedge may go.
	var guard *breaker.Transport
	hedged := hedge.New(transport, hedge.Options{Registry: reg, Metrics: metrics,
		Admit: func(req *fetch.Request) (func(), error) { return guard.Admit(req) }})
	guard = breaker.New(hedged, breaker.Options{Registry: reg, Log: log, Metrics: metrics})
	transport = guard
	if cfg.CacheBytes > 0 {
		fragmentCache := cache.New(transport, cfg.CacheBytes, pageMetrics.CacheResult)
		closers = append(closers, fragmentCache.Wait)
		transport = fragmentCache
	}
	composer := &stream.Composer{
		Observer:         pageMetrics,
		Tracer:           tracer,
		Fetch:            transport,
		Breakers:         guard, // the debug view shows their states
		CDNKey:           cfg.CDNKeyHeaders,
		PublicOrigin:     cfg.PublicOrigin,
		Registry:         reg,
		Log:              log,
		Timeout:          cfg.FragmentTimeout,
		MaxFragmentBytes: cfg.MaxFragmentBytes,
		FlushDelay:       cfg.FlushDelay,
		Islands:          cfg.Islands,
	}
	csp := cfg.CSP
	if csp == "" && cfg.Templates == "" {
		csp = settings.DemoCSP // the demo shows that a strict policy works
	}
	srv := server.New(server.Options{
		Log: log, Composer: composer, Registry: reg, Mounts: mounts, CSP: csp, Metrics: pageMetrics, Tracer: tracer,
		WriteTimeout: cfg.WriteTimeout, RetryAfter: cfg.Refresh, Notices: notices, MaxPages: cfg.MaxPages,
		OverrideKey: cfg.OverrideKey, CompressorBytes: compressorBytes(cfg.CompressorBytes),
	})
	return srv, closeAll, nil
}

// pageServer is what listen serves: the page server, or the dev mode
// around it.
type pageServer interface {
	http.Handler
	Templates() *template.Set
}

// listen serves the admin listener and the public one, refreshes the
// sources every cfg.Refresh, and on ctx's end shuts down: no new
// connections, pages in flight finish within cfg.ShutdownTimeout.
func listen(ctx context.Context, cfg *settings.Config, log *slog.Logger, srv pageServer, src *sources.Sources, metrics *prometheus.Registry) error {
	if cfg.AdminNote != "" {
		log.Info(cfg.AdminNote, slog.String("addr", cfg.AdminAddr))
	}
	if cfg.AdminAddr != "" {
		closeAdmin, _, err := admin.Serve(cfg.AdminAddr, log, metrics, func() any { return src.Status() }, cfg.Listeners)
		if err != nil && cfg.AdminDefault && errors.Is(err, syscall.EADDRINUSE) {
			// Unset, and taken (9090 is Prometheus' own default port):
			// any free port on loopback will do, said with its URL.
			var addr net.Addr
			closeAdmin, addr, err = admin.Serve("127.0.0.1:0", log, metrics, func() any { return src.Status() }, cfg.Listeners)
			if err == nil {
				log.Warn("admin listener: "+cfg.AdminAddr+" is taken (9090 is also Prometheus' default port); on a free port instead: set COMPOSER_ADMIN_ADDR to choose one",
					slog.String("url", "http://"+addr.String()+"/metrics"))
			}
		}
		if err != nil {
			return fmt.Errorf("%s: %w", cfg.NamedValue(cfg.AdminFrom, cfg.AdminAddr), err)
		}
		defer closeAdmin()
	}
	l, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.NamedValue("COMPOSER_ADDR", cfg.Addr), err)
	}
	cfg.Listeners.Add(l.Addr()) // overrides never reach it
	hs := &http.Server{
		Handler: srv,
		// A page's flush, and its end, reach the socket in one write
		// each (package gather).
		ConnContext: gather.ConnContext,
		// Slow-loris protection. No WriteTimeout, which would bound the
		// whole response and cut long streams: the server gives every
		// write its own deadline (COMPOSER_WRITE_TIMEOUT) instead.
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(gather.Listener{Listener: l}) }()
	log.Info("listening", append([]any{slog.String("addr", l.Addr().String())}, server.StartupAttrs(l.Addr(), srv.Templates())...)...)
	if d, ok := srv.(*dev.Server); ok {
		d.Listening(l.Addr())
	}

	refreshDone := make(chan struct{})
	refreshCtx, stopRefresh := context.WithCancel(ctx)
	go func() {
		defer close(refreshDone)
		src.Loop(refreshCtx, cfg.Refresh)
	}()
	defer func() {
		stopRefresh()
		<-refreshDone
	}()

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: no new connections; finishing pages in flight", slog.Int64("grace_ms", cfg.ShutdownTimeout.Milliseconds()))
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		_ = hs.Close()
		return fmt.Errorf("shutdown: pages still in flight after %s: %w", cfg.ShutdownTimeout, err)
	}
	log.Info("stopped")
	return nil
}

// compressorBytes is the setting as server.Options takes it: there zero is
// the default, and a negative budget none.
func compressorBytes(n int64) int64 {
	if n == 0 {
		return -1
	}
	return n
}

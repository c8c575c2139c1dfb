package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/ssr-mfe/composer/composer/cache"
	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/registry"
	"github.com/ssr-mfe/composer/composer/s3templates"
	"github.com/ssr-mfe/composer/composer/server"
	"github.com/ssr-mfe/composer/composer/ssmregistry"
	"github.com/ssr-mfe/composer/composer/stream"
	"github.com/ssr-mfe/composer/fragments"
	"github.com/ssr-mfe/composer/templates"
)

// run is the whole program: main only adds the signals and the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 1 {
		switch args[1] {
		case "validate":
			return validate(args[2:], stdout, stderr)
		case "publish":
			return publish(ctx, args[2:], getenv, stdout, stderr)
		case "register":
			return register(ctx, args[2:], getenv, stdout, stderr)
		case "healthcheck":
			return healthcheck(ctx, args[2:], getenv)
		}
	}
	cfg, err := parseConfig(args[1:], getenv, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	log := newLogger(cfg, stderr)
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	switch {
	case cfg.templates == "" && cfg.registry == "":
		log.Info("running the embedded demo: example fragments on loopback ports, templates from templates/; set COMPOSER_TEMPLATES and COMPOSER_REGISTRY to serve your own")
	case cfg.templates == "":
		log.Info("templates: the embedded demo's (COMPOSER_TEMPLATES is not set)")
	case cfg.registry == "":
		log.Info("registry: the embedded demo's fragments (COMPOSER_REGISTRY is not set)")
	}
	clients, err := loadAWS(ctx, getenv)
	if err != nil {
		return err
	}

	mounts := map[string]http.Handler{}
	for prefix, target := range cfg.proxies {
		mounts[prefix+"*"] = newProxy(prefix, target)
	}
	var tplSource templateSource
	switch {
	case cfg.templates == "":
		tplSource = dirSource{name: "the embedded demo templates", fsys: templates.FS}
		mounts["/static/*"] = fragments.Static() // the demo pages link the shell's and fragments' assets
	case strings.HasPrefix(cfg.templates, "s3://"):
		loc, err := s3templates.ParseURI(cfg.templates)
		if err != nil {
			return fmt.Errorf("COMPOSER_TEMPLATES=%w", err)
		}
		tplSource = s3templates.New(clients.s3, loc)
	default:
		if st, err := os.Stat(cfg.templates); err != nil || !st.IsDir() {
			return fmt.Errorf("COMPOSER_TEMPLATES=%q: not a folder", cfg.templates)
		}
		tplSource = dirSource{name: cfg.templates, fsys: os.DirFS(cfg.templates)}
	}
	var regSource registrySource
	switch {
	case cfg.registry == "":
		demo, err := fragments.StartDemo(log, fragments.All(fragments.DefaultRecommendationsDelay))
		if err != nil {
			return err
		}
		defer demo.Close(context.Background())
		regSource = fixedRegistry{name: "demo registry", data: demo.Registry}
		maps.Copy(mounts, demo.Mounts)
	case strings.HasPrefix(cfg.registry, "ssm:"):
		prefix, err := ssmregistry.ParseURI(cfg.registry)
		if err != nil {
			return fmt.Errorf("COMPOSER_REGISTRY=%w", err)
		}
		regSource = ssmregistry.NewWithOptions(clients.ssm, prefix, ssmregistry.Options{FullRefresh: cfg.regFullRefresh, Log: log, Metrics: metrics})
	default:
		regSource = fileRegistry{path: cfg.registry}
	}

	reg := registry.New(nil)
	httpFetch := fetch.NewHTTP()
	httpFetch.AllowHosts(cfg.allowedHosts)
	defer httpFetch.Close()
	tp, stopTracing, err := newTracing(ctx, getenv)
	if err != nil {
		return err
	}
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := stopTracing(flushCtx); err != nil {
			log.Warn("traces not flushed", slog.String("error", err.Error()))
		}
	}()
	var tracer trace.Tracer // nil: no spans, the caller's traceparent passes through
	if tp != nil {
		tracer = tp.Tracer("github.com/ssr-mfe/composer")
	}
	pageMetrics := server.NewMetrics(metrics)
	var transport fetch.Transport = &fetch.Mux{
		HTTP:          httpFetch,
		Lambda:        fetch.NewLambda(clients.lambda),
		StepFunctions: fetch.NewStepFunctions(clients.sfn),
	}
	if cfg.cacheBytes > 0 {
		fragmentCache := cache.New(transport, cfg.cacheBytes, pageMetrics.CacheResult)
		defer fragmentCache.Wait()
		transport = fragmentCache
	}
	composer := &stream.Composer{
		Observer:         pageMetrics,
		Tracer:           tracer,
		Fetch:            transport,
		CDNKey:           cfg.cdnKeyHeaders,
		Registry:         reg,
		Log:              log,
		Timeout:          cfg.fragmentTimeout,
		MaxFragmentBytes: cfg.maxFragment,
		FlushDelay:       cfg.flushDelay,
	}
	csp := cfg.csp
	if csp == "" && cfg.templates == "" {
		csp = demoCSP // the demo shows that a strict policy works
	}
	srv := server.New(server.Options{Log: log, Composer: composer, Registry: reg, Mounts: mounts, CSP: csp, Metrics: pageMetrics, Tracer: tracer, WriteTimeout: cfg.writeTimeout})
	src := newSources(log, srv, reg, tplSource, regSource, cfg.snapshotDir, metrics)
	src.refresh(ctx)

	// The admin listener: metrics and profiles, for Prometheus or the
	// CloudWatch agent inside the network, never for the public (the
	// load balancer reaches only cfg.addr).
	if cfg.adminNote != "" {
		log.Info(cfg.adminNote, slog.String("addr", cfg.adminAddr))
	}
	if cfg.adminAddr != "" {
		dl, err := net.Listen("tcp", cfg.adminAddr)
		if err != nil {
			return fmt.Errorf("COMPOSER_ADMIN_ADDR=%s: %w", cfg.adminAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}))
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		ds := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = ds.Serve(dl) }()
		defer ds.Close()
		log.Info("admin listener", slog.String("addr", dl.Addr().String()))
	}
	l, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	hs := &http.Server{
		Handler: srv,
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
	go func() { serveErr <- hs.Serve(l) }()
	log.Info("listening", slog.String("addr", l.Addr().String()), slog.String("url", pageURL(l.Addr())))

	refreshDone := make(chan struct{})
	refreshCtx, stopRefresh := context.WithCancel(ctx)
	go func() {
		defer close(refreshDone)
		src.loop(refreshCtx, cfg.refresh)
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
	log.Info("shutting down: no new connections; finishing pages in flight", slog.Duration("grace", cfg.shutdownTimeout))
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		_ = hs.Close()
		return fmt.Errorf("shutdown: pages still in flight after %s: %w", cfg.shutdownTimeout, err)
	}
	log.Info("stopped")
	return nil
}

// demoCSP is the demo's policy: nothing inline but the composer's own
// scripts, allowed by their hashes.
const demoCSP = "default-src 'self'; script-src 'self' {hashes}; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'; object-src 'none'"

func pageURL(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return ""
	}
	host := "localhost"
	if !ta.IP.IsUnspecified() && !ta.IP.IsLoopback() {
		host = ta.IP.String()
	}
	return fmt.Sprintf("http://%s/productdetails", net.JoinHostPort(host, fmt.Sprint(ta.Port)))
}

package main

import (
	"log/slog"
	"strings"

	"github.com/ssr-mfe/composer/composer/fetch"
)

// overrideTransport is the transport of signed per-request overrides
// (COMPOSER_OVERRIDE_KEY), or nil when they are off. It reaches only the
// hosts of COMPOSER_OVERRIDE_HOSTS, never loopback (but under composer
// dev), link-local addresses or the composer's own listeners
// (cfg.listeners, filled as they start). Its Close is added to closers.
func overrideTransport(cfg *config, log *slog.Logger, closers *[]func()) fetch.Transport {
	if len(cfg.overrideKey) == 0 {
		if len(cfg.overrideHosts) > 0 && !cfg.watch {
			log.Warn("COMPOSER_OVERRIDE_HOSTS is set but COMPOSER_OVERRIDE_KEY is not: overrides are off")
		}
		return nil
	}
	o := fetch.NewOverride(fetch.OverrideOptions{
		Hosts:         cfg.overrideHosts,
		AllowLoopback: cfg.watch, // composer dev: the fragment being written runs here
		Listeners:     cfg.listeners,
	})
	*closers = append(*closers, o.Close)
	log.Info("signed fragment overrides are on: /_composer/overrides shows a request's",
		slog.String("hosts", strings.Join(cfg.overrideHosts, ",")), slog.Bool("loopback", cfg.watch))
	return o
}

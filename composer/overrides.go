package main

import (
	"log/slog"
	"strings"

	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/settings"
)

// overrideTransport is the transport of signed per-request overrides
// (COMPOSER_OVERRIDE_KEY), or nil when they are off. It reaches only the
// hosts of COMPOSER_OVERRIDE_HOSTS, never loopback (but under composer
// dev), link-local addresses or the composer's own listeners
// (cfg.Listeners, filled as they start). Its Close is added to closers.
func overrideTransport(cfg *settings.Config, log *slog.Logger, closers *[]func()) fetch.Transport {
	if len(cfg.OverrideKey) == 0 {
		if len(cfg.OverrideHosts) > 0 && !cfg.Watch {
			log.Warn("COMPOSER_OVERRIDE_HOSTS is set but COMPOSER_OVERRIDE_KEY is not: overrides are off")
		}
		return nil
	}
	o := fetch.NewOverride(fetch.OverrideOptions{
		Hosts:         cfg.OverrideHosts,
		AllowLoopback: cfg.Watch, // composer dev: the fragment being written runs here
		Listeners:     cfg.Listeners,
	})
	*closers = append(*closers, o.Close)
	log.Info("signed fragment overrides are on: /_composer/overrides shows a request's",
		slog.String("hosts", strings.Join(cfg.OverrideHosts, ",")), slog.Bool("loopback", cfg.Watch))
	return o
}

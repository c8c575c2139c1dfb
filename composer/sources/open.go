package sources

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ssr-mfe/composer/composer/awsclient"
	"github.com/ssr-mfe/composer/composer/proxy"
	"github.com/ssr-mfe/composer/composer/s3templates"
	"github.com/ssr-mfe/composer/composer/settings"
	"github.com/ssr-mfe/composer/composer/ssmregistry"
	"github.com/ssr-mfe/composer/composer/template"
	"github.com/ssr-mfe/composer/fragments"
	"github.com/ssr-mfe/composer/templates"
)

// Inputs are where templates and registry come from, and the handlers
// served beside the pages (the demo's fragments and assets, the proxies).
type Inputs struct {
	Templates TemplateSource
	Registry  RegistrySource
	Mounts    map[string]http.Handler
	Close     func()
}

// Open chooses the template and registry sources from cfg: the
// embedded demo, a local folder or file, S3 or Parameter Store. The demo's
// fragments are started here; Close stops them.
func Open(cfg *settings.Config, clients *awsclient.Clients, log *slog.Logger, metrics prometheus.Registerer) (*Inputs, error) {
	switch {
	case cfg.Templates == "" && cfg.Registry == "":
		log.Info("running the embedded demo: example fragments on loopback ports, templates from templates/; set COMPOSER_TEMPLATES and COMPOSER_REGISTRY to serve your own")
	case cfg.Templates == "":
		log.Info("templates: the embedded demo's (COMPOSER_TEMPLATES is not set)")
	case cfg.Registry == "":
		log.Info("registry: the embedded demo's fragments (COMPOSER_REGISTRY is not set)")
	}
	in := &Inputs{Mounts: map[string]http.Handler{}, Close: func() {}}
	for prefix, target := range cfg.Proxies {
		in.Mounts[prefix+"*"] = proxy.New(prefix, target, log)
	}
	switch {
	case cfg.Templates == "":
		in.Templates = demoTemplates{dirSource{name: "the embedded demo templates", fsys: templates.FS}}
		in.Mounts["/static/*"] = fragments.Static() // the demo pages link the shell's and fragments' assets
	case settings.IsS3(cfg.Templates):
		loc, err := s3templates.ParseURI(cfg.Templates)
		if err != nil {
			return nil, fmt.Errorf("%s%w", cfg.Assign("COMPOSER_TEMPLATES"), err)
		}
		in.Templates = s3templates.New(clients.S3, loc)
	default:
		if st, err := os.Stat(cfg.Templates); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("%s: not a folder, nor s3://bucket/prefix/ (the two forms of templates)", cfg.NamedValue("COMPOSER_TEMPLATES", cfg.Templates))
		}
		in.Templates = dirSource{name: cfg.Templates, dir: cfg.Templates}
	}
	switch {
	case cfg.Registry == "":
		demo, err := fragments.StartDemo(log, fragments.All(fragments.DefaultRecommendationsDelay))
		if err != nil {
			return nil, err
		}
		in.Close = func() { demo.Close(context.Background()) }
		in.Registry = fixedRegistry{name: "demo registry", data: demo.Registry}
		maps.Copy(in.Mounts, demo.Mounts)
	case settings.IsSSM(cfg.Registry):
		prefix, err := ssmregistry.ParseURI(cfg.Registry)
		if err != nil {
			return nil, fmt.Errorf("%s%w", cfg.Assign("COMPOSER_REGISTRY"), err)
		}
		in.Registry = ssmregistry.NewWithOptions(clients.SSM, prefix, ssmregistry.Options{FullRefresh: cfg.RegistryFullRefresh, Refresh: cfg.Refresh, Log: log, Metrics: metrics})
	default:
		if _, err := os.Stat(cfg.Registry); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: no such file", cfg.NamedValue("COMPOSER_REGISTRY", cfg.Registry))
		}
		in.Registry = fileRegistry{path: cfg.Registry}
	}
	return in, nil
}

// RefuseBroken is the first load's rule for local sources:
// outside the development mode, a local template folder or registry file
// with problems is not served. It prints them as `composer validate` does,
// one file:line[:col]: message per line, and returns an error. With both
// a local folder and a local registry file, every fragment id of the
// templates must be in the registry, as validate -registry checks. S3 and
// Parameter Store are not checked here: a fleet keeps serving its last
// good copy (or its snapshot, or 503) while they are fixed, and entries
// may arrive in Parameter Store after the templates that use them.
func RefuseBroken(cfg *settings.Config, stderr io.Writer) error {
	if cfg.Dev {
		return nil
	}
	byPlace := map[string][]string{}
	localTemplates := cfg.Templates != "" && !settings.IsS3(cfg.Templates)
	localRegistry := cfg.Registry != "" && !settings.IsSSM(cfg.Registry)
	var slots []template.Fragment
	if localTemplates {
		var problems []string
		var err error
		_, slots, problems, err = TemplateProblems(cfg.Templates)
		if err != nil {
			problems = []string{err.Error()}
		}
		byPlace[cfg.Templates] = problems
	}
	if localRegistry {
		raws, problems := RegistryProblems(cfg.Registry)
		byPlace[cfg.Registry] = append(byPlace[cfg.Registry], problems...)
		if localTemplates {
			// Every fragment id is registered, as validate -registry checks.
			byPlace[cfg.Templates] = append(byPlace[cfg.Templates], CheckFragments(cfg.Templates, slots, raws, cfg.Registry)...)
		}
	}
	err := ProblemsError(byPlace)
	if err == nil {
		return nil
	}
	places := []string{cfg.Templates}
	if cfg.Registry != cfg.Templates { // each problem once, even when both name one path
		places = append(places, cfg.Registry)
	}
	for _, place := range places {
		for _, p := range byPlace[place] {
			fmt.Fprintln(stderr, p)
		}
	}
	return fmt.Errorf("not serving: %w (fix them, or set COMPOSER_DEV=true or -dev to serve and reload while you do)", err)
}

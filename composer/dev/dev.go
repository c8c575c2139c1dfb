// Package dev is composer dev: the server in the development mode, on
// loopback, with the template folder and the registry file watched. A save is published at
// once, by the same rules as a refresh (a broken save is refused, logged
// with its file and line, and shown on the open pages; the last good set
// keeps serving; what validate would report of the served set is shown
// too), and a page open in a browser reloads itself when its template, its
// layout or a registry entry of its fragments changes.
//
// Data flow (watch.go, serve.go, inject.go):
//
//	fsnotify (folder tree, registry file's folder) --debounce--> Sources.Refresh --> Server.check
//	Server.check --SSE /_dev/events--> devScript in the page (devInjector) --> location.reload()
package dev

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/ssr-mfe/composer/composer/registry"
	"github.com/ssr-mfe/composer/composer/settings"
	"github.com/ssr-mfe/composer/composer/sources"
	"github.com/ssr-mfe/composer/composer/template"
	"github.com/ssr-mfe/composer/fragments"
)

// devEvents is the dev-only endpoint the pages' script listens to.
const devEvents = "/_dev/events"

// devDebounce is how long the watcher waits after an event for the rest of
// a save (an editor's write, truncate and rename come as several).
const devDebounce = 20 * time.Millisecond

// devScript is the dev mode's one inline script, the same bytes in every
// page (the page's version is in an attribute, outside the hashed text),
// so that a policy allows it by its hash (ScriptHash). It listens to
// devEvents, reloads the page when told, and shows the problems it is sent
// (a refused save's, or those validate reports in the served one) in a bar
// at the foot of the page.
const devScript = `(function(){var s=document.currentScript,v=s.getAttribute("data-mfe-dev")||"",bar=null,es=new EventSource("` + devEvents + `?page="+encodeURIComponent(location.pathname)+"&v="+encodeURIComponent(v));function show(t){if(!bar){bar=document.createElement("pre");bar.setAttribute("role","alert");bar.setAttribute("data-mfe-dev-problems","");var st=bar.style;st.position="fixed";st.left="0";st.right="0";st.bottom="0";st.margin="0";st.padding="1em";st.maxHeight="40vh";st.overflow="auto";st.background="#5c0011";st.color="#fff";st.font="13px/1.4 monospace";st.whiteSpace="pre-wrap";st.zIndex="2147483647";document.documentElement.appendChild(bar)}bar.textContent=t}es.addEventListener("reload",function(){es.close();location.reload()});es.addEventListener("problems",function(e){show(e.data)});es.addEventListener("ok",function(){if(bar){bar.remove();bar=null}})})()`

// ScriptHash is the CSP source that allows the reload script the dev
// mode puts in every page.
var ScriptHash = func() string {
	sum := sha256.Sum256([]byte(devScript))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}()

// Settings are the settings of `composer dev [-templates DIR] [-registry
// FILE] [flags]`: the server's, with the dev mode's defaults (loopback,
// ./templates, -dev on) and its -override flags; nil and no error after -h.
// subcommands lists the subcommands in the usage of a bad flag.
func Settings(args []string, getenv func(string) string, stdout, stderr io.Writer, subcommands func(io.Writer)) (*settings.Config, error) {
	env := func(k string) string {
		if v := getenv(k); v != "" && k != "COMPOSER_DEV" {
			return v
		}
		switch k {
		case "COMPOSER_DEV":
			return "true"
		case "COMPOSER_ADDR":
			return "127.0.0.1:8080"
		case "COMPOSER_OVERRIDE_HOSTS":
			return "localhost,127.0.0.1,::1" // with COMPOSER_OVERRIDE_KEY: fragments on this machine
		case "COMPOSER_TEMPLATES":
			if st, err := os.Stat("templates"); err == nil && st.IsDir() {
				return "templates"
			}
		}
		return ""
	}
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			fmt.Fprintf(stdout, "usage: composer dev [-templates DIR] [-registry FILE] [-override ID=URL]... [flags]\n\n"+
				"Serves a local folder of templates in the development mode, on loopback, and watches\n"+
				"it and the registry file: each save is published at once (a broken one is refused and\n"+
				"shown), and a page open in a browser reloads itself when its template, layout or\n"+
				"registry entry changes. Without a registry file, the demo's fragments are started.\n\n"+
				"  -override ID=URL  serve fragment ID from URL (on this machine) instead of its entry's endpoint\n\n"+
				"Every server flag applies (composer -h lists them); here the defaults are\n"+
				"-templates ./templates -addr 127.0.0.1:8080 -admin-addr 127.0.0.1:9090, and -dev is on.\n")
			return nil, nil
		}
	}
	overrides, args, err := devOverrides(args)
	if err != nil {
		return nil, fmt.Errorf("dev: %w", err)
	}
	cfg, err := settings.Parse(args, env, stderr, subcommands)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil
		}
		return nil, fmt.Errorf("dev: %w", err)
	}
	switch {
	case cfg.Templates == "":
		return nil, errors.New("dev: name the template folder to watch: composer dev -templates DIR (the default, ./templates, is not here)")
	case settings.IsS3(cfg.Templates):
		return nil, fmt.Errorf("dev: -templates %s: composer dev watches a local folder", cfg.Templates)
	}
	cfg.Dev = true // serve while the folder is broken, and reload it as it is fixed
	cfg.Watch = true
	cfg.DevOut = stdout
	cfg.DevOverrides = overrides
	if len(cfg.AllowedHosts) > 0 { // fragments being written run on this machine
		cfg.AllowedHosts = append(cfg.AllowedHosts, "localhost", "127.0.0.1", "::1")
	}
	if getenv("COMPOSER_OVERRIDE_HOSTS") != "" || cfg.FlagsSet["override-hosts"] { // and so may overrides
		cfg.OverrideHosts = append(cfg.OverrideHosts, "localhost", "127.0.0.1", "::1")
	}
	if cfg.CSP == "" && cfg.Registry == "" {
		cfg.CSP = settings.DemoCSP // the demo's fragments: its strict policy, as served
	}
	return cfg, nil
}

// Inputs adapts the sources to the dev mode: the demo's static files
// when its fragments are used (the embedded demo mounts them; a folder of
// templates does not), and the -override endpoints over the registry's.
func Inputs(cfg *settings.Config, in *sources.Inputs) {
	if cfg.Registry == "" {
		if _, ok := in.Mounts["/static/*"]; !ok {
			in.Mounts["/static/*"] = fragments.Static()
		}
	}
	if len(cfg.DevOverrides) > 0 {
		in.Registry = overriddenRegistry{RegistrySource: in.Registry, endpoints: cfg.DevOverrides}
	}
}

// devOverrides takes the dev-only "-override ID=URL" flags (any number)
// out of args: a fragment served from this machine while it is written,
// in place of its registry entry's endpoint.
func devOverrides(args []string) (map[string]string, []string, error) {
	overrides := map[string]string{}
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		var v string
		switch {
		case a == "-override" || a == "--override":
			if i+1 == len(args) {
				return nil, nil, errors.New("-override wants ID=URL")
			}
			i++
			v = args[i]
		case strings.HasPrefix(a, "-override=") || strings.HasPrefix(a, "--override="):
			_, v, _ = strings.Cut(a, "=")
		default:
			rest = append(rest, a)
			continue
		}
		id, u, ok := strings.Cut(v, "=")
		if !ok || id == "" || registry.CheckEndpoint(u) != nil {
			return nil, nil, fmt.Errorf("-override %q: want ID=URL, such as product=http://127.0.0.1:3000/", registry.RedactEndpoint(v))
		}
		overrides[id] = u
	}
	return overrides, rest, nil
}

// overriddenRegistry is a registry source whose entries for some ids have
// another endpoint (their other fields kept); an id it lacks is added.
type overriddenRegistry struct {
	sources.RegistrySource
	endpoints map[string]string
}

func (o overriddenRegistry) Raws(ctx context.Context) ([]registry.Raw, error) {
	raws, err := o.RegistrySource.Raws(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for i, r := range raws {
		u, ok := o.endpoints[r.ID]
		if !ok {
			continue
		}
		seen[r.ID] = true
		var entry map[string]json.RawMessage
		if json.Unmarshal(r.Data, &entry) != nil { // a bare endpoint: replaced whole
			entry = map[string]json.RawMessage{}
		}
		entry["endpoint"], _ = json.Marshal(u)
		delete(entry, "loader") // a URL says its own kind
		raws[i].Data, _ = json.Marshal(entry)
		raws[i].From = r.From + " (endpoint from -override)"
	}
	for id, u := range o.endpoints {
		if !seen[id] {
			data, _ := json.Marshal(u)
			raws = append(raws, registry.Raw{ID: id, From: "-override " + id, Data: data})
		}
	}
	return raws, nil
}

// pageURL is where a browser finds a page of set on the listener at a:
// its first route that has no parameter (else its first route as it is
// written), or the root when no set is loaded yet. composer dev prints it.
func pageURL(a net.Addr, set *template.Set) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return ""
	}
	host := "localhost"
	if !ta.IP.IsUnspecified() && !ta.IP.IsLoopback() {
		host = ta.IP.String()
	}
	path := "/"
	if set != nil && len(set.Routes) > 0 {
		path = set.Routes[0].Pattern
		for _, r := range set.Routes {
			if !strings.ContainsAny(r.Pattern, "{*") {
				path = r.Pattern
				break
			}
		}
	}
	return fmt.Sprintf("http://%s%s", net.JoinHostPort(host, fmt.Sprint(ta.Port)), path)
}

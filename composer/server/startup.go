package server

import (
	"fmt"
	"log/slog"
	"net"
	"strings"

	"github.com/ssr-mfe/composer/composer/template"
)

// StartupAttrs say, on the start-up line, where a browser finds a page of
// set on the listener at a: the url of its first route that has no
// parameter or wildcard; else its first route as a pattern (first_route),
// not as a URL that would answer 404; with no set loaded yet, that pages
// wait for a good load.
func StartupAttrs(a net.Addr, set *template.Set) []any {
	if set == nil {
		return []any{slog.String("waiting", "for a good load of templates and registry: pages answer 503 until then")}
	}
	ta, ok := a.(*net.TCPAddr)
	if !ok || len(set.Routes) == 0 {
		return nil
	}
	host := "localhost"
	if !ta.IP.IsUnspecified() && !ta.IP.IsLoopback() {
		host = ta.IP.String()
	}
	for _, r := range set.Routes {
		if !strings.ContainsAny(r.Pattern, "{*") {
			return []any{slog.String("url", fmt.Sprintf("http://%s%s", net.JoinHostPort(host, fmt.Sprint(ta.Port)), r.Pattern))}
		}
	}
	return []any{slog.String("first_route", set.Routes[0].Pattern)}
}

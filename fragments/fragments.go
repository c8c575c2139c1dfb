// Package fragments holds the example micro-frontends of the demo
// bookshop, each an ordinary HTTP handler that a different team would own:
// header (cart badge), product, reviews (with a form), recommendations
// (slow, streamed async), notifications (client-side) and footer.
//
// StartDemo runs them on loopback ports and returns the registry that
// points the composer at them, in the registry file format.
//
// The fragments talk to each other in the browser only, through DOM
// events on window (the event bus):
//
//	mfe:cart:add  {id, title, price}  sent by product, heard by header and notifications
//	mfe:notify    {message}           heard by notifications
package fragments

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ssr-mfe/composer/fragments/kit"
)

//go:embed static
var staticFS embed.FS

//go:embed html/*.html
var htmlFS embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"stars": func(n int) string { return strings.Repeat("★", n) + strings.Repeat("☆", 5-n) },
	"date":  func(t time.Time) string { return t.Format("2 Jan 2006") },
}).ParseFS(htmlFS, "html/*.html"))

// render writes a fragment from its template. Each fragment's
// Cache-Control is declared once, in its kit.Fragment.
func render(w http.ResponseWriter, name string, data any) {
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name, data); err != nil {
		http.Error(w, "render failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(b.Bytes())
}

func bookFor(r *http.Request) (Book, bool) {
	id := kit.Param(r, "id")
	if id == "" {
		id = "1"
	}
	b, ok := books[id]
	return b, ok
}

// Header renders the site header with the cart badge.
func Header() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		render(w, "header.html", nil)
	})
}

// Product renders the product details; an unknown id is a 404, which makes
// the page a 404 (the product fragment is required).
func Product() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := bookFor(r)
		if !ok {
			http.NotFound(w, r)
			return
		}
		render(w, "product.html", b)
	})
}

// Recommendations renders books bought together with this one. It is slow
// on purpose (delay), so that the page shows streaming at work.
func Recommendations(delay time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := bookFor(r)
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		var recs []Book
		for _, id := range b.Recommended {
			recs = append(recs, books[id])
		}
		if len(recs) == 0 {
			recs = []Book{books["1"], books["2"], books["3"]}
		}
		render(w, "recommendations.html", recs)
	})
}

// Notifications renders the container for client-side toasts.
func Notifications() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		render(w, "notifications.html", nil)
	})
}

// Footer renders the site footer.
func Footer() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		render(w, "footer.html", time.Now().Year())
	})
}

type reviewsView struct {
	Book    Book
	Reviews []Review
	Average string
}

// Reviews renders a book's reviews and a form; POST /api/reviews/{id}
// adds one (JSON for the fragment's script, a redirect back without it).
func Reviews() http.Handler {
	store := newReviewStore()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		b, ok := bookFor(r)
		if !ok {
			http.NotFound(w, r)
			return
		}
		list := store.list(b.ID)
		v := reviewsView{Book: b, Reviews: list}
		if len(list) > 0 {
			sum := 0
			for _, rv := range list {
				sum += rv.Rating
			}
			v.Average = strconv.FormatFloat(float64(sum)/float64(len(list)), 'f', 1, 64)
		}
		render(w, "reviews.html", v)
	})
	mux.HandleFunc("POST /api/reviews/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if _, ok := books[id]; !ok {
			http.NotFound(w, r)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
		rv, err := parseReview(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		store.add(id, rv)
		if strings.Contains(r.Header.Get("Accept"), "application/json") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(rv)
			return
		}
		http.Redirect(w, r, "/product/"+url.PathEscape(id)+"#reviews", http.StatusSeeOther)
	})
	return mux
}

func parseReview(r *http.Request) (Review, error) {
	if err := r.ParseForm(); err != nil {
		return Review{}, errors.New("could not read the form")
	}
	name := strings.TrimSpace(r.PostForm.Get("name"))
	text := strings.TrimSpace(r.PostForm.Get("text"))
	rating, err := strconv.Atoi(r.PostForm.Get("rating"))
	switch {
	case name == "" || utf8.RuneCountInString(name) > 40:
		return Review{}, errors.New("a name of 1 to 40 characters, please")
	case text == "" || utf8.RuneCountInString(text) > 600:
		return Review{}, errors.New("a review of 1 to 600 characters, please")
	case err != nil || rating < 1 || rating > 5:
		return Review{}, errors.New("a rating from 1 to 5, please")
	}
	return Review{Name: name, Rating: rating, Text: text, At: time.Now().UTC()}, nil
}

// Switches lets a person watch streaming and fallbacks in the browser:
// ?slow=reviews (or slow=reviews:3s) delays a fragment, ?fail=reviews
// makes it fail. Both take comma-separated fragment names.
//
// While either switch is in the query, every fragment answers
// "private, no-store", whatever its own Cache-Control: the page's query
// reaches every fragment and is in the cache key, so without it the second
// load of a switched page within a fragment's max-age would come from the
// composer's fragment cache and show nothing of what the switch is for
// (the README's walkthrough promises the same on every load). Pages
// without switches keep the fragments' own caching.
func Switches(name string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("slow") != "" || q.Get("fail") != "" {
			w.Header().Set("Cache-Control", "private, no-store")
		}
		for _, f := range strings.Split(q.Get("fail"), ",") {
			if f == name {
				http.Error(w, "failing on request (?fail=)", http.StatusServiceUnavailable)
				return
			}
		}
		for _, s := range strings.Split(q.Get("slow"), ",") {
			n, d, _ := strings.Cut(s, ":")
			if n != name {
				continue
			}
			delay := 3 * time.Second
			if v, err := time.ParseDuration(d); err == nil && v > 0 && v <= 30*time.Second {
				delay = v
			}
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// Fragment is one demo fragment: the kit fragment its team ships, and the
// deadline its registry entry sets.
type Fragment struct {
	kit.Fragment
	Timeout string
}

// ReviewsFragment is the reviews fragment as its team ships it: the same
// value serves HTTP (demo, compose) and Lambda (cmd/reviews-lambda).
func ReviewsFragment() kit.Fragment {
	return kit.Fragment{
		Name: "reviews", Handler: Reviews(), CacheControl: "private, no-store",
		CSS: []string{Asset("/static/reviews/reviews.css")}, JS: []string{Asset("/static/reviews/reviews.js")},
	}
}

// All returns the demo fragments.
func All(recommendationsDelay time.Duration) []Fragment {
	return []Fragment{
		{Fragment: kit.Fragment{Name: "header", Handler: Header(), CacheControl: "public, max-age=60",
			CSS: []string{Asset("/static/header/header.css")}, JS: []string{Asset("/static/header/header.js")}}},
		{Fragment: kit.Fragment{Name: "product", Handler: Product(), CacheControl: "public, max-age=30, stale-while-revalidate=60",
			CSS: []string{Asset("/static/product/product.css")}, JS: []string{Asset("/static/product/product.js")}}},
		{Fragment: ReviewsFragment(), Timeout: "1s"},
		{Fragment: kit.Fragment{Name: "recommendations", Handler: Recommendations(recommendationsDelay), CacheControl: "public, max-age=120",
			CSS: []string{Asset("/static/recommendations/recommendations.css")}}, Timeout: "3s"},
		{Fragment: kit.Fragment{Name: "notifications", Handler: Notifications(), CacheControl: "public, max-age=3600",
			CSS: []string{Asset("/static/notifications/notifications.css")}, JS: []string{Asset("/static/notifications/notifications.js")}}},
		{Fragment: kit.Fragment{Name: "footer", Handler: Footer(), CacheControl: "public, max-age=3600",
			CSS: []string{Asset("/static/footer/footer.css")}}},
	}
}

// entry is the fragment's registry entry at endpoint.
func (f Fragment) entry(endpoint string) map[string]any {
	var e map[string]any
	_ = json.Unmarshal(f.Entry(endpoint), &e)
	if f.Timeout != "" {
		e["timeout"] = f.Timeout
	}
	return e
}

// Demo is the set of demo fragments running on loopback.
type Demo struct {
	// Registry is the registry file content pointing at the fragments.
	Registry []byte
	// Mounts are handlers the composer serves beside the pages: /static/*
	// and the reviews API (/api/reviews/*), as a CDN would route them.
	Mounts  map[string]http.Handler
	servers []*http.Server
}

// DefaultRecommendationsDelay is how slow the demo's recommendations are.
const DefaultRecommendationsDelay = 800 * time.Millisecond

// StartDemo starts every fragment of frags on its own loopback port.
func StartDemo(log *slog.Logger, frags []Fragment) (*Demo, error) {
	d := &Demo{Mounts: map[string]http.Handler{"/static/*": Static()}}
	reg := map[string]any{}
	for _, f := range frags {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			d.Close(context.Background())
			return nil, fmt.Errorf("start demo fragment %s: %w", f.Name, err)
		}
		srv := &http.Server{Handler: Switches(f.Name, f.HTTP()), ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		d.servers = append(d.servers, srv)
		go func() { _ = srv.Serve(l) }()
		base := "http://" + l.Addr().String()
		reg[f.Name] = f.entry(base + "/")
		if f.Name == "reviews" {
			target, _ := url.Parse(base)
			rp := httputil.NewSingleHostReverseProxy(target)
			rp.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
			d.Mounts["/api/reviews/*"] = rp
		}
	}
	var err error
	d.Registry, err = json.MarshalIndent(reg, "", "  ")
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Close stops the fragment servers, letting requests in flight finish
// until ctx ends.
func (d *Demo) Close(ctx context.Context) {
	for _, s := range d.servers {
		if err := s.Shutdown(ctx); err != nil {
			_ = s.Close()
		}
	}
}

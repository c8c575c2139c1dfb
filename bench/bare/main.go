// Command bare is a measuring stick, not a product: the least a Go
// composer built on net/http's server can do for the harness's pages, so
// that the harness can show what the language's runtime and net/http cost
// before any of the composer's own work (no guard, no cache, no breaker,
// no timeouts, no isolation, no logs). It reads the harness's composer
// configuration (COMPOSER_ADDR, COMPOSER_TEMPLATES, COMPOSER_REGISTRY) and
// serves each route's template with its <micro-frontend id="..."/> slots
// filled from kept loopback connections, flushing before each wait.
//
// BARE_MODE picks how a page waits for its fragments:
//
//	inline      the page's own goroutine writes every request, then reads
//	            the answers in the page's order: no goroutine a fragment
//	            (the leanest a net/http server allows)
//	goroutines  one goroutine a fragment request waits for its answer's
//	            head, as the composer does
package main

import (
	"bufio"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	_ "net/http/pprof"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sync"
)

func main() {
	mux := load(os.Getenv("COMPOSER_TEMPLATES"), os.Getenv("COMPOSER_REGISTRY"), os.Getenv("BARE_MODE") != "goroutines")
	if a := os.Getenv("COMPOSER_DEBUG_ADDR"); a != "" {
		go func() { log.Print(http.ListenAndServe(a, nil)) }()
	}
	log.Fatal(http.ListenAndServe(os.Getenv("COMPOSER_ADDR"), mux))
}

// load reads the routes (dir/routes.json), their templates and the
// registry, and serves them.
func load(dir, registry string, inline bool) *http.ServeMux {
	var routes map[string]string
	readJSON(filepath.Join(dir, "routes.json"), &routes)
	var reg map[string]json.RawMessage
	readJSON(registry, &reg)
	endpoints := map[string]*url.URL{}
	for id, raw := range reg {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			var e struct{ Endpoint string }
			check(json.Unmarshal(raw, &e))
			s = e.Endpoint
		}
		u, err := url.Parse(s)
		check(err)
		endpoints[id] = u
	}
	mux := http.NewServeMux()
	for route, file := range routes {
		b, err := os.ReadFile(filepath.Join(dir, file))
		check(err)
		p := parse(string(b), endpoints)
		mux.HandleFunc("GET "+route, func(w http.ResponseWriter, r *http.Request) { p.serve(w, inline) })
	}
	return mux
}

type page struct {
	static []string // static[i] comes before slot i; the last after every slot
	slots  []*url.URL
}

var slotRe = regexp.MustCompile(`<micro-frontend id="([^"]+)"/>`)

func parse(t string, endpoints map[string]*url.URL) *page {
	p := &page{}
	last, static := 0, ""
	for _, m := range slotRe.FindAllStringSubmatchIndex(t, -1) {
		static += t[last:m[0]]
		last = m[1]
		if u := endpoints[t[m[2]:m[3]]]; u != nil { // not registered: the slot stays empty
			p.static = append(p.static, static)
			p.slots = append(p.slots, u)
			static = ""
		}
	}
	p.static = append(p.static, static+t[last:])
	return p
}

// answer is one fragment's answer, or why there is none.
type answer struct {
	pc   *conn
	resp *http.Response
	err  error
	done chan struct{}
}

func (p *page) serve(w http.ResponseWriter, inline bool) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	answers := make([]answer, len(p.slots))
	for i, u := range p.slots {
		a := &answers[i]
		a.pc, a.err = send(u)
		if a.err == nil && !inline {
			a.done = make(chan struct{})
			go func() { a.resp, a.err = a.pc.head(); close(a.done) }()
		}
	}
	f := w.(http.Flusher)
	buf := buffers.Get().(*[]byte)
	defer buffers.Put(buf)
	for i := range p.slots {
		io.WriteString(w, p.static[i])
		a := &answers[i]
		switch {
		case a.done != nil: // its own goroutine reads the head
			f.Flush()
			<-a.done
		case a.err == nil:
			f.Flush()
			a.resp, a.err = a.pc.head()
		}
		if a.err != nil {
			continue
		}
		_, err := io.CopyBuffer(w, a.resp.Body, *buf)
		a.resp.Body.Close()
		a.pc.done(err == nil && !a.resp.Close)
	}
	io.WriteString(w, p.static[len(p.slots)])
}

var buffers = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// conn is a kept connection to a fragment server.
type conn struct {
	c    net.Conn
	br   *bufio.Reader
	host string
}

var (
	mu   sync.Mutex
	idle = map[string][]*conn{}
)

const maxIdle = 1024

func send(u *url.URL) (*conn, error) {
	mu.Lock()
	var pc *conn
	if l := idle[u.Host]; len(l) > 0 {
		pc = l[len(l)-1]
		idle[u.Host] = l[:len(l)-1]
	}
	mu.Unlock()
	if pc == nil {
		c, err := net.Dial("tcp", u.Host)
		if err != nil {
			return nil, err
		}
		pc = &conn{c: c, host: u.Host}
	}
	if _, err := io.WriteString(pc.c, "GET "+u.RequestURI()+" HTTP/1.1\r\nHost: "+u.Host+"\r\n\r\n"); err != nil {
		pc.c.Close()
		return nil, err
	}
	return pc, nil
}

func (pc *conn) head() (*http.Response, error) {
	pc.br = readers.Get().(*bufio.Reader)
	pc.br.Reset(pc.c)
	resp, err := http.ReadResponse(pc.br, nil)
	if err != nil {
		pc.done(false)
	}
	return resp, err
}

var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}

func (pc *conn) done(keep bool) {
	if pc.br != nil {
		pc.br.Reset(nil)
		readers.Put(pc.br)
		pc.br = nil
	}
	if !keep {
		pc.c.Close()
		return
	}
	mu.Lock()
	if len(idle[pc.host]) < maxIdle {
		idle[pc.host] = append(idle[pc.host], pc)
		pc = nil
	}
	mu.Unlock()
	if pc != nil {
		pc.c.Close()
	}
}

func readJSON(path string, v any) {
	b, err := os.ReadFile(path)
	check(err)
	check(json.Unmarshal(b, v))
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

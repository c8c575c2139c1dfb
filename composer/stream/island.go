package stream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ssr-mfe/composer/composer/htmlguard"
	"github.com/ssr-mfe/composer/composer/island"
	"github.com/ssr-mfe/composer/composer/template"
)

// Islands: a client slot (template attribute client) is written as its
// fallback inside <mfe-island data-src="signed URL">, followed by
// islandScript. The page is composed, and its Cache-Control folded, as if
// the slot were static. In the browser the script fetches the island
// (ServeIsland: the slot's fragment, through the same guard, Link
// handling and script handling as a server-side slot, as JSON) and puts
// it in place. A slot with client-fallback is written the same way when
// its server-side fetch fails.

// Defaults for the island URL's life (island.Lifetime).
const (
	// DefaultIslandMinLife is the shortest life of an island URL: a page
	// no cache keeps is still parsed, and its islands fetched, a moment
	// after it is written (a slow connection, a tab restored).
	DefaultIslandMinLife = 10 * time.Minute
	// DefaultIslandSkew is the clocks' margin added to every island URL's
	// life.
	DefaultIslandSkew = 5 * time.Minute
)

// islandScript is the constant script after each island: it fetches the
// island its <mfe-island> names (only a path under island.Path, on the
// page's own origin), and replaces the element with the answer: the
// fragment's stylesheets and preloads (those the page has not got yet),
// its guarded markup, then its scripts (likewise). The markup is parsed
// with Range.createContextualFragment, whose scripts run once inserted,
// as the async mover's do: the guard wrote every fragment script inert,
// and only the activator after a vouched one makes it live (package
// inert). On any failure the fallback stays. Like the mover, it reaches
// the DOM only through the prototypes, which markup cannot clobber.
const islandScript = `(function(d,w){var D=Document.prototype,E=Element.prototype,g=function(o,k){return Object.getOwnPropertyDescriptor(o,k).get},s=g(D,"currentScript").call(d);if(!s)return;var p=g(E,"previousElementSibling").call(s);E.remove.call(s);if(!p||g(E,"tagName").call(p)!=="MFE-ISLAND")return;var u=E.getAttribute.call(p,"data-src")||"";if(!/^\/_mfe\/island\?[^\\#]*$/.test(u))return;var L=g(E,"localName"),A=function(e,k){return E.getAttribute.call(e,k)},rel=function(e){return(A(e,"rel")||"").toLowerCase()},NL=NodeList.prototype,NX=g(E,"nextElementSibling"),have=function(e){var n=L.call(e),k=n==="link"?"href":"src",v=A(e,k);if(v===null)return false;var all=D.querySelectorAll.call(d,n),c=g(NL,"length").call(all);for(var i=0;c>i;i++){var o=NL.item.call(all,i);if(A(o,k)===v&&(n!=="link"||rel(o)===rel(e)))return true}return false},once=function(f){var e=g(DocumentFragment.prototype,"firstElementChild").call(f);while(e){var x=NX.call(e),n=L.call(e);if((n==="link"||n==="script"&&A(e,"src")!==null)&&have(e)){E.remove.call(e);if(n==="script"&&x&&L.call(x)==="script"&&A(x,"src")===null){var y=NX.call(x);E.remove.call(x);x=y}}e=x}return f};w.fetch(u,{credentials:"same-origin",headers:{Accept:"application/json"},redirect:"error"}).then(function(r){if(!r.ok)throw 0;return r.json()}).then(function(a){if(!a||typeof a.html!=="string"||typeof a.head!=="string"||typeof a.tail!=="string")return;var P=g(Node.prototype,"parentNode").call(p);if(!P)return;var R=D.createRange.call(d);Range.prototype.selectNodeContents.call(R,P);var f=function(t){return Range.prototype.createContextualFragment.call(R,t)};var h=once(f(a.head)),b=f(a.html),t=once(f(a.tail));E.replaceWith.call(p,h,b,t)})["catch"](function(){})})(document,window)`

// islandHash is the CSP source that allows islandScript.
var islandHash = func() string {
	sum := sha256.Sum256([]byte(islandScript))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}()

// Island is one island request, verified: the page's template and the
// slot, and what the page's request gave the slot.
type Island struct {
	Template *template.Template
	Slot     int
	// Path is the page's escaped path, Params its route parameters and
	// Query the page query its fragments got (all signed).
	Path   string
	Params map[string]string
	Query  string
	// RequestID goes to the fragment as X-Request-Id.
	RequestID string
}

// IslandAnswer is the body of an island answer (JSON): the elements to
// put before the content (stylesheets, preloads), the guarded content,
// and the scripts after it. The browser drops the assets the page already
// has: each appears once per page.
type IslandAnswer struct {
	Head string `json:"head"`
	HTML string `json:"html"`
	Tail string `json:"tail"`
}

// IslandHeaders are the headers of every island answer, refusals
// included: a type no browser renders as a document, not to be sniffed,
// not to be read by another origin, and a sandbox with nothing allowed
// should a browser show it anyway; a browser that navigates to it saves
// it instead of showing it.
func IslandHeaders(h http.Header) {
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	h.Set("Content-Disposition", `attachment; filename="island.json"`)
}

// ServeIsland fetches island is's fragment as its slot would have been
// fetched server-side (headers by the entry's forwardHeaders, overrides,
// canary versions) and writes it as an IslandAnswer, guarded as a page's
// slot is. Its Cache-Control follows the page's rules for one slot;
// under an override or the debug view it is private, no-store. A failed
// fragment gets 502 (504 on a timeout), never stored: the page keeps the
// slot's fallback.
func (c *Composer) ServeIsland(w http.ResponseWriter, r *http.Request, is *Island) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	h := w.Header()
	IslandHeaders(h)
	// The page's request as the slot saw it: its path and query.
	pr := r.Clone(ctx)
	pr.URL = &url.URL{Path: is.Path, RawQuery: is.Query}
	if p, err := url.PathUnescape(is.Path); err == nil {
		pr.URL.Path, pr.URL.RawPath = p, is.Path
	}
	page := &Page{Template: is.Template, Params: is.Params, RequestID: is.RequestID}
	mode := newPageMode(r) // the island request's own token and _debug
	var canary canaryState
	slots := make([]slot, 1)
	s := &slots[0]
	req := c.prepare(pr, page, is.Slot, s, &mode, &canary, is.Query, nil)
	if req == nil {
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	s.req, s.known = req, true
	// No chunks: read whole, as an async slot's.
	c.fetch(ctx, s, req)
	var buf bytes.Buffer
	pw := &pageWriter{w: &bufferWriter{h: http.Header{}, b: &buf}, c: c, page: page, slots: slots, requestID: is.RequestID, canary: &canary, mode: mode}
	mode.writeHeaders(h)
	canary.writeHeaders(h)
	err := s.headFailure()
	if err == nil {
		err = s.bodyErr
	}
	if err != nil {
		pw.logFailure(s, err)
		h.Set("Cache-Control", "no-store")
		status := http.StatusBadGateway
		if errors.Is(err, context.DeadlineExceeded) {
			status = http.StatusGatewayTimeout
		}
		w.WriteHeader(status)
		return
	}
	var a IslandAnswer
	pw.writeLinks(s.header)
	pw.handOver()
	a.Head = buf.String()
	buf.Reset()
	pw.debugBegin(s)
	pw.writeGuarded(s)
	pw.debugEnd(s)
	pw.handOver()
	a.HTML = buf.String()
	buf.Reset()
	pw.writeLinkScripts(s.header)
	pw.handOver()
	a.Tail = buf.String()
	// As on a page (pageWriter.start): an override or the debug view
	// first, then a canary version chosen (its Cache-Control is private
	// and it varies on its cookie), else the rules for the one slot.
	if mode.personal() {
		h.Set("Cache-Control", personalCacheControl)
	}
	if h.Get("Cache-Control") == "" {
		cc, vary := pw.cacheControl(len(h["Set-Cookie"]) > 0)
		h.Set("Cache-Control", cc)
		if strings.HasPrefix(cc, "public") {
			// A shared cache would hand this request's id, which the
			// visitor may have chosen, to everyone.
			h.Del("X-Request-Id")
		}
		if len(vary) > 0 {
			h.Add("Vary", strings.Join(vary, ", "))
		}
	}
	body, _ := json.Marshal(a) // strings only: cannot fail
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// bufferWriter is the ResponseWriter an island's parts are written to.
type bufferWriter struct {
	h http.Header
	b *bytes.Buffer
}

func (w *bufferWriter) Header() http.Header         { return w.h }
func (w *bufferWriter) Write(p []byte) (int, error) { return w.b.Write(p) }
func (w *bufferWriter) WriteHeader(int)             {}

// writeFallback writes a failed slot's fallback: as an island the browser
// tries once when the slot says client-fallback (and the id is
// registered), else as it is.
func (pw *pageWriter) writeFallback(s *slot) {
	if s.frag.ClientFallback && s.req != nil {
		pw.writeIsland(s)
		return
	}
	pw.write(s.frag.Fallback)
}

// writeGuarded writes a whole (async or island) slot's body through the
// HTML guard, its scripts as its answer vouches for them.
func (pw *pageWriter) writeGuarded(s *slot) {
	g := htmlguard.Guard{Reserved: pw.page.Template.IDs, Scripts: s.scripts()}
	g.Write(s.body, pw.emit())
	g.Close(pw.emit())
}

// writeIsland writes slot s as the browser's to fill: its fallback in an
// <mfe-island> that names the signed island request, and islandScript.
// Without island keys, only the fallback. The URL lives as long as any
// cache may hand out the page (island.Lifetime of its Cache-Control).
func (pw *pageWriter) writeIsland(s *slot) {
	ring := pw.c.Islands
	if ring == nil || s.entry.Endpoint == "" && len(s.entry.Versions) == 0 {
		pw.write(s.frag.Fallback)
		return
	}
	minLife, skew := pw.c.IslandMinLife, pw.c.IslandSkew
	if minLife <= 0 {
		minLife = DefaultIslandMinLife
	}
	if skew <= 0 {
		skew = DefaultIslandSkew
	}
	life := island.Lifetime(pw.w.Header().Get("Cache-Control"), minLife, skew)
	path := "/"
	if pw.pageURL != nil && pw.pageURL.Path != "" {
		path = pw.pageURL.EscapedPath()
	}
	u := ring.URL(island.Claims{
		Fragment: s.frag.ID,
		Template: pw.page.Template.Name,
		Slot:     s.index,
		Path:     path,
		Params:   pw.page.Params,
		Query:    pw.rawQuery,
		Expires:  time.Now().Add(life),
	})
	if pw.mode.asked {
		// Never signed: the island request's own token decides, as a
		// page's does.
		u += "&" + DebugParam + "=1"
	}
	pw.write([]byte(`<mfe-island data-fragment="` + html.EscapeString(s.frag.ID) + `" data-src="` + html.EscapeString(u) + `">`))
	pw.write(s.frag.Fallback)
	pw.write([]byte(`</mfe-island><script>` + islandScript + `</script>`))
}

package stream

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/override"
)

// This file is what a signed override token (package override) changes in
// a page: the fragments it points elsewhere, and the debug view.
// docs/fragment-teams.md is the guide.

// Names of the page's query parameter and response headers.
const (
	// DebugParam in a page's query asks for the debug view: "_debug=1"
	// shows it when the request's token allows it (Token.Debug). Whatever
	// its value, and whoever asks, it never reaches a fragment and the
	// page is never stored by any cache, so that a CDN cannot answer a
	// developer's "?_debug=1" with a copy it holds.
	DebugParam = "_debug"
	// OverriddenHeader, on a page built with overrides, lists the ids of
	// the fragments that were overridden (each URL-query-escaped, ", "
	// between them).
	OverriddenHeader = "Mfe-Overridden"
	// DebugHeader is "on" on a page in the debug view.
	DebugHeader = "Mfe-Debug"
	// OverrideVersion is the version an overridden slot is observed,
	// traced and logged as: no canary version is chosen for it.
	OverrideVersion = "override"
	// personalCacheControl is the Cache-Control of a page built with an
	// override, in the debug view, or asked with DebugParam: no cache
	// keeps it, shared or the browser's own.
	personalCacheControl = "private, no-store"
)

// BreakerStates tells a fragment version's circuit breaker state (package
// breaker's Transport): the debug view shows it.
type BreakerStates interface {
	State(fragment, version string) gobreaker.State
}

// debugQuery reads the page's raw query: asked is true when a parameter
// reads as DebugParam (paramName: as the laxest framework would read
// it), on when one is exactly "_debug=1".
func debugQuery(raw string) (asked, on bool) {
	if raw == "" {
		return false, false
	}
	for pair := range strings.SplitSeq(raw, "&") {
		k, v, _ := strings.Cut(pair, "=")
		k, err1 := url.QueryUnescape(k)
		v, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil || paramName(k) != DebugParam {
			continue
		}
		asked = true
		if k == DebugParam && v == "1" {
			on = true
		}
	}
	return asked, on
}

// pageMode is what a request's token and query change in its page.
type pageMode struct {
	token      *override.Token
	overridden []string // ids of the slots overridden, in slot order, each once
	debug      bool     // the debug view
	asked      bool     // the query has DebugParam
}

func newPageMode(r *http.Request) pageMode {
	m := pageMode{token: override.FromContext(r.Context())}
	m.asked, m.debug = debugQuery(r.URL.RawQuery)
	m.debug = m.debug && m.token != nil && m.token.Debug
	return m
}

// override returns the endpoint that replaces the slot's, if the token
// has one for its id, and notes the id.
func (m *pageMode) override(id string) (string, bool) {
	u, ok := m.token.Endpoint(id)
	if ok && !slices.Contains(m.overridden, id) {
		m.overridden = append(m.overridden, id)
	}
	return u, ok
}

// personal reports whether the page is one visitor's: no cache may keep it.
func (m *pageMode) personal() bool {
	return len(m.overridden) > 0 || m.debug || m.asked
}

// writeHeaders sets what the mode changes in the page's header: set
// before the status is chosen, so that error pages and redirects carry it
// too (they are never stored anyway).
func (m *pageMode) writeHeaders(h http.Header) {
	if len(m.overridden) > 0 {
		ids := make([]string, len(m.overridden))
		for i, id := range m.overridden {
			ids[i] = url.QueryEscape(id)
		}
		h.Set(OverriddenHeader, strings.Join(ids, ", "))
	}
	if m.debug {
		h.Set(DebugHeader, "on")
	}
}

// slotDebug is what the debug view shows of one slot, besides its status
// and outcome. The fetching goroutine writes it before it closes ready
// (headers) and before the body's end is signalled (lastByte).
type slotDebug struct {
	headers, lastByte time.Duration // since the fragment request started
	cache             string        // fetch.Response.Cache
}

// answered records the time to the answer's header (or to the failure
// before it) and what the cache served it from. s.dbg may be nil.
func (s *slot) answered(resp *fetch.Response) {
	if s.dbg != nil {
		s.answeredAfter(resp, time.Since(s.started))
	}
}

// answeredAfter is answered for an answer that came took after the
// fragment's start (a slot read inline may read it later than it came).
func (s *slot) answeredAfter(resp *fetch.Response, took time.Duration) {
	if s.dbg == nil {
		return
	}
	s.dbg.headers = took
	s.dbg.lastByte = took
	if resp != nil {
		s.dbg.cache = resp.Cache
	}
}

// bodyEnded records the time to the body's last byte, as the composer
// read it (a fragment that waits its turn in the page reads ahead only
// QueueChunks chunks, so this may include the time the page took to
// reach it).
func (s *slot) bodyEnded() {
	s.bodyEndedAfter(time.Since(s.started))
}

// bodyEndedAfter is bodyEnded for a body whose fragment's own time was
// took (a slot read inline: to its answer, and its reads that waited).
func (s *slot) bodyEndedAfter(took time.Duration) {
	if s.dbg != nil {
		s.dbg.lastByte = took
	}
}

// commentValue makes v safe inside an HTML comment and between the
// comment's spaces: anything but letters, digits and ._:/@+=- becomes _,
// and "--" cannot occur, so neither can "-->" nor "--!>".
func commentValue(v string) string {
	if v == "" {
		return "-"
	}
	b := []byte(v)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("._:/@+=-", c) >= 0:
			if c == '-' && i > 0 && b[i-1] == '-' {
				b[i] = '_'
			}
		default:
			b[i] = '_'
		}
	}
	return string(b)
}

func millis(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64) + "ms"
}

// debugBegin writes the comment before a slot's content.
func (pw *pageWriter) debugBegin(s *slot) {
	if !pw.mode.debug {
		return
	}
	kind := "none"
	if s.req != nil {
		kind = fetch.Kind(s.req.Endpoint, s.req.Loader)
	}
	pw.write(fmt.Appendf(nil, "<!-- mfe:begin id=%s version=%s kind=%s -->", commentValue(s.frag.ID), commentValue(s.version), commentValue(kind)))
}

// debugEnd writes the comment after a slot's content: its fetch is done.
func (pw *pageWriter) debugEnd(s *slot) {
	if !pw.mode.debug {
		return
	}
	status, cacheResult, breakerState, headers, lastByte := "-", "none", "none", "-", "-"
	if s.req != nil {
		if s.err == nil {
			status = strconv.Itoa(s.status)
		}
		if s.dbg != nil {
			if s.dbg.cache != "" {
				cacheResult = s.dbg.cache
			}
			headers, lastByte = millis(s.dbg.headers), millis(s.dbg.lastByte)
		}
		if pw.c.Breakers != nil && !s.req.Override {
			breakerState = pw.c.Breakers.State(s.frag.ID, s.version).String()
		}
	}
	pw.write(fmt.Appendf(nil, "<!-- mfe:end id=%s status=%s outcome=%s cache=%s breaker=%s headers=%s last-byte=%s -->",
		commentValue(s.frag.ID), status, commentValue(s.outcome()), commentValue(cacheResult), commentValue(breakerState), headers, lastByte))
}

// writeOverlay writes the overlay script once, on a debug page.
func (pw *pageWriter) writeOverlay() {
	if !pw.mode.debug || pw.overlayWritten {
		return
	}
	pw.overlayWritten = true
	pw.write([]byte(`<script>` + overlayScript + `</script>`))
}

// overlayScript draws the debug view's overlay: once the document is
// parsed (async fragments moved into place), it pairs the mfe:begin and
// mfe:end comments, and on hovering an element between a pair outlines
// the pair's extent and shows its figures in a label. It sets styles
// through the CSSOM and text through textContent, which a strict CSP
// allows; it asks nothing of the network. Constant, it is allowed by its
// hash (ScriptHashes). It reaches the document through the prototypes, as
// moverScript does, so that fragments' named elements cannot stand in.
const overlayScript = `(function(d){var D=Document.prototype,N=Node.prototype,T=EventTarget.prototype,g=function(o,k){return Object.getOwnPropertyDescriptor(o,k).get},on=function(o,e,f){T.addEventListener.call(o,e,f)};function run(){var root=g(D,"documentElement").call(d),host=g(D,"body").call(d)||root,w=D.createTreeWalker.call(d,root,128),st=[],ps=[],n;while(n=w.nextNode()){var t=n.data.trim();if(t.slice(0,10)==="mfe:begin ")st.push([n,t.slice(10)]);else if(t.slice(0,8)==="mfe:end "&&st.length){var b=st.pop();ps.push([b[0],n,b[1]+" "+t.slice(8).replace(/^id=\S* /,"")])}}if(!ps.length)return;var box=D.createElement.call(d,"div"),lab=D.createElement.call(d,"div"),s=box.style;box.id="mfe-debug-outline";lab.id="mfe-debug-label";s.position="absolute";s.pointerEvents="none";s.outline="2px solid #c0f";s.zIndex="2147483646";s.display="none";s=lab.style;s.position="absolute";s.pointerEvents="none";s.zIndex="2147483647";s.display="none";s.background="#222";s.color="#fff";s.font="12px/1.4 monospace";s.padding="2px 6px";s.whiteSpace="pre";N.appendChild.call(host,box);N.appendChild.call(host,lab);var hide=function(){box.style.display="none";lab.style.display="none"};ps.forEach(function(p){var r=D.createRange.call(d),txt=p[2].split(" ").join("\n");r.setStartAfter(p[0]);r.setEndBefore(p[1]);var show=function(){var b=r.getBoundingClientRect(),x=window.scrollX,y=window.scrollY,s=box.style;s.left=b.left+x+"px";s.top=b.top+y+"px";s.width=b.width+"px";s.height=b.height+"px";s.display="block";lab.textContent=txt;s=lab.style;s.left=b.left+x+"px";s.top=b.bottom+y+"px";s.display="block"};for(var e=p[0].nextSibling;e&&e!==p[1];e=e.nextSibling)if(e.nodeType===1){on(e,"mouseenter",show);on(e,"mouseleave",hide)}})}if(g(D,"readyState").call(d)==="loading")on(d,"DOMContentLoaded",run);else run()})(document)`

package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// A fragment whose Cache-Control does not parse (a stray quote hides its
// "private") is personal as far as anyone can tell: the page is never
// public, and the second visitor gets a fragment of their own, not the
// first one's from the composer's cache.
func TestMalformedCacheControlIsNeverShared(t *testing.T) {
	var answers atomic.Int32
	frag := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := answers.Add(1)
		w.Header().Set("Cache-Control", `max-age=60, x=a"b, private`)
		fmt.Fprintf(w, "<b>basket of visitor %d</b>", n)
	}))
	defer frag.Close()
	inst := start(t, onePageSite(t, `<p>before</p><micro-frontend id="f"/>`, frag.URL))
	for visitor := 1; visitor <= 3; visitor++ {
		resp, err := http.Get(inst.base + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if cc := resp.Header.Get("Cache-Control"); strings.Contains(cc, "public") || strings.Contains(cc, "s-maxage") {
			t.Errorf("visitor %d: page Cache-Control %q, want neither public nor s-maxage", visitor, cc)
		}
		if want := fmt.Sprintf("basket of visitor %d<", visitor); !strings.Contains(string(body), want) {
			t.Errorf("visitor %d got %q, want their own (%s)", visitor, body, want)
		}
	}
}

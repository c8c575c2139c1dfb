package template

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A compiled template knows the ids its own markup (its layout's
// included) gives elements: the stream writer hands them to each
// fragment's HTML guard, which keeps a fragment from taking one or
// pointing at one (issue 25, item 5). Ids as the browser reads them:
// character references decoded, case kept; not in scripts, comments or
// fallbacks (a fallback stands in for its fragment, and may carry the
// fragment's own ids). A <map>'s name is looked up as an id is (by an
// image's usemap; a leading '#' cut off), so it is listed too.
func TestTemplateIDs(t *testing.T) {
	t.Parallel()
	set, err := buildSet(t, map[string]string{
		"shell.html": `<!doctype html><html><head><title>t</title></head><body>
<header id="top"><button popovertarget="menu">menu</button><div id=menu popover>...</div></header>
<mfe-region name="main"><p id="default-only">nothing yet</p></mfe-region>
<dialog ID="Confirm"></dialog><svg><symbol id="icon-star"></symbol></svg>
</body></html>`,
		"page.html": `<mfe-layout src="shell.html"><mfe-region name="main">
<form id='checkout'><input type=checkbox id=terms><label for=terms>ok</label></form>
<input form="checkout" name="csrf" id="a&amp;b">
<micro-frontend id="basket"><div id="basket-fallback">fallback</div></micro-frontend>
<script>document.body.insertAdjacentHTML("beforeend", '<div id="from-script"></div>')</script>
<!-- <div id="commented"></div> -->
<textarea><div id="in-textarea"></div></textarea>
<template><p id="in-template"></p></template>
<p id="">empty</p><p id=" spaced ">s</p>
<img usemap="#pm" src="/x.png" alt="x"><map name="pm"><area shape=default href="/a" alt="a"></map><map name="#hm"></map><map name=""></map>
<input name="q"><iframe name="frame"></iframe>
</mfe-region></mfe-layout>`,
		"plain.html": `<p>no ids<micro-frontend id="x"/></p>`,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{
		"top": true, "menu": true, "Confirm": true, "icon-star": true,
		"checkout": true, "terms": true, "a&b": true, "in-template": true, " spaced ": true,
		"pm": true, "hm": true,
	}
	if diff := cmp.Diff(want, set.Templates["page.html"].IDs); diff != "" {
		t.Errorf("page.html ids (-want +got):\n%s", diff)
	}
	shell := set.Templates["shell.html"].IDs
	if !shell["default-only"] || !shell["top"] || shell["checkout"] {
		t.Errorf("shell.html ids: %v, want its own with its region's default", shell)
	}
	if ids := set.Templates["plain.html"].IDs; len(ids) != 0 {
		t.Errorf("plain.html ids: %v, want none (nil: the guard's cost is then nil too)", ids)
	}
}

package htmlguard

import (
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
)

// soupTokens are pieces of markup that interact in the parser: tags of
// every kind the tree builder treats apart, comment and script forms,
// foreign content, quotes.
var soupTokens = fieldsUnquoted(`<div> </div> <p> </p> <b> </b> <i> </i> <a> </a> <a href=x> <nobr> </nobr>
<table> </table> <tr> </tr> <td> </td> <th> <tbody> </tbody> <thead> <caption> </caption> <colgroup> </colgroup> <col>
<select> </select> <option> </option> <optgroup> </optgroup> <form> </form> <input> <input type=hidden> <textarea> </textarea>
<template> </template> <svg> </svg> <math> </math> <foreignObject> </foreignObject> <desc> <mi> </mi> <mtext>
<annotation-xml> <annotation-xml encoding=text/html> </annotation-xml> <style> </style> <script> </script> <title> </title>
<xmp> </xmp> <iframe> </iframe> <noscript> </noscript> <noembed> <noframes> <plaintext> <li> </li> <ul> </ul> <ol> <dd> <dt> <dl>
<h1> </h1> <h2> <button> </button> <font> <font color=red> </font> <br> </br> <hr> <image> <img> <object> </object> <applet> <marquee>
<ruby> <rb> <rt> <rp> <rtc> <html> <body> </body> </html> <head> <frameset> <frame> <base> <meta> <link> <span> </span> <em> </em>
<u> <s> <code> <pre> </pre> <listing> <center> <main> <center> <![CDATA[ ]]> <!-- --> <!--> <!---> --!> <!-x> <? <!doctype> </ < >
" ' = / x text &amp; &lt <path/> <g> </g> <svg/> <div/> <script><!--<script> <!--<script> </script</script > </script x=">">
<DIV> <SVG> <foreignobject> <mglyph> <malignmark> <search> <dialog> <details> <summary> <menu> <dir> <hgroup> <keygen> <wbr>
<param> <source> <embed> <area> <basefont> <big> <tt> <strike> <isindex> <tfoot> </tfoot> </th> <h3> </h2> </li> </dd> </dt> </form>
</caption> </colgroup> </td> </optgroup> </option> </select> </template> </object> </applet> </marquee> </nobr> </ruby> </rb>
</rt> </rp> </rtc> </mtext> </desc> </foreignobject> </math> </svg> </button> </label> <label> </a> </b>
<textarea>x</textarea > <title>x</title/> <style>x</style x> <a\x00b> \r\n \x00 <![CDATA[x]]> <!-- -- --> <!--a--!>
<div/id=x> <p/ID='x'> <label/for=x> <output/for="y&#32;x"> <button/popovertarget=&#120;> <button/commandfor=x/> <td/headers="x"> <img/usemap=#x> <set/href=#x/> <animate/xlink:href=#x> <div/aria-describedby="x"> <input/list=x> <a/id=y>
<set/href="&#32;#x"/> <animate/href="#x&#9;"> <set/href=/p#x/> <discard/xlink:href=#%78/> <set/href=#y/> <img/usemap=p#x> <img/usemap=" #x">
<map/name=x> <map/NAME=#x> <map/id=x> <map/name=y> <a/href=x> <a/href=#x> <a/href="&#32;#x">
<template/shadowrootmode=open> <TEMPLATE/ShadowRootMode=closed/shadowrootdelegatesfocus> <template/shadowroot=open>
<svg><title> <math><mi> <math><annotation-xml><svg> <svg><foreignObject><div> <table><tr><td> <select><option>`)

// soupIDs are the page's ids for the soup with reserved ids.
var soupIDs = map[string]bool{"x": true, "slot": true, "after": true}

func TestGuardRandomSoup(t *testing.T) {
	t.Parallel()
	n := 3000
	if s := os.Getenv("SOUP"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	seed := uint64(12)
	if s := os.Getenv("SOUPSEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	r := rand.New(rand.NewPCG(seed, seed))
	failures := 0
	for range n {
		var b strings.Builder
		for range 1 + r.IntN(40) {
			if r.IntN(4) == 0 {
				b.WriteString(soupTag(r))
			} else {
				b.WriteString(soupTokens[r.IntN(len(soupTokens))])
			}
			if r.IntN(4) == 0 {
				b.WriteString("x")
			}
		}
		src := b.String()
		cut := r.IntN(len(src) + 1)
		for _, s := range []string{src, src[:cut]} {
			if reserving := guardedReserving(soupIDs, s, 0); checkHolds(reserving) != nil || reservedLeft(reserving, soupIDs) != nil {
				failures++
				if failures < 6 {
					t.Errorf("input %q, guarded reserving %v: %q: %v %v", s, soupIDs, reserving, checkHolds(reserving), reservedLeft(reserving, soupIDs))
				}
			} else if got := guardedReserving(soupIDs, s, 1+r.IntN(5)); got != reserving {
				t.Errorf("chunking, reserving ids: input %q: %q vs %q", s, got, reserving)
			}
			whole := guarded(s, 0)
			if err := checkHolds(whole); err != nil {
				failures++
				if failures < 6 {
					t.Errorf("input %q, guarded %q: %v", s, whole, err)
				}
			}
			if got := guarded(s, 1+r.IntN(5)); got != whole {
				t.Errorf("chunking: input %q: %q vs %q", s, got, whole)
			}
		}
	}
	if failures > 0 {
		t.Errorf("%d failures", failures)
	}
}

// Start tags of attributes written every way the tokenizer reads them
// apart, the guard's own targets among them: soupTag writes a tag name
// (whole, or the head of one whose tail may follow as the next
// attribute's name), then attributes quoted, unquoted or bare, with a
// space, a slash or nothing between them (nothing after a quoted value
// starts a new attribute: a="v"b is a and b).
var (
	soupNames = fieldsUnquoted(`s p b m t x ba tabl textare templat div input template map img a svg set`)
	soupAttrs = fieldsUnquoted(`form="x" form='' formaction=y form id="x" id='slot' for="x" aria-describedby="x y" usemap="#x"
name="x" href="#x" shadowrootmode="open" shadowrootmode=open a="v" a='v' a=v a class="c" onload=x =x`)
	soupTails = fieldsUnquoted(`cript laintext ody ase eta emplate e a tyle itle extarea mg`)
	soupSeps  = []string{"", "", " ", "/", " /", "\t"}
)

func soupTag(r *rand.Rand) string {
	var b strings.Builder
	b.WriteString("<" + soupNames[r.IntN(len(soupNames))])
	for range r.IntN(4) {
		b.WriteString(soupSeps[r.IntN(len(soupSeps))])
		if r.IntN(3) == 0 {
			b.WriteString(soupTails[r.IntN(len(soupTails))])
		} else {
			b.WriteString(soupAttrs[r.IntN(len(soupAttrs))])
		}
	}
	if r.IntN(4) == 0 {
		b.WriteString("/")
	}
	b.WriteString(">")
	return b.String()
}

// fieldsUnquoted splits s at white space and reads \x00, \r and \n.
func fieldsUnquoted(s string) []string {
	f := strings.Fields(s)
	for i := range f {
		f[i] = strings.NewReplacer(`\x00`, "\x00", `\r`, "\r", `\n`, "\n").Replace(f[i])
	}
	return f
}

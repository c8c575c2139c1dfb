package htmlguard_test

import (
	"fmt"
	"strings"

	"github.com/ssr-mfe/composer/composer/htmlguard"
)

func Example() {
	var g htmlguard.Guard
	var out strings.Builder
	emit := func(b []byte) { out.Write(b) }
	// A fragment that streams in three chunks and is cut inside a tag.
	for _, chunk := range []string{`<div class="card"><p>Hello <b>wor`, `ld</div></div><!-->`, `<textarea><a title="never cl`} {
		g.Write([]byte(chunk), emit)
	}
	g.Close(emit)
	fmt.Println(out.String())
	// Output: <div class="card"><p>Hello <b>world</b></p></div><!--><textarea><a title="never cl</textarea>
}

package template

import (
	"strings"
	"testing"

	"github.com/ssr-mfe/composer/composer/inert"
)

// A template's own scripts run under the 'strict-dynamic' policy through
// the activator: each is written inert with the activator after it, its
// kind kept; data blocks, and markup without scripts, pass as written.
func TestTemplateScriptsAreWrittenForTheActivator(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ src, want string }{
		{`<p>no script</p>`, `<p>no script</p>`},
		{`<script src="/app.js" defer></script>`, `<script type="mfe/inert" src="/app.js" defer></script>{A}`},
		{`<SCRIPT type=module nonce=x>import "/m.js"</SCRIPT>`, `<script type="mfe/inert" data-mfe-type="module">import "/m.js"</SCRIPT>{A}`},
		{`<script type="importmap">{"imports": {}}</script>`, `<script type="mfe/inert" data-mfe-type="importmap">{"imports": {}}</script>{A}`},
		{`<script type="application/ld+json">{"@type": "Product"}</script>`, `<script type="application/ld+json">{"@type": "Product"}</script>`},
		{`<script type=text/javascript type=application/json data-mfe-type=module>x()</script>`, `<script type="mfe/inert">x()</script>{A}`},
		{`<textarea><script>x()</script></textarea>`, `<textarea><script>x()</script></textarea>`},
		{`<script>if (a < b) x("</p>")</script><p>after</p>`, `<script type="mfe/inert">if (a < b) x("</p>")</script>{A}<p>after</p>`},
	} {
		got := strings.ReplaceAll(string(inertScripts([]byte(tt.src))), inert.Tag, "{A}")
		if got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.src, got, tt.want)
		}
	}
}

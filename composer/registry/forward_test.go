package registry

import (
	"strings"
	"testing"
)

// A header the composer never forwards cannot be asked for: the entry is
// refused, naming the header, rather than accepted and silently ignored.
func TestForwardHeadersRefusesHeadersNeverForwarded(t *testing.T) {
	for _, h := range []string{"Host", "host", "Connection", "Accept-Encoding", "X-Request-Id", "Content-Length", "Transfer-Encoding", "Proxy-Authorization", "Mfe-Override", "mfe-override",
		// The composer's own: the slot, and every Podium-* name (docs/registry.md), not
		// only the six it sets (old code took Podium-Foo, and a visitor's
		// value reached a Podium entry that forwarded it).
		"Mfe-Slot", "Podium-Locale", "podium-mount-origin", "Podium-Foo", "podium-x"} {
		_, err := ParseEntry([]byte(`{"endpoint": "http://a.internal/", "forwardHeaders": ["Cookie", "` + h + `"]}`))
		if err == nil || !strings.Contains(err.Error(), h) || !strings.Contains(err.Error(), "never forwarded") {
			t.Errorf("forwardHeaders %s: %v", h, err)
		}
	}
	if _, err := ParseEntry([]byte(`{"endpoint": "http://a.internal/", "forwardHeaders": ["Cookie", "x-tenant"]}`)); err != nil {
		t.Errorf("forwardHeaders Cookie, x-tenant: %v", err)
	}
}

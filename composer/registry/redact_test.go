package registry

import (
	"strings"
	"testing"
)

// A message that quotes an endpoint (in the logs, composer validate's
// output, /status, the dev bar) never quotes its password.
func TestEndpointMessagesHideCredentials(t *testing.T) {
	t.Parallel()
	const secret = "S3cretPassw0rd"
	for _, entry := range []string{
		`"http://admin:S3cretPassw0rd@127.0.0.1/x"`,
		`"https://admin:S3cretPassw0rd@example.com"`,
		`"http://S3cretPassw0rd@127.0.0.1/x"`,
		`"ftp://admin:S3cretPassw0rd@127.0.0.1/x"`,
		`"http://admin:S3cretPassw0rd@127.0.0.1:bad/x"`,
		`"http://admin:S3cretPassw0rd@/x"`,
		`"http://admin:S3cret%zzPassw0rd@127.0.0.1/x"`,
		`{"endpoint": "http://admin:S3cretPassw0rd@127.0.0.1/x"}`,
		`{"endpoint": "http://admin:S3cretPassw0rd@127.0.0.1/x", "loader": "lambda"}`,
		`{"endpoint": "https://x/", "versions": [{"name": "b", "endpoint": "http://admin:S3cretPassw0rd@127.0.0.1/x", "weight": 10}]}`,
		`{"endpoint": "https://x/", "assets": ["https://admin:S3cretPassw0rd@cdn.example/a.css"]}`,
		`{"endpoint": "https://x/", "assets": ["ftp://admin:S3cretPassw0rd@cdn.example/a.css"]}`,
	} {
		_, err := ParseEntry([]byte(entry))
		if err == nil {
			t.Errorf("%s: accepted", entry)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: %v", entry, err)
		}
		if strings.Contains(entry, "@127.0.0.1/x\"") && strings.HasPrefix(entry, `"http://admin`) && !strings.Contains(err.Error(), "admin:xxxxx@127.0.0.1") {
			t.Errorf("%s: %v, want the endpoint quoted with its password hidden", entry, err)
		}
	}
	if got := RedactEndpoint("http://u:p@h/a@b?c@d#e@f"); got != "http://u:xxxxx@h/a@b?c@d#e@f" {
		t.Errorf("RedactEndpoint: %s", got)
	}
	if got := RedactEndpoint("https://h/a@b"); got != "https://h/a@b" {
		t.Errorf("RedactEndpoint: %s", got)
	}
}

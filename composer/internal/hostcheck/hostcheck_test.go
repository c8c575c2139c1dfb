package hostcheck

import "testing"

func TestAllowed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		listen, host string
		want         bool
	}{
		{"127.0.0.1:8080", "localhost:8080", true},
		{"127.0.0.1:8080", "app.localhost:8080", true},
		{"127.0.0.1:8080", "127.9.9.9", true},
		{"127.0.0.1:8080", "[::1]:1", true},
		{"127.0.0.1:8080", "10.0.0.1:8080", false},
		{"127.0.0.1:8080", "evil.example:8080", false},
		{"127.0.0.1:8080", "", false},
		{"devbox.lan:8080", "devbox.lan:8080", true},
		{"devbox.lan:8080", "DevBox.lan", true},
		{"192.168.1.5:8080", "192.168.1.5:8080", true},
		{":8080", "192.168.1.5:8080", true}, // an address is no rebound name
		{"0.0.0.0:8080", "evil.example:8080", false},
		{"[::1]:9090", "LOCALHOST.:9090", true},
		{"[::1]:9090", "localhost.evil.example", false},
	} {
		if got := Allowed(tc.listen, tc.host); got != tc.want {
			t.Errorf("listening on %q, Host %q: %v, want %v", tc.listen, tc.host, got, tc.want)
		}
	}
}

func TestLoopback(t *testing.T) {
	t.Parallel()
	for listen, want := range map[string]bool{
		"127.0.0.1:9090": true, "127.3.2.1:0": true, "[::1]:9090": true, "localhost:9090": true,
		"LocalHost.:9090": true, "app.localhost:1": true, "::1": true,
		":9090": false, "0.0.0.0:9090": false, "[::]:9090": false, "10.0.3.7:9090": false,
		"composer.internal:9090": false, "localhost.evil.example:9090": false, "": false,
	} {
		if got := Loopback(listen); got != want {
			t.Errorf("Loopback(%q) = %v, want %v", listen, got, want)
		}
	}
}

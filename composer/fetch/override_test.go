package fetch

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

// hostsResolver maps names to addresses, so that a test's names resolve
// without DNS.
type hostsResolver map[string][]netip.Addr

func (h hostsResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if ips, ok := h[host]; ok {
		return ips, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// loopbackOnly makes t's connections go through a check that fails the
// test for any address off loopback, and counts them: a refusal must come
// before any connection.
func loopbackOnly(tb testing.TB, t *Override) *atomic.Int64 {
	var n atomic.Int64
	real := t.connect
	t.connect = func(ctx context.Context, network, addr string) (net.Conn, error) {
		n.Add(1)
		ap, err := netip.ParseAddrPort(addr)
		if err != nil || !ap.Addr().Unmap().IsLoopback() {
			tb.Errorf("override transport connecting to %s, off loopback", addr)
			return nil, errors.New("test: off loopback")
		}
		return real(ctx, network, addr)
	}
	return &n
}

func overrideGet(t *Override, u string) (string, error) {
	resp, err := t.Fetch(context.Background(), &Request{Endpoint: u, Header: http.Header{}, Override: true})
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func fragmentServer(t *testing.T, body string) (*httptest.Server, string) {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }))
	t.Cleanup(s.Close)
	u, _ := url.Parse(s.URL)
	return s, u.Port()
}

func TestOverrideReachesAnAllowedHost(t *testing.T) {
	_, port := fragmentServer(t, "preview")
	o := NewOverride(OverrideOptions{
		Hosts:         []string{"*.preview.test"},
		AllowLoopback: true, // the name below resolves to loopback, to keep traffic here
		Resolver:      hostsResolver{"reviews.preview.test": {netip.MustParseAddr("127.0.0.1")}},
	})
	defer o.Close()
	conns := loopbackOnly(t, o)
	body, err := overrideGet(o, "http://reviews.preview.test:"+port+"/fragment")
	if err != nil || body != "preview" {
		t.Fatalf("got %q, %v; want the preview fragment", body, err)
	}
	if conns.Load() != 1 {
		t.Errorf("%d connections, want 1", conns.Load())
	}
}

func TestOverrideRefusesHostsOutsideTheList(t *testing.T) {
	_, port := fragmentServer(t, "x")
	for _, hosts := range [][]string{nil, {"*.preview.test"}} {
		o := NewOverride(OverrideOptions{Hosts: hosts, AllowLoopback: true,
			Resolver: hostsResolver{"evil.test": {netip.MustParseAddr("127.0.0.1")}}})
		conns := loopbackOnly(t, o)
		for _, u := range []string{"http://evil.test:" + port + "/", "http://127.0.0.1:" + port + "/", "http://preview.test:" + port + "/"} {
			_, err := overrideGet(o, u)
			if !errors.Is(err, ErrHostNotAllowed) {
				t.Errorf("hosts %q, %s: err = %v, want ErrHostNotAllowed", hosts, u, err)
			}
		}
		if conns.Load() != 0 {
			t.Errorf("hosts %q: %d connections made for refused hosts", hosts, conns.Load())
		}
		o.Close()
	}
}

func TestOverrideRefusesLoopbackUnlessAllowed(t *testing.T) {
	_, port := fragmentServer(t, "local")
	for _, ip := range []string{"127.0.0.1", "::ffff:127.0.0.1", "127.0.0.2"} {
		o := NewOverride(OverrideOptions{Hosts: []string{"local.test"},
			Resolver: hostsResolver{"local.test": {netip.MustParseAddr(ip)}}})
		conns := loopbackOnly(t, o)
		_, err := overrideGet(o, "http://local.test:"+port+"/")
		if !errors.Is(err, ErrAddressRefused) || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("%s: err = %v, want the loopback address refused", ip, err)
		}
		if conns.Load() != 0 {
			t.Errorf("%s: connected before refusing", ip)
		}
		o.Close()
	}
	// The literal form is checked the same way.
	o := NewOverride(OverrideOptions{Hosts: []string{"127.0.0.1"}})
	defer o.Close()
	if _, err := overrideGet(o, "http://127.0.0.1:"+port+"/"); !errors.Is(err, ErrAddressRefused) {
		t.Errorf("literal loopback: err = %v, want refused", err)
	}
	// composer dev: allowed.
	dev := NewOverride(OverrideOptions{Hosts: []string{"127.0.0.1"}, AllowLoopback: true})
	defer dev.Close()
	if body, err := overrideGet(dev, "http://127.0.0.1:"+port+"/"); err != nil || body != "local" {
		t.Errorf("loopback allowed: got %q, %v", body, err)
	}
}

func TestOverrideRefusesLinkLocalBeforeConnecting(t *testing.T) {
	for _, ip := range []string{"169.254.170.2", "169.254.169.254", "::ffff:169.254.170.2", "64:ff9b::a9fe:aa02", "fe80::1", "0.0.0.0", "::", "224.0.0.1", "ff02::1"} {
		o := NewOverride(OverrideOptions{Hosts: []string{"*.preview.test"}, AllowLoopback: true,
			Resolver: hostsResolver{"creds.preview.test": {netip.MustParseAddr(ip)}}})
		conns := loopbackOnly(t, o)
		_, err := overrideGet(o, "http://creds.preview.test/v2/credentials")
		if !errors.Is(err, ErrAddressRefused) {
			t.Errorf("%s: err = %v, want ErrAddressRefused", ip, err)
		}
		if conns.Load() != 0 {
			t.Errorf("%s: connected before refusing", ip)
		}
		o.Close()
	}
	// A name with a good and a bad address: only the good one is dialled.
	_, port := fragmentServer(t, "ok")
	o := NewOverride(OverrideOptions{Hosts: []string{"*.preview.test"}, AllowLoopback: true,
		Resolver: hostsResolver{"mixed.preview.test": {netip.MustParseAddr("169.254.170.2"), netip.MustParseAddr("127.0.0.1")}}})
	defer o.Close()
	loopbackOnly(t, o)
	if body, err := overrideGet(o, "http://mixed.preview.test:"+port+"/"); err != nil || body != "ok" {
		t.Errorf("mixed: got %q, %v", body, err)
	}
}

// The dialler's own check (Control), the last before a connection is
// made, refuses what the lookup's check would.
func TestOverrideDialControlRefuses(t *testing.T) {
	l := &Listeners{local: func() ([]netip.Addr, error) { return nil, nil }}
	l.Add(&net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 8080})
	o := NewOverride(OverrideOptions{Hosts: []string{"x"}, AllowLoopback: true, Listeners: l})
	for addr, refused := range map[string]bool{
		"169.254.170.2:80":        true,
		"[fe80::1%eth0]:80":       true,
		"127.0.0.1:8080":          true,
		"127.0.0.1:8081":          false,
		"[::ffff:127.0.0.1]:8080": true,
		"10.0.0.8:80":             false,
	} {
		err := o.control("tcp", addr, nil)
		if got := errors.Is(err, ErrAddressRefused); got != refused {
			t.Errorf("control(%s) = %v, want refused %v", addr, err, refused)
		}
	}
}

func TestOverrideRefusesTheComposersOwnListeners(t *testing.T) {
	own, ownPort := fragmentServer(t, "the composer itself")
	_, otherPort := fragmentServer(t, "a fragment")
	for _, listen := range []*net.TCPAddr{
		own.Listener.Addr().(*net.TCPAddr),
		{IP: net.IPv4zero, Port: own.Listener.Addr().(*net.TCPAddr).Port},
		{IP: net.IPv6unspecified, Port: own.Listener.Addr().(*net.TCPAddr).Port},
	} {
		l := &Listeners{}
		l.Add(listen)
		o := NewOverride(OverrideOptions{Hosts: []string{"127.0.0.1", "localhost"}, AllowLoopback: true, Listeners: l,
			Resolver: hostsResolver{"localhost": {netip.MustParseAddr("127.0.0.1")}}})
		conns := loopbackOnly(t, o)
		for _, u := range []string{"http://127.0.0.1:" + ownPort + "/", "http://localhost:" + ownPort + "/"} {
			if _, err := overrideGet(o, u); !errors.Is(err, ErrAddressRefused) || !strings.Contains(err.Error(), "own listener") {
				t.Errorf("listening on %s, %s: err = %v, want the own listener refused", listen, u, err)
			}
		}
		if conns.Load() != 0 {
			t.Errorf("listening on %s: connected to the own listener", listen)
		}
		if body, err := overrideGet(o, "http://127.0.0.1:"+otherPort+"/"); err != nil || body != "a fragment" {
			t.Errorf("listening on %s: another port: %q, %v", listen, body, err)
		}
		o.Close()
	}
	// Every interface address counts when listening on all of them.
	l := &Listeners{local: func() ([]netip.Addr, error) { return []netip.Addr{netip.MustParseAddr("10.1.2.3")}, nil }}
	l.Add(&net.TCPAddr{IP: net.IPv6unspecified, Port: 8080})
	if !l.Contains(netip.MustParseAddr("10.1.2.3"), 8080) || l.Contains(netip.MustParseAddr("10.1.2.4"), 8080) || l.Contains(netip.MustParseAddr("10.1.2.3"), 8081) {
		t.Error("a listener on :: does not cover exactly this machine's addresses at its port")
	}
}

func TestMuxOverrideNeverReachesTheRegistryTransports(t *testing.T) {
	_, port := fragmentServer(t, "x")
	o := NewOverride(OverrideOptions{Hosts: []string{"127.0.0.1"}})
	defer o.Close()
	h := NewHTTP()
	defer h.Close()
	m := &Mux{HTTP: h, Override: o}
	_, err := m.Fetch(context.Background(), &Request{Endpoint: "http://127.0.0.1:" + port + "/", Header: http.Header{}, Override: true})
	if !errors.Is(err, ErrAddressRefused) {
		t.Errorf("err = %v, want the override transport's refusal", err)
	}
}

// Each refused kind of address has its own reason, and the IPv6 forms that
// embed an IPv4 address (6to4, IPv4-compatible, Teredo) are refused
// outright, loopback allowed or not.
func TestOverrideRefusedAddressesAndWhy(t *testing.T) {
	for _, c := range []struct{ ip, why string }{
		{"169.254.170.2", "link-local"},
		{"fe80::1", "link-local"},
		{"224.0.0.1", "multicast"},
		{"ff02::1", "multicast"},
		{"239.1.2.3", "multicast"},
		{"255.255.255.255", "broadcast"},
		{"0.0.0.0", "unspecified"},
		{"::", "unspecified"},
		{"2002:7f00:1::1", "6to4"},
		{"2002:a9fe:aa02::1", "6to4"},
		{"::7f00:1", "IPv4-compatible"},
		{"::a9fe:aa02", "IPv4-compatible"},
		{"2001:0:4136:e378:8000:63bf:80ff:fffe", "Teredo"},
		{"2001::1", "Teredo"},
	} {
		for _, loop := range []bool{false, true} {
			why := refusedAddr(netip.MustParseAddr(c.ip), loop)
			if !strings.Contains(why, c.why) {
				t.Errorf("refusedAddr(%s, loopback %v) = %q, want it to say %q", c.ip, loop, why, c.why)
			}
			if c.why != "link-local" && strings.Contains(why, "credentials") {
				t.Errorf("refusedAddr(%s) = %q: only link-local unicast is where credentials are served", c.ip, why)
			}
		}
	}
	for _, ip := range []string{"10.0.0.8", "2001:db8::1", "2600:1f18::1", "2001:4860::8888"} {
		if why := refusedAddr(netip.MustParseAddr(ip), false); why != "" {
			t.Errorf("refusedAddr(%s) = %q, want allowed", ip, why)
		}
	}
	if why := refusedAddr(netip.MustParseAddr("::1"), true); why != "" {
		t.Errorf("refusedAddr(::1, loopback allowed) = %q, want allowed", why)
	}
}

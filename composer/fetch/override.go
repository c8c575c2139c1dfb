package fetch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Override fetches the fragments of signed per-request overrides (package
// override): a developer's token points a fragment id at a URL of their
// choosing, so this transport reaches only what the operator allows.
//
//   - The URL's host name must match one of the operator's patterns
//     (COMPOSER_OVERRIDE_HOSTS, the syntax of AllowHosts), checked before
//     any lookup or dial; with no pattern, nothing is reached.
//   - Every address the name resolves to is checked at dial time, and only
//     the address checked is dialled (a name that resolves elsewhere on a
//     second lookup gains nothing): loopback (unless AllowLoopback, for
//     composer dev), link-local (169.254.0.0/16, where the ECS and EC2
//     credential and metadata services answer, and fe80::/10),
//     unspecified, multicast and broadcast addresses are refused, in their
//     IPv4-mapped and NAT64 forms too, and so are the IPv6 forms that
//     embed another IPv4 address (6to4 2002::/16, IPv4-compatible ::/96,
//     Teredo 2001::/32) whatever it is, and the composer's own listeners
//     (see Listeners).
//   - No proxy, no redirects (as HTTP: a redirect is the fragment's
//     answer), its own connection pool.
//
// A refusal is an error, so the fragment's fallback shows as for any
// failed fragment.
type Override struct {
	http          *HTTP
	allowLoopback bool
	listeners     *Listeners
	resolver      Resolver
	// connect dials one checked address; the dialler's Control checks
	// it again just before the connection is made.
	connect func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Resolver looks up a host's addresses; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// OverrideOptions configure an Override transport.
type OverrideOptions struct {
	// Hosts are the patterns override URLs may point to: "name" exactly,
	// "*.domain" below domain. Empty: every override is refused.
	Hosts []string
	// AllowLoopback lets overrides reach loopback addresses (composer
	// dev, where the fragment being written runs on the same machine).
	// The composer's own listeners stay refused.
	AllowLoopback bool
	// Listeners are the composer's own listening addresses; nil: none
	// known.
	Listeners *Listeners
	// Resolver, if set, replaces net.DefaultResolver.
	Resolver Resolver
}

// ErrAddressRefused is an override endpoint whose address is one overrides
// may never reach.
var ErrAddressRefused = errors.New("override endpoint address refused")

// NewOverride returns the override transport o describes.
func NewOverride(o OverrideOptions) *Override {
	t := &Override{allowLoopback: o.AllowLoopback, listeners: o.Listeners, resolver: o.Resolver}
	if t.resolver == nil {
		t.resolver = net.DefaultResolver
	}
	dialer := &net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second, Control: t.control}
	t.connect = dialer.DialContext
	t.http = newHTTP(nil, t.dial) // no proxy: the checks are about the addresses dialled
	t.http.AllowHosts(o.Hosts)
	return t
}

// Close drops idle connections.
func (t *Override) Close() { t.http.Close() }

// Fetch implements Transport: as HTTP's, for an override's URL.
func (t *Override) Fetch(ctx context.Context, req *Request) (*Response, error) {
	if len(t.http.allowed) == 0 {
		return nil, fmt.Errorf("%w: no host is allowed for overrides (COMPOSER_OVERRIDE_HOSTS)", ErrHostNotAllowed)
	}
	resp, err := t.http.Fetch(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("override: %w", err)
	}
	return resp, nil
}

// dial resolves addr's host, checks each address and dials the first good
// one by its address: what was checked is what is dialled.
func (t *Override) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("port %q: %w", portText, err)
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else if ips, err = t.resolver.LookupNetIP(ctx, "ip", host); err != nil {
		return nil, err
	}
	var errs []error
	for _, ip := range ips {
		if err := t.check(ip, uint16(port)); err != nil {
			errs = append(errs, fmt.Errorf("%s resolves to %w", host, err))
			continue
		}
		c, err := t.connect(ctx, network, netip.AddrPortFrom(ip, uint16(port)).String())
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%s: no address", host)
	}
	return nil, errors.Join(errs...)
}

// control is the dialler's last check, made on the address about to be
// connected to.
func (t *Override) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q is no address", ErrAddressRefused, address)
	}
	return t.check(ap.Addr(), ap.Port())
}

// check says why overrides may not reach ip:port, or nil.
func (t *Override) check(ip netip.Addr, port uint16) error {
	if why := refusedAddr(ip, t.allowLoopback); why != "" {
		return fmt.Errorf("%w: %s is %s", ErrAddressRefused, ip, why)
	}
	if t.listeners.Contains(ip, port) {
		return fmt.Errorf("%w: %s is the composer's own listener", ErrAddressRefused, netip.AddrPortFrom(ip, port))
	}
	return nil
}

var (
	nat64         = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour     = netip.MustParsePrefix("2002::/16")
	ipv4Compat    = netip.MustParsePrefix("::/96")
	teredo        = netip.MustParsePrefix("2001::/32")
	thisNetwork   = netip.MustParsePrefix("0.0.0.0/8")
	ipv4LinkLocal = netip.MustParsePrefix("169.254.0.0/16")
	broadcast     = netip.MustParseAddr("255.255.255.255")
)

// RefusedAddress names the kind of address ip is if overrides may never
// reach it (loopback only when allowLoopback is false), or "": the check
// of the override transport, for composer override's warnings.
func RefusedAddress(ip netip.Addr, allowLoopback bool) string {
	return refusedAddr(ip, allowLoopback)
}

// refusedAddr names the kind of address ip is if overrides may never
// reach it, or "". An IPv4 address written as IPv6 (IPv4-mapped, or
// behind the NAT64 prefix) is judged as the IPv4 address; the other IPv6
// forms that embed one (6to4, IPv4-compatible, Teredo) are refused
// outright.
func refusedAddr(ip netip.Addr, allowLoopback bool) string {
	ip = ip.Unmap().WithZone("")
	if ip.Is6() && nat64.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	}
	switch {
	case !ip.IsValid():
		return "no address"
	case ip.IsLoopback():
		if !allowLoopback {
			return "a loopback address"
		}
	case ip.IsUnspecified() || ip.Is4() && thisNetwork.Contains(ip):
		return "an unspecified address (this host)"
	case ip.Is4() && ipv4LinkLocal.Contains(ip):
		return "a link-local address (169.254.0.0/16, where the instance's credentials and metadata are served)"
	case ip.IsLinkLocalUnicast():
		return "a link-local address (fe80::/10)"
	case ip.IsMulticast():
		return "a multicast address"
	case ip == broadcast:
		return "the broadcast address"
	case ip.Is6() && sixToFour.Contains(ip):
		return "a 6to4 address (2002::/16, which embeds an IPv4 address)"
	case ip.Is6() && ipv4Compat.Contains(ip):
		return "an IPv4-compatible address (::/96, which embeds an IPv4 address)"
	case ip.Is6() && teredo.Contains(ip):
		return "a Teredo address (2001::/32, which embeds an IPv4 address)"
	}
	return ""
}

// Listeners are the addresses the composer listens on (public and admin),
// which overrides never reach: an override pointing at the composer itself
// would serve the page inside itself, or reach the admin listener from
// the outside. A listener on every interface (0.0.0.0, ::) counts for
// every address of this machine. Safe for concurrent use; the zero value
// and nil are empty.
type Listeners struct {
	mu    sync.RWMutex
	addrs []netip.AddrPort
	// local lists the machine's addresses; nil: its interfaces'.
	local func() ([]netip.Addr, error)
}

// Add records a listener's address (a *net.TCPAddr; others are ignored).
func (l *Listeners) Add(a net.Addr) {
	ta, ok := a.(*net.TCPAddr)
	if l == nil || !ok {
		return
	}
	ap := ta.AddrPort()
	l.mu.Lock()
	l.addrs = append(l.addrs, netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port()))
	l.mu.Unlock()
}

// Contains reports whether ip:port reaches one of the listeners.
func (l *Listeners) Contains(ip netip.Addr, port uint16) bool {
	if l == nil {
		return false
	}
	ip = ip.Unmap().WithZone("")
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, own := range l.addrs {
		if own.Port() != port {
			continue
		}
		if own.Addr() == ip {
			return true
		}
		if own.Addr().IsUnspecified() && (ip.IsLoopback() || ip.IsUnspecified() || l.isLocal(ip)) {
			return true
		}
	}
	return false
}

// isLocal reports whether ip is an address of this machine. When the
// interfaces cannot be listed, every address is taken for one: the
// override is refused rather than risk reaching the composer itself.
func (l *Listeners) isLocal(ip netip.Addr) bool {
	local := l.local
	if local == nil {
		local = interfaceAddrs
	}
	addrs, err := local()
	if err != nil {
		return true
	}
	for _, a := range addrs {
		if a.Unmap().WithZone("") == ip {
			return true
		}
	}
	return false
}

func interfaceAddrs() ([]netip.Addr, error) {
	as, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, a := range as {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip)
			}
		}
	}
	return out, nil
}

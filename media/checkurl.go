package media

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// forbiddenPrefixes are ranges that are never a public video host. The
// netip.Addr predicates cover loopback, private, link-local, multicast and
// unspecified; these add what they miss.
var forbiddenPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // TEST-NET-1
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // TEST-NET-2
	netip.MustParsePrefix("203.0.113.0/24"),  // TEST-NET-3
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, includes broadcast
	netip.MustParsePrefix("fec0::/10"),       // deprecated site-local
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("100::/64"),        // discard-only
	// Local-use IPv4/IPv6 translation (RFC 8215): where the IPv4 address
	// sits depends on the operator's prefix length (/48 to /96), so it
	// cannot be judged; a DNS64 on this prefix is the operator's own.
	netip.MustParsePrefix("64:ff9b:1::/48"),
}

// IsForbiddenIP reports whether ip is an address a worker must never
// connect to on a stranger's behalf: loopback, private (RFC 1918, fc00::/7),
// link-local (including the cloud metadata address), multicast,
// unspecified, CGNAT, reserved, and IPv6 forms that embed any of those,
// judged as the IPv4 address they carry (IPv4-mapped ::ffff:0:0/96,
// IPv4-translated ::ffff:0:0:0/96, IPv4-compatible ::/96, NAT64's
// well-known 64:ff9b::/96, 6to4 2002::/16); the local-use NAT64 prefix
// 64:ff9b:1::/48 is forbidden outright. Invalid addresses are forbidden.
func IsForbiddenIP(ip netip.Addr) bool {
	if !ip.IsValid() {
		return true
	}
	ip = ip.WithZone("").Unmap()
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return true
	}
	for _, p := range forbiddenPrefixes {
		if p.Contains(ip) {
			return true
		}
	}
	if ip.Is6() {
		b := ip.As16()
		var v4 netip.Addr
		switch {
		case isZero(b[:12]): // IPv4-compatible ::a.b.c.d
			v4 = netip.AddrFrom4([4]byte(b[12:16]))
		case isZero(b[:8]) && b[8] == 0xff && b[9] == 0xff && b[10] == 0 && b[11] == 0: // IPv4-translated ::ffff:0:a.b.c.d
			v4 = netip.AddrFrom4([4]byte(b[12:16]))
		case b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && isZero(b[4:12]): // NAT64 64:ff9b::/96
			v4 = netip.AddrFrom4([4]byte(b[12:16]))
		case b[0] == 0x20 && b[1] == 0x02: // 6to4 2002::/16
			v4 = netip.AddrFrom4([4]byte(b[2:6]))
		}
		if v4.IsValid() && IsForbiddenIP(v4) {
			return true
		}
	}
	return false
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// NetPolicy decides which addresses Recap may contact on a stranger's
// behalf: the pre-flight URL check and the worker's egress proxy share it.
// The zero value forbids every internal address (see IsForbiddenIP).
type NetPolicy struct {
	// AllowPrivate lifts the block entirely (ALLOW_PRIVATE_NETWORKS=1, for
	// development and tests).
	AllowPrivate bool
	// Allow lists internal ranges that stay reachable anyway (EGRESS_ALLOW),
	// such as a media server on the operator's own network.
	Allow []netip.Prefix
}

// Permits reports whether the policy lets a connection go to ip.
func (p NetPolicy) Permits(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	if p.AllowPrivate || !IsForbiddenIP(ip) {
		return true
	}
	ip = ip.WithZone("").Unmap()
	for _, pre := range p.Allow {
		if pre.Contains(ip) {
			return true
		}
	}
	return false
}

// CheckURL validates rawURL's scheme and, unless allowPrivate, resolves its
// host and returns ErrURLNotAllowed if any address it resolves to is
// forbidden (see IsForbiddenIP). Numeric hosts are decoded the way libc's
// inet_aton does (0x7f000001, 2130706433, 017700000001, 127.1) because Go's
// URL parser keeps them as names while curl-like clients connect to them.
//
// This is a pre-flight check: redirects and the media URLs a page points to
// must still be checked at connection time by an egress proxy.
func CheckURL(ctx context.Context, rawURL string, allowPrivate bool) error {
	return NetPolicy{AllowPrivate: allowPrivate}.CheckURL(ctx, rawURL)
}

// CheckURL is the package-level CheckURL under this policy.
func (p NetPolicy) CheckURL(ctx context.Context, rawURL string) error {
	u, err := parseHTTPURL(rawURL)
	if err != nil {
		return fmt.Errorf("check url: %w", err)
	}
	if p.AllowPrivate {
		return nil
	}
	host := u.Hostname()
	if _, err := p.resolve(ctx, host); err != nil {
		return fmt.Errorf("check url: %w", err)
	}
	return nil
}

// resolve returns host's addresses, a literal decoded as inet_aton would,
// and ErrURLNotAllowed when any of them is not permitted: a name that
// resolves to one public and one internal address is refused, so a
// client that picks the other one cannot be steered inside.
func (p NetPolicy) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, ok := ParseHostIP(host); ok {
		if !p.Permits(ip) {
			return nil, fmt.Errorf("%w: %s is an internal address", ErrURLNotAllowed, ip.WithZone("").Unmap())
		}
		return []netip.Addr{ip}, nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", host, err)
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("resolve %s: no addresses", host)
	}
	for _, ip := range ips {
		if !p.Permits(ip) {
			return nil, fmt.Errorf("%w: %s resolves to internal address %s", ErrURLNotAllowed, host, ip.Unmap())
		}
	}
	return ips, nil
}

// ParseHostIP parses a URL host that is a literal address: IPv6 (with or
// without brackets and zone) or IPv4 in any form inet_aton accepts (one to
// four parts, each decimal, octal with a leading 0, or hex with 0x; the
// last part fills the remaining bytes). A single trailing dot is ignored.
func ParseHostIP(host string) (netip.Addr, bool) {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip, true
	}
	host = strings.TrimSuffix(host, ".")
	parts := strings.Split(host, ".")
	if len(parts) == 0 || len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		v, ok := parseInetPart(p)
		if !ok {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	var n uint64
	last := len(vals) - 1
	for i := 0; i < last; i++ {
		if vals[i] > 0xff {
			return netip.Addr{}, false
		}
		n |= vals[i] << (24 - 8*uint(i))
	}
	if vals[last] > (uint64(1)<<(8*uint(4-last)))-1 {
		return netip.Addr{}, false
	}
	n |= vals[last]
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

func parseInetPart(p string) (uint64, bool) {
	if p == "" {
		return 0, false
	}
	base := 10
	switch {
	case len(p) > 1 && (p[:2] == "0x" || p[:2] == "0X"):
		base, p = 16, p[2:]
		if p == "" { // inet_aton accepts "0x" as 0
			return 0, true
		}
	case len(p) > 1 && p[0] == '0':
		base, p = 8, p[1:]
	}
	for _, c := range p {
		ok := (c >= '0' && c <= '9') || (base == 16 && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
		if !ok || (base == 8 && c > '7') {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(p, base, 32)
	if err != nil {
		return 0, false
	}
	return v, true
}

package media_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/recap/recap/media"
)

func TestCheckURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		url          string
		allowPrivate bool
		want         error // nil, ErrBadURL or ErrURLNotAllowed
	}{
		{"public ip", "https://8.8.8.8/video", false, nil},
		{"public ipv6", "https://[2606:4700:4700::1111]/v", false, nil},
		{"public encoded decimal", "http://134744072/", false, nil}, // 8.8.8.8
		{"loopback", "http://127.0.0.1/", false, media.ErrURLNotAllowed},
		{"loopback port", "http://127.0.0.1:8080/x", false, media.ErrURLNotAllowed},
		{"loopback other", "http://127.45.6.7/", false, media.ErrURLNotAllowed},
		{"localhost name", "http://localhost/", false, media.ErrURLNotAllowed},
		{"hex", "http://0x7f000001/", false, media.ErrURLNotAllowed},
		{"hex upper", "http://0X7F000001/", false, media.ErrURLNotAllowed},
		{"decimal", "http://2130706433/", false, media.ErrURLNotAllowed},
		{"octal", "http://017700000001/", false, media.ErrURLNotAllowed},
		{"short form", "http://127.1/", false, media.ErrURLNotAllowed},
		{"mixed parts", "http://0x7f.0.0.01/", false, media.ErrURLNotAllowed},
		{"trailing dot", "http://127.0.0.1./", false, media.ErrURLNotAllowed},
		{"zero", "http://0/", false, media.ErrURLNotAllowed},
		{"unspecified", "http://0.0.0.0:80/", false, media.ErrURLNotAllowed},
		{"metadata", "http://169.254.169.254/latest/meta-data/", false, media.ErrURLNotAllowed},
		{"metadata decimal", "http://2852039166/", false, media.ErrURLNotAllowed},
		{"rfc1918 10", "https://10.1.2.3/", false, media.ErrURLNotAllowed},
		{"rfc1918 172", "https://172.16.0.1/", false, media.ErrURLNotAllowed},
		{"rfc1918 192", "https://192.168.1.1/", false, media.ErrURLNotAllowed},
		{"cgnat", "https://100.64.0.1/", false, media.ErrURLNotAllowed},
		{"multicast", "http://224.0.0.1/", false, media.ErrURLNotAllowed},
		{"broadcast", "http://255.255.255.255/", false, media.ErrURLNotAllowed},
		{"ipv6 loopback", "http://[::1]/", false, media.ErrURLNotAllowed},
		{"ipv6 mapped", "http://[::ffff:127.0.0.1]/", false, media.ErrURLNotAllowed},
		{"ipv6 mapped hex", "http://[::ffff:7f00:1]/", false, media.ErrURLNotAllowed},
		{"ipv6 mapped metadata", "http://[::ffff:169.254.169.254]/", false, media.ErrURLNotAllowed},
		{"ipv6 compatible", "http://[::127.0.0.1]/", false, media.ErrURLNotAllowed},
		{"ipv6 nat64 private", "http://[64:ff9b::10.0.0.1]/", false, media.ErrURLNotAllowed},
		{"ipv6 6to4 loopback", "http://[2002:7f00:1::]/", false, media.ErrURLNotAllowed},
		{"ipv6 ula", "http://[fd00::1]/", false, media.ErrURLNotAllowed},
		{"ipv6 link-local", "http://[fe80::1%25eth0]/", false, media.ErrURLNotAllowed},
		{"ipv6 unspecified", "http://[::]/", false, media.ErrURLNotAllowed},
		{"ipv6 multicast", "http://[ff02::1]/", false, media.ErrURLNotAllowed},
		{"userinfo trick", "http://example.com@127.0.0.1/", false, media.ErrURLNotAllowed},
		{"allow private loopback", "http://127.0.0.1:9/", true, nil},
		{"allow private still checks scheme", "file:///etc/passwd", true, media.ErrBadURL},
		{"ftp", "ftp://8.8.8.8/", false, media.ErrBadURL},
		{"gopher", "gopher://127.0.0.1/", false, media.ErrBadURL},
		{"no host", "http:///x", false, media.ErrBadURL},
		{"empty", "", false, media.ErrBadURL},
		{"option injection", "--exec=id", false, media.ErrBadURL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := media.CheckURL(context.Background(), tt.url, tt.allowPrivate)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("CheckURL(%q) = %v, want nil", tt.url, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("CheckURL(%q) = %v, want %v", tt.url, err, tt.want)
			}
		})
	}
}

func TestParseHostIP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		host string
		want string // "" = not an address
	}{
		{"127.0.0.1", "127.0.0.1"},
		{"0x7f000001", "127.0.0.1"},
		{"2130706433", "127.0.0.1"},
		{"017700000001", "127.0.0.1"},
		{"127.1", "127.0.0.1"},
		{"127.0.1", "127.0.0.1"},
		{"10.0x10.1", "10.16.0.1"},
		{"0x", "0.0.0.0"},
		{"0", "0.0.0.0"},
		{"[::ffff:127.0.0.1]", "::ffff:127.0.0.1"},
		{"::1", "::1"},
		{"4294967295", "255.255.255.255"},
		{"4294967296", ""},
		{"256.0.0.1", ""},
		{"1.2.3.4.5", ""},
		{"08", ""},
		{"0x1g", ""},
		{"example.com", ""},
		{"1.2.3.", "1.2.0.3"}, // trailing dot ignored; the last part "3" fills 16 bits
		{"", ""},
	}
	for _, tt := range tests {
		got, ok := media.ParseHostIP(tt.host)
		if tt.want == "" {
			if ok {
				t.Errorf("ParseHostIP(%q) = %v, want not an address", tt.host, got)
			}
			continue
		}
		if !ok || got != netip.MustParseAddr(tt.want) {
			t.Errorf("ParseHostIP(%q) = %v, %v; want %s", tt.host, got, ok, tt.want)
		}
	}
}

// TestIsForbiddenIP: internal addresses are forbidden however they are
// spelled, IPv6 forms that carry an IPv4 address are judged by it, and
// public addresses in the same forms pass.
func TestIsForbiddenIP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ip        string
		forbidden bool
	}{
		{"127.0.0.1", true},
		{"10.0.0.1", true},
		{"169.254.169.254", true},
		{"100.100.100.100", true},
		{"0.1.2.3", true},
		{"240.0.0.1", true},
		{"fc00::1", true},
		{"fe80::1", true},
		{"8.8.8.8", false},
		{"1.1.1.1", false},
		{"100.128.0.1", false},
		{"2606:4700:4700::1111", false},
		// IPv4-mapped ::ffff:0:0/96, in both spellings.
		{"::ffff:10.0.0.1", true},
		{"::ffff:127.0.0.1", true},
		{"::ffff:7f00:1", true},
		{"::ffff:a9fe:a9fe", true},
		{"::ffff:0.0.0.0", true},
		{"::ffff:8.8.8.8", false},
		{"::ffff:808:808", false},
		// IPv4-translated ::ffff:0:0:0/96 (SIIT).
		{"::ffff:0:7f00:1", true},
		{"::ffff:0:a00:1", true},
		{"::ffff:0:a9fe:a9fe", true},
		{"::ffff:0:808:808", false},
		// IPv4-compatible ::/96.
		{"::7f00:1", true},
		{"::a00:1", true},
		{"::808:808", false},
		// NAT64's well-known prefix 64:ff9b::/96: the IPv4 address decides.
		{"64:ff9b::7f00:1", true},
		{"64:ff9b::127.0.0.1", true},
		{"64:ff9b::a9fe:a9fe", true},
		{"64:ff9b::c0a8:101", true},
		{"64:ff9b::808:808", false},
		{"64:ff9b::1.1.1.1", false},
		// Local-use NAT64 64:ff9b:1::/48: forbidden, public or not.
		{"64:ff9b:1::a00:1", true},
		{"64:ff9b:1::808:808", true},
		{"64:ff9b:1:7f00:1::", true},
		{"64:ff9b:1:ffff:ffff:ffff:ffff:ffff", true},
		{"64:ff9b:2::808:808", false},
		// 6to4 2002::/16.
		{"2002:7f00:1::1", true},
		{"2002:c0a8:101::1", true},
		{"2002:808:808::1", false},
	}
	for _, tt := range tests {
		if got := media.IsForbiddenIP(netip.MustParseAddr(tt.ip)); got != tt.forbidden {
			t.Errorf("IsForbiddenIP(%s) = %v, want %v", tt.ip, got, tt.forbidden)
		}
	}
	if !media.IsForbiddenIP(netip.Addr{}) {
		t.Error("IsForbiddenIP(invalid) = false")
	}
}

// specialRanges is the fuzz test's own account of the address space a
// worker must not reach, written from the IANA special-purpose registries
// rather than from the code under test.
var specialRanges = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
		"192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
		"203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
		"::/128", "::1/128", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8", "2001:db8::/32", "100::/64", "64:ff9b:1::/48",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// special reports whether ip falls in specialRanges, directly or as the
// IPv4 address an IPv6 form carries (mapped ::ffff:0:0/96, translated
// ::ffff:0:0:0/96, compatible ::/96, NAT64 64:ff9b::/96, 6to4 2002::/16).
func special(ip netip.Addr) bool {
	ip = ip.WithZone("")
	for _, p := range specialRanges {
		if p.Contains(ip) {
			return true
		}
	}
	if !ip.Is6() {
		return false
	}
	b := ip.As16()
	embedded := map[string][]byte{"::ffff:0:0/96": b[12:], "::ffff:0:0:0/96": b[12:], "::/96": b[12:], "64:ff9b::/96": b[12:], "2002::/16": b[2:6]}
	for pre, v4 := range embedded {
		if netip.MustParsePrefix(pre).Contains(ip) && special(netip.AddrFrom4([4]byte(v4))) {
			return true
		}
	}
	return false
}

// inetForms renders an IPv4 address in the forms inet_aton accepts: one
// 32-bit number (decimal, hex, octal), two and three parts (the last one
// fills the remaining bytes) and four octal or hex parts.
func inetForms(ip netip.Addr) []string {
	b := ip.As4()
	n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	return []string{
		fmt.Sprintf("%d", n), fmt.Sprintf("0x%x", n), fmt.Sprintf("0%o", n),
		fmt.Sprintf("%d.%d", b[0], n&0xffffff), fmt.Sprintf("%d.%d.%d", b[0], b[1], n&0xffff),
		fmt.Sprintf("0%o.0%o.0%o.0%o", b[0], b[1], b[2], b[3]), fmt.Sprintf("0x%x.0x%x.0x%x.0x%x", b[0], b[1], b[2], b[3]),
		ip.String() + ".",
	}
}

// FuzzParseHostIP checks properties that do not restate the code: a host
// the URL check decodes as an address agrees with the standard parser on
// the forms both accept; every inet_aton rendering of a decoded IPv4
// address decodes to it again; and the default policy refuses exactly the
// addresses in the test's own table of special ranges (specialRanges).
func FuzzParseHostIP(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "0x7f000001", "2130706433", "017700000001", "127.1", "0x7f.0.0.01",
		"[::ffff:127.0.0.1]", "fe80::1%eth0", "169.254.169.254", "8.8.8.8", "example.com", "1.2.3.4.5", "0x", "00", "",
		"100.64.0.1", "100.128.0.1", "[64:ff9b::a00:1]", "[2002:c0a8:101::1]", "[::10.0.0.1]", "[2606:4700:4700::1111]",
		"[ff02::1]", "[fec0::1]", "[2001:db8::1]", "[::ffff:0:a00:1]", "[64:ff9b:1::808:808]", "[::ffff:7f00:1]", "255.255.255.255", "198.19.255.255", "1.0.0.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		ip, ok := media.ParseHostIP(host)
		if !ok {
			return
		}
		if std, err := netip.ParseAddr(host); err == nil && std != ip {
			t.Fatalf("ParseHostIP(%q) = %v, netip says %v", host, ip, std)
		}
		if ip.Is4() {
			for _, form := range inetForms(ip) {
				if back, ok := media.ParseHostIP(form); !ok || back != ip {
					t.Fatalf("ParseHostIP(%q) = %v, %v; %q decoded as %v", form, back, ok, host, ip)
				}
			}
		}
		if got, want := (media.NetPolicy{}).Permits(ip), !special(ip); got != want {
			t.Fatalf("Permits(%v) = %v; the special-range table says %v", ip, got, want)
		}
		if !(media.NetPolicy{AllowPrivate: true}).Permits(ip) {
			t.Fatalf("AllowPrivate refuses %v", ip)
		}
	})
}

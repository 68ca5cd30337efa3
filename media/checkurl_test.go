package media_test

import (
	"context"
	"errors"
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

func TestIsForbiddenIP(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"127.0.0.1", "10.0.0.1", "169.254.169.254", "100.100.100.100", "0.1.2.3", "fc00::1", "fe80::1", "::ffff:10.0.0.1", "240.0.0.1"} {
		if !media.IsForbiddenIP(netip.MustParseAddr(s)) {
			t.Errorf("IsForbiddenIP(%s) = false", s)
		}
	}
	for _, s := range []string{"8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "100.128.0.1"} {
		if media.IsForbiddenIP(netip.MustParseAddr(s)) {
			t.Errorf("IsForbiddenIP(%s) = true", s)
		}
	}
	if !media.IsForbiddenIP(netip.Addr{}) {
		t.Error("IsForbiddenIP(invalid) = false")
	}
}

// FuzzParseHostIP: every host the URL check decodes as an address agrees
// with the standard parser on the forms both accept, and the policy and
// IsForbiddenIP agree on it.
func FuzzParseHostIP(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "0x7f000001", "2130706433", "017700000001", "127.1", "0x7f.0.0.01",
		"[::ffff:127.0.0.1]", "fe80::1%eth0", "169.254.169.254", "8.8.8.8", "example.com", "1.2.3.4.5", "0x", "00", ""} {
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
		if got, want := (media.NetPolicy{}).Permits(ip), !media.IsForbiddenIP(ip); got != want {
			t.Fatalf("Permits(%v) = %v, IsForbiddenIP says %v", ip, got, !want)
		}
		if !(media.NetPolicy{AllowPrivate: true}).Permits(ip) {
			t.Fatalf("AllowPrivate refuses %v", ip)
		}
	})
}

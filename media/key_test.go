package media_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/recap/recap/media"
)

func genericKey(normalized string) string {
	sum := sha256.Sum256([]byte(normalized))
	return "generic:" + hex.EncodeToString(sum[:])
}

func TestCanonicalKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string
	}{
		// Bilibili
		{"bv", "https://www.bilibili.com/video/BV1Sk4y1x7r2", "bilibili:BV1Sk4y1x7r2:p1"},
		{"bv trailing slash", "https://www.bilibili.com/video/BV1Sk4y1x7r2/", "bilibili:BV1Sk4y1x7r2:p1"},
		{"bv no www", "https://bilibili.com/video/BV1Sk4y1x7r2", "bilibili:BV1Sk4y1x7r2:p1"},
		{"bv mobile", "https://m.bilibili.com/video/BV1Sk4y1x7r2", "bilibili:BV1Sk4y1x7r2:p1"},
		{"bv http upper host", "http://WWW.BILIBILI.COM/video/BV1Sk4y1x7r2", "bilibili:BV1Sk4y1x7r2:p1"},
		{"bv lowercase prefix", "https://www.bilibili.com/video/bv1Sk4y1x7r2", "bilibili:BV1Sk4y1x7r2:p1"},
		{"bv part", "https://www.bilibili.com/video/BV1Sk4y1x7r2?p=3", "bilibili:BV1Sk4y1x7r2:p3"},
		{"bv part with tracking", "https://www.bilibili.com/video/BV1Sk4y1x7r2/?p=2&spm_id_from=333.1007&vd_source=abc", "bilibili:BV1Sk4y1x7r2:p2"},
		{"bv bad part", "https://www.bilibili.com/video/BV1Sk4y1x7r2?p=zero", "bilibili:BV1Sk4y1x7r2:p1"},
		{"bv negative part", "https://www.bilibili.com/video/BV1Sk4y1x7r2?p=-4", "bilibili:BV1Sk4y1x7r2:p1"},
		{"bv fragment", "https://www.bilibili.com/video/BV1Sk4y1x7r2#reply123", "bilibili:BV1Sk4y1x7r2:p1"},
		{"bv /s/ share path", "https://www.bilibili.com/s/video/BV1Sk4y1x7r2", "bilibili:BV1Sk4y1x7r2:p1"},
		{"av converted", "https://www.bilibili.com/video/av170001", "bilibili:BV17x411w7KC:p1"},
		{"av upper", "https://www.bilibili.com/video/AV170001/?p=2", "bilibili:BV17x411w7KC:p2"},
		{"av big", "https://m.bilibili.com/video/av111298867365120", "bilibili:BV1L9Uoa9EUx:p1"},
		{"av out of range", "https://www.bilibili.com/video/av9999999999999999", "bilibili:av9999999999999999:p1"},
		// YouTube
		{"watch", "https://www.youtube.com/watch?v=dQw4w9WgXcQ", "youtube:dQw4w9WgXcQ"},
		{"watch extra params", "https://www.youtube.com/watch?feature=share&v=dQw4w9WgXcQ&t=42s&list=PL123", "youtube:dQw4w9WgXcQ"},
		{"watch mobile", "https://m.youtube.com/watch?v=dQw4w9WgXcQ", "youtube:dQw4w9WgXcQ"},
		{"watch music", "https://music.youtube.com/watch?v=dQw4w9WgXcQ&si=xyz", "youtube:dQw4w9WgXcQ"},
		{"watch no www http", "http://youtube.com/watch?v=dQw4w9WgXcQ", "youtube:dQw4w9WgXcQ"},
		{"youtu.be", "https://youtu.be/dQw4w9WgXcQ", "youtube:dQw4w9WgXcQ"},
		{"youtu.be si", "https://youtu.be/dQw4w9WgXcQ?si=AbCdEf&t=10", "youtube:dQw4w9WgXcQ"},
		{"shorts", "https://www.youtube.com/shorts/dQw4w9WgXcQ", "youtube:dQw4w9WgXcQ"},
		{"embed", "https://www.youtube.com/embed/dQw4w9WgXcQ?autoplay=1", "youtube:dQw4w9WgXcQ"},
		{"nocookie embed", "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ", "youtube:dQw4w9WgXcQ"},
		{"live", "https://www.youtube.com/live/dQw4w9WgXcQ?feature=shared", "youtube:dQw4w9WgXcQ"},
		{"id with dash underscore", "https://youtu.be/a-b_c-d_e-f", "youtube:a-b_c-d_e-f"},
		// Generic
		{"b23 short link", "https://b23.tv/AbCdEf", genericKey("https://b23.tv/AbCdEf")},
		{"b23 tracking dropped", "https://b23.tv/AbCdEf?share_source=copy_web", genericKey("https://b23.tv/AbCdEf")},
		{"youtube channel is generic", "https://www.youtube.com/@someone", genericKey("https://www.youtube.com/@someone")},
		{"youtube bad id is generic", "https://youtu.be/short", genericKey("https://youtu.be/short")},
		{"bilibili non-video", "https://www.bilibili.com/bangumi/play/ep123", genericKey("https://www.bilibili.com/bangumi/play/ep123")},
		{"generic plain", "https://example.com/v/1.mp4", genericKey("https://example.com/v/1.mp4")},
		{"generic case and port", "HTTPS://Example.COM:443/v/1.mp4", genericKey("https://example.com/v/1.mp4")},
		{"generic http port", "http://example.com:80/a", genericKey("http://example.com/a")},
		{"generic keeps other port", "http://example.com:8080/a", genericKey("http://example.com:8080/a")},
		{"generic empty path", "https://example.com", genericKey("https://example.com/")},
		{"generic sorted query", "https://example.com/a?z=1&a=2", genericKey("https://example.com/a?a=2&z=1")},
		{"generic tracking", "https://example.com/a?utm_source=x&b=1&fbclid=y&UTM_Medium=z&gclid=g", genericKey("https://example.com/a?b=1")},
		{"generic fragment", "https://example.com/a#t=10", genericKey("https://example.com/a")},
		{"generic path case kept", "https://example.com/Video/ABC", genericKey("https://example.com/Video/ABC")},
		{"generic ipv6", "http://[2001:DB8::1]:80/x", genericKey("http://[2001:db8::1]/x")},
		{"generic ipv6 zone", "http://[fe80::1%25eth0]/x", genericKey("http://[fe80::1%25eth0]/x")},
		{"generic surrounding space", "  https://example.com/a  ", genericKey("https://example.com/a")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := media.CanonicalKey(tt.in)
			if err != nil {
				t.Fatalf("CanonicalKey(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("CanonicalKey(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCanonicalKeyBadURL(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"", "   ", "ftp://example.com/a", "file:///etc/passwd", "javascript:alert(1)",
		"www.youtube.com/watch?v=dQw4w9WgXcQ", "https://", "http:///path", "--exec=id",
		"https://exa mple.com/", "mailto:a@b.c", "http://%zz/",
	} {
		if _, err := media.CanonicalKey(in); !errors.Is(err, media.ErrBadURL) {
			t.Errorf("CanonicalKey(%q) error = %v, want ErrBadURL", in, err)
		}
	}
}

func TestAVToBV(t *testing.T) {
	t.Parallel()
	tests := []struct {
		aid  uint64
		want string
		ok   bool
	}{
		{2, "BV1xx411c7mD", true},
		{170001, "BV17x411w7KC", true},
		{111298867365120, "BV1L9Uoa9EUx", true},
		{0, "", false},
		{1 << 51, "", false},
	}
	for _, tt := range tests {
		got, ok := media.AVToBV(tt.aid)
		if got != tt.want || ok != tt.ok {
			t.Errorf("AVToBV(%d) = %q, %v; want %q, %v", tt.aid, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzCanonicalKey(f *testing.F) {
	for _, s := range []string{
		"https://www.bilibili.com/video/BV1Sk4y1x7r2?p=2&spm_id_from=1",
		"https://www.bilibili.com/video/av170001",
		"https://youtu.be/dQw4w9WgXcQ?si=x",
		"https://www.youtube.com/watch?v=dQw4w9WgXcQ",
		"https://b23.tv/xyz",
		"HTTP://Example.com:80/a?b=1&a=2&utm_source=z#frag",
		"http://[::1]:8080/x?%zz=1",
		"http://[fe80::1%25Eth0]:80/x",
		"http://user:p%40ss@Host.com/",
		"http://0x7f000001/",
		"ftp://x",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		key, err := media.CanonicalKey(in)
		if err != nil {
			if !errors.Is(err, media.ErrBadURL) {
				t.Fatalf("CanonicalKey(%q): error %v is not ErrBadURL", in, err)
			}
			return
		}
		if !strings.HasPrefix(key, "bilibili:") && !strings.HasPrefix(key, "youtube:") && !strings.HasPrefix(key, "generic:") {
			t.Fatalf("CanonicalKey(%q) = %q: unknown kind", in, key)
		}
		n, err := media.NormalizeURL(in)
		if err != nil {
			t.Fatalf("NormalizeURL(%q) failed after CanonicalKey succeeded: %v", in, err)
		}
		n2, err := media.NormalizeURL(n)
		if err != nil {
			t.Fatalf("NormalizeURL(%q) (normalized from %q): %v", n, in, err)
		}
		if n2 != n {
			t.Fatalf("NormalizeURL not idempotent: %q -> %q -> %q", in, n, n2)
		}
		if strings.HasPrefix(key, "generic:") {
			k2, err := media.CanonicalKey(n)
			if err != nil || k2 != key {
				t.Fatalf("CanonicalKey(normalized %q) = %q, %v; want %q", n, k2, err, key)
			}
		}
	})
}

package media_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/recap/recap/media"
)

func genericKey(normalized string) string {
	sum := sha256.Sum256([]byte(normalized))
	return "generic:" + hex.EncodeToString(sum[:])
}

// keyCase is one row of a site's table: a URL and the key it must get.
type keyCase struct {
	name string
	in   string
	want string
}

// siteTables holds each site's table (site_<name>_test.go), so
// TestEverySiteHasATable can see that no rule goes untested.
var siteTables = map[string][]keyCase{}

// siteTable registers a site's table and returns it.
func siteTable(site string, cases []keyCase) []keyCase {
	siteTables[site] = cases
	return cases
}

// runKeyTable checks every row of a table, and that the site's own rows
// (those not expected generic) carry its prefix.
func runKeyTable(t *testing.T, site string, tests []keyCase) {
	t.Helper()
	ownRows := 0
	for _, tt := range tests {
		if site != "" && !strings.HasPrefix(tt.want, "generic:") {
			if !strings.HasPrefix(tt.want, site+":") {
				t.Errorf("row %q of the %s table expects %q, a key of another site", tt.name, site, tt.want)
			}
			ownRows++
		}
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
	if site != "" && ownRows == 0 {
		t.Errorf("the %s table has no row with a %s key", site, site)
	}
}

// TestEverySiteHasATable: each site rule (media.Sites) has a table of its
// own, so adding a site without its tests fails here.
func TestEverySiteHasATable(t *testing.T) {
	t.Parallel()
	for _, s := range media.Sites() {
		if len(siteTables[s]) == 0 {
			t.Errorf("site %q has no key table: add site_%s_test.go with a siteTable(%q, ...)", s, s, s)
		}
	}
	for s := range siteTables {
		if !slices.Contains(media.Sites(), s) {
			t.Errorf("table for %q, which is no site rule", s)
		}
	}
}

func TestCanonicalKeyGeneric(t *testing.T) {
	t.Parallel()
	runKeyTable(t, "", []keyCase{
		// Generic
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
	})
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
		"https://b23.tv/BV1Sk4y1x7r2?p=2",
		"https://www.bilibili.com/list/watchlater?bvid=BV1Sk4y1x7r2&oid=1",
		"https://www.douyin.com/video/7301234567890123456",
		"https://www.tiktok.com/@user/video/7301234567890123456",
		"https://www.xiaohongshu.com/explore/64a1b2c3d4e5f60718293a4b",
		"https://vimeo.com/76979871",
		"https://player.vimeo.com/video/76979871",
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
		kind, id, _ := strings.Cut(key, ":")
		if kind != "generic" && !slices.Contains(media.Sites(), kind) {
			t.Fatalf("CanonicalKey(%q) = %q: unknown kind", in, key)
		}
		if id == "" || strings.ContainsAny(id, "/?#&= \t\n") {
			t.Fatalf("CanonicalKey(%q) = %q: the id is empty or holds URL syntax", in, key)
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

// TestNormalizeSpaces: white space in a query is escaped, so the
// normalized form parses back to itself; other bytes stay as sent.
func TestNormalizeSpaces(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"https://example.com/a?p= #frag", "https://example.com/a?p=%20"},
		{"https://example.com/a?q=a b&z=1", "https://example.com/a?q=a%20b&z=1"},
		{"https://example.com/a?q=\u00a0x", "https://example.com/a?q=%C2%A0x"},
		{"https://example.com/a?q=\xff x", "https://example.com/a?q=\xff%20x"},
		{"https://example.com/a?q=%20", "https://example.com/a?q=%20"},
	}
	for _, tt := range tests {
		got, err := media.NormalizeURL(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("NormalizeURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// TestStableID: only the site rules' extractors join URL forms by id;
// the generic extractor's ids are file names and never do.
func TestStableID(t *testing.T) {
	t.Parallel()
	for _, k := range []string{"BiliBili", "Youtube", "Douyin", "TikTok", "XiaoHongShu", "Vimeo"} {
		if !media.StableID(k) {
			t.Errorf("StableID(%q) = false", k)
		}
	}
	for _, k := range []string{"Generic", "generic", "", "upload", "YoutubeTab", "BiliBiliBangumi", "bilibili"} {
		if media.StableID(k) {
			t.Errorf("StableID(%q) = true", k)
		}
	}
}

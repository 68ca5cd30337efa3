package media

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	ytdlp "github.com/lrstanley/go-ytdlp"
)

// Operator cookies (COOKIES_DIR). Some sites serve signed-in sessions
// only: YouTube's "confirm you're not a bot", members-only and age-gated
// videos, Bilibili's AI subtitles and higher formats. The operator exports
// a signed-in browser's cookies in Netscape format, one file per site
// named by its domain ("youtube.com.txt", "bilibili.com.txt"), and every
// yt-dlp run for a URL of that site gets them through --cookies.
//
// Each run gets a private copy, made in its own temporary directory and
// removed with it: yt-dlp rewrites its cookie file when it exits, and two
// runs must not share one. The copy holds only the site's own cookies
// (its domain and subdomains), so a whole-browser export cannot hand one
// site's session to another. Cookie values are never logged, and appear
// in no error, job row, event or reply: Recap reads the file only to copy
// it and to learn when its cookies expire.

// cookieAliases maps hosts that belong to a site under another domain.
var cookieAliases = map[string]string{
	"youtu.be":             "youtube.com",
	"youtube-nocookie.com": "youtube.com",
	"b23.tv":               "bilibili.com",
	"bili2233.cn":          "bilibili.com",
	"v.douyin.com":         "douyin.com",
	"iesdouyin.com":        "douyin.com",
	"vm.tiktok.com":        "tiktok.com",
	"xhslink.com":          "xiaohongshu.com",
}

// cookieSite returns the site whose cookie file serves rawURL (a file
// "<site>.txt" in dir exists), or "".
func cookieSite(dir, rawURL string) string {
	if dir == "" {
		return ""
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "" {
		return ""
	}
	candidates := []string{}
	if a, ok := cookieAliases[host]; ok {
		candidates = append(candidates, a)
	}
	if net.ParseIP(host) != nil {
		candidates = append(candidates, host)
	} else {
		// www.youtube.com, youtube.com: the longest name with a file wins.
		labels := strings.Split(host, ".")
		for i := 0; i+2 <= len(labels); i++ {
			d := strings.Join(labels[i:], ".")
			if a, ok := cookieAliases[d]; ok {
				candidates = append(candidates, a)
			}
			candidates = append(candidates, d)
		}
	}
	for _, site := range candidates {
		if !validSiteName(site) {
			continue
		}
		if st, err := os.Stat(filepath.Join(dir, site+".txt")); err == nil && st.Mode().IsRegular() {
			return site
		}
	}
	return ""
}

// validSiteName keeps file names to domain characters.
func validSiteName(s string) bool {
	if s == "" || len(s) > 253 || strings.HasPrefix(s, ".") || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == ':') {
			return false
		}
	}
	return true
}

// maxCookieFile bounds a cookie file read into memory.
const maxCookieFile = 4 << 20

// cookieLine is one cookie of a Netscape cookie file.
type cookieLine struct {
	domain  string
	expires int64 // Unix seconds; 0 for a session cookie
}

// parseCookieLine reads the fields Recap needs; ok is false for comments,
// blank lines and malformed lines. "#HttpOnly_" prefixes a real cookie.
func parseCookieLine(line string) (cookieLine, bool) {
	line = strings.TrimRight(line, "\r\n")
	if rest, ok := strings.CutPrefix(line, "#HttpOnly_"); ok {
		line = rest
	} else if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
		return cookieLine{}, false
	}
	f := strings.Split(line, "\t")
	if len(f) != 7 {
		return cookieLine{}, false
	}
	exp, err := strconv.ParseInt(strings.TrimSpace(f[4]), 10, 64)
	if err != nil {
		return cookieLine{}, false
	}
	return cookieLine{domain: strings.ToLower(strings.TrimPrefix(strings.TrimSpace(f[0]), ".")), expires: exp}, true
}

// ofSite reports whether a cookie's domain is the site or below it.
func (c cookieLine) ofSite(site string) bool {
	return c.domain == site || strings.HasSuffix(c.domain, "."+site)
}

// readCookieFile reads a site's cookie file, bounded.
func readCookieFile(dir, site string) ([]byte, error) {
	data, err := readCapped(filepath.Join(dir, site+".txt"), maxCookieFile)
	if err != nil {
		// The error names the file, never its content.
		return nil, fmt.Errorf("cookies for %s: %w", site, err)
	}
	return data, nil
}

// withCookies gives cmd a private copy of the operator's cookies for
// pageURL's site, made in a new directory under TempDir; cleanup removes
// it. Without a file for the site it does nothing.
func (c *Client) withCookies(cmd *ytdlp.Command, pageURL string) (cleanup func(), err error) {
	site := cookieSite(c.cfg.CookiesDir, pageURL)
	if site == "" {
		return func() {}, nil
	}
	tmp, err := os.MkdirTemp(c.cfg.TempDir, "recap-cookies-")
	if err != nil {
		return nil, fmt.Errorf("cookies: %w", err)
	}
	cleanup = func() { os.RemoveAll(tmp) }
	path, err := privateCookies(c.cfg.CookiesDir, site, tmp)
	if err != nil {
		cleanup()
		return nil, err
	}
	if path != "" {
		cmd.Cookies(path)
	}
	return cleanup, nil
}

// privateCookies writes the site's cookies from dir into a new file in
// tmp and returns its path, "" when the file holds none for the site.
func privateCookies(dir, site, tmp string) (string, error) {
	data, err := readCookieFile(dir, site)
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	out.WriteString("# Netscape HTTP Cookie File\n")
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), maxCookieFile)
	for sc.Scan() {
		line := sc.Text()
		if c, ok := parseCookieLine(line); ok && c.ofSite(site) {
			out.WriteString(line)
			out.WriteByte('\n')
			n++
		}
	}
	if n == 0 {
		return "", nil
	}
	path := filepath.Join(tmp, "cookies.txt")
	if err := os.WriteFile(path, out.Bytes(), 0o600); err != nil {
		return "", fmt.Errorf("cookies for %s: %w", site, err)
	}
	return path, nil
}

// CookieSite is one site's operator cookies as /readyz and the metrics
// report them: never their values.
type CookieSite struct {
	// Site is the file's name without ".txt" ("youtube.com").
	Site string
	// Cookies counts the site's cookies in the file.
	Cookies int
	// EarliestExpiry is when the first of its cookies with an expiry
	// expires; zero when all are session cookies. Past it, the site may
	// stop treating the worker as signed in.
	EarliestExpiry time.Time
}

// Cookies lists the operator's cookie files (COOKIES_DIR) with the
// earliest expiry of each, read now: replacing a file takes effect at the
// next run, without a restart.
func (c *Client) Cookies() ([]CookieSite, error) { return CookieSites(c.cfg.CookiesDir) }

// CookieSites lists the cookie files in dir (a COOKIES_DIR) with the
// earliest expiry of each, as Client.Cookies does: for a process with no
// media client, such as the API's /readyz. An empty dir lists nothing.
func CookieSites(dir string) ([]CookieSite, error) {
	if dir == "" {
		return nil, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("COOKIES_DIR: %w", err)
	}
	var out []CookieSite
	for _, e := range entries {
		site, ok := strings.CutSuffix(e.Name(), ".txt")
		// Symlinks too: Kubernetes mounts a Secret's keys as symlinks.
		if !ok || !validSiteName(site) || !e.Type().IsRegular() && e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		data, err := readCookieFile(dir, site)
		if err != nil {
			return nil, err
		}
		cs := CookieSite{Site: site}
		for _, line := range strings.Split(string(data), "\n") {
			cl, ok := parseCookieLine(line)
			if !ok || !cl.ofSite(site) {
				continue
			}
			cs.Cookies++
			if cl.expires > 0 {
				if t := time.Unix(cl.expires, 0); cs.EarliestExpiry.IsZero() || t.Before(cs.EarliestExpiry) {
					cs.EarliestExpiry = t
				}
			}
		}
		out = append(out, cs)
	}
	return out, nil
}

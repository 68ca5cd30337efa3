package media

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Egress is the worker's forward proxy: yt-dlp is started with --proxy
// pointing at it, so every connection yt-dlp makes — the page, each
// redirect, the media and subtitle URLs a page points to, HLS segments —
// goes through one place that resolves the target itself and checks every
// address at connection time against a NetPolicy. A URL that passed the
// API's pre-flight check cannot redirect or point the worker inside, and a
// name that resolves differently the second time (DNS rebinding) gains
// nothing: the proxy dials the addresses it checked.
//
// Each yt-dlp run gets its own credentials, so the proxy can tell the
// client which run was refused (ErrURLNotAllowed rather than an opaque
// HTTP 403) and cap the bytes one run downloads, which also bounds streams
// that carry no Content-Length. Requests without valid credentials get
// 407, so no other local process can use the proxy.
//
// It listens on 127.0.0.1 on a random port and is safe for concurrent use.
type Egress struct {
	cfg  EgressConfig
	log  *slog.Logger
	ln   net.Listener
	srv  *http.Server
	tr   *http.Transport
	dial net.Dialer

	mu     sync.Mutex
	runs   map[string]*egressRun
	closed bool

	// up, when set, is an operator's HTTP proxy every checked connection
	// goes through (YTDLP_EXTRA_ARGS --proxy).
	up atomic.Pointer[egressUpstream]
}

// EgressConfig configures an Egress.
type EgressConfig struct {
	// Policy decides which addresses may be contacted.
	Policy NetPolicy
	// DialTimeout bounds each connection attempt; default 30s.
	DialTimeout time.Duration
	// Logger receives a line per refused connection; default discards.
	Logger *slog.Logger
}

// StartEgress listens on a random loopback port and serves until Close.
func StartEgress(cfg EgressConfig) (*Egress, error) {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("egress: %w", err)
	}
	e := &Egress{cfg: cfg, log: cfg.Logger, ln: ln, runs: map[string]*egressRun{}}
	e.dial = net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	e.tr = &http.Transport{
		Proxy:                 nil, // never chain to HTTP_PROXY from the environment
		DialContext:           e.dialChecked,
		DisableCompression:    true, // pass bodies through as the origin sent them
		MaxIdleConns:          64,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		TLSHandshakeTimeout:   15 * time.Second,
	}
	e.srv = &http.Server{Handler: e, ReadHeaderTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(e.log.Handler(), slog.LevelDebug)}
	go e.srv.Serve(ln) //nolint:errcheck // ends with ErrServerClosed on Close
	return e, nil
}

// Addr is the proxy's listening address (127.0.0.1:port).
func (e *Egress) Addr() string { return e.ln.Addr().String() }

// serveJailed serves a listener made inside a download's network
// namespace until it is closed (or the proxy is).
func (e *Egress) serveJailed(ln net.Listener) {
	go e.srv.Serve(ln) //nolint:errcheck // ends when ln or the proxy closes
}

// Close stops the proxy and cuts every open connection.
func (e *Egress) Close() error {
	e.mu.Lock()
	e.closed = true
	runs := make([]*egressRun, 0, len(e.runs))
	for _, r := range e.runs {
		runs = append(runs, r)
	}
	e.mu.Unlock()
	for _, r := range runs {
		r.cut()
	}
	err := e.srv.Close()
	e.tr.CloseIdleConnections()
	return err
}

// errEgressClosed is returned by Begin after Close.
var errEgressClosed = errors.New("egress proxy closed")

// EgressRun is one client's use of the proxy: its proxy URL carries the
// credentials that attribute connections to it. End it when the client
// has exited.
type EgressRun = egressRun

type egressRun struct {
	e     *Egress
	token string
	max   int64 // bytes from origins to the client; 0 = no cap
	n     atomic.Int64

	mu     sync.Mutex
	denied []string
	over   bool
	conns  map[net.Conn]struct{}
}

// Begin registers a run whose downloads may total at most maxBytes
// (0 = no cap).
func (e *Egress) Begin(maxBytes int64) (*EgressRun, error) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	r := &egressRun{e: e, token: hex.EncodeToString(b), max: maxBytes, conns: map[net.Conn]struct{}{}}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, errEgressClosed
	}
	e.runs[r.token] = r
	return r, nil
}

// ProxyURL is the run's value for yt-dlp's --proxy.
func (r *egressRun) ProxyURL() string { return "http://recap:" + r.token + "@" + r.e.Addr() }

// End forgets the run and cuts whatever connections it left open.
func (r *egressRun) End() {
	r.e.mu.Lock()
	delete(r.e.runs, r.token)
	r.e.mu.Unlock()
	r.cut()
}

// Denied describes the connections the policy refused, "" when none.
func (r *egressRun) Denied() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.denied, "; ")
}

// OverLimit reports whether the run hit its byte cap.
func (r *egressRun) OverLimit() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.over
}

// Bytes is how many bytes origins sent to the run so far.
func (r *egressRun) Bytes() int64 { return r.n.Load() }

func (r *egressRun) deny(what string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.denied) < 8 {
		r.denied = append(r.denied, what)
	}
}

// add counts n more bytes and reports false once the cap is exceeded.
func (r *egressRun) add(n int) bool {
	total := r.n.Add(int64(n))
	if r.max > 0 && total > r.max {
		r.mu.Lock()
		r.over = true
		r.mu.Unlock()
		return false
	}
	return true
}

func (r *egressRun) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conns == nil {
		return false
	}
	r.conns[c] = struct{}{}
	return true
}

func (r *egressRun) untrack(c net.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.conns, c)
}

func (r *egressRun) cut() {
	r.mu.Lock()
	conns := r.conns
	r.conns = nil
	r.mu.Unlock()
	for c := range conns {
		c.Close()
	}
}

// deniedError is a connection the policy refused.
type deniedError struct{ msg string }

func (d *deniedError) Error() string { return d.msg }
func (d *deniedError) Unwrap() error { return ErrURLNotAllowed }

// dialChecked resolves addr's host, refuses it when any of its addresses
// is not permitted, and dials the checked addresses only.
func (e *Egress) dialChecked(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ips, err := e.cfg.Policy.resolve(ctx, host)
	if err != nil {
		if errors.Is(err, ErrURLNotAllowed) {
			return nil, &deniedError{msg: fmt.Sprintf("%s: %v", addr, err)}
		}
		return nil, err
	}
	up := e.up.Load()
	var firstErr error
	for _, ip := range ips {
		target := net.JoinHostPort(ip.String(), port)
		var c net.Conn
		var err error
		if up != nil {
			c, err = up.connectVia(ctx, &e.dial, target)
		} else {
			c, err = e.dial.DialContext(ctx, "tcp", target)
		}
		if err == nil {
			return c, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, firstErr
}

// checkedAddr resolves hostport's host (defaultPort when it has none)
// under the policy and returns the first permitted address with its port.
func (e *Egress) checkedAddr(ctx context.Context, hostport, defaultPort string) (string, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = strings.Trim(hostport, "[]"), defaultPort
	}
	ips, err := e.cfg.Policy.resolve(ctx, host)
	if err != nil {
		if errors.Is(err, ErrURLNotAllowed) {
			return "", &deniedError{msg: fmt.Sprintf("%s: %v", hostport, err)}
		}
		return "", err
	}
	return net.JoinHostPort(ips[0].String(), port), nil
}

// hopHeaders are connection-scoped and never forwarded (RFC 9110 7.6.1).
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func stripHop(h http.Header) {
	for _, f := range h.Values("Connection") {
		for _, k := range strings.Split(f, ",") {
			if k = strings.TrimSpace(k); k != "" {
				h.Del(k)
			}
		}
	}
	for _, k := range hopHeaders {
		h.Del(k)
	}
}

// run finds the run named by a request's Proxy-Authorization.
func (e *Egress) run(r *http.Request) *egressRun {
	auth, ok := strings.CutPrefix(r.Header.Get("Proxy-Authorization"), "Basic ")
	if !ok {
		return nil
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(auth))
	if err != nil {
		return nil
	}
	_, token, _ := strings.Cut(string(raw), ":")
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.runs[token]
}

// egressUpstream is an operator's HTTP proxy behind the egress proxy.
// Targets are still resolved and checked by the egress proxy, and the
// upstream is asked for the checked address itself (CONNECT 203.0.113.7:443,
// GET http://203.0.113.7/...), so it cannot be steered to another one; it
// is the operator's own, so its address is not checked.
type egressUpstream struct {
	addr string // host:port
	auth string // Proxy-Authorization value, "" without credentials
	tr   *http.Transport
}

// setUpstream routes every connection through the HTTP proxy at raw
// (http://[user:password@]host[:port]).
func (e *Egress) setUpstream(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Hostname() == "" || u.Path != "" && u.Path != "/" {
		return errors.New("--proxy: want http://[user:password@]host:port (an HTTP proxy; SOCKS is not supported behind the egress proxy)")
	}
	up := &egressUpstream{addr: u.Host}
	if u.Port() == "" {
		up.addr = net.JoinHostPort(u.Hostname(), "80")
	}
	if u.User != nil {
		pw, _ := u.User.Password()
		up.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pw))
	}
	up.tr = &http.Transport{
		Proxy:                 http.ProxyURL(u),
		DialContext:           e.dial.DialContext,
		DisableCompression:    true,
		MaxIdleConns:          64,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
	}
	if old := e.up.Swap(up); old != nil {
		old.tr.CloseIdleConnections()
	}
	return nil
}

// connectVia opens a tunnel to target (a checked ip:port) through the
// upstream proxy.
func (up *egressUpstream) connectVia(ctx context.Context, d *net.Dialer, target string) (net.Conn, error) {
	c, err := d.DialContext(ctx, "tcp", up.addr)
	if err != nil {
		return nil, fmt.Errorf("upstream proxy: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl) //nolint:errcheck
	} else {
		c.SetDeadline(time.Now().Add(d.Timeout)) //nolint:errcheck
	}
	req := "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n"
	if up.auth != "" {
		req += "Proxy-Authorization: " + up.auth + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		c.Close()
		return nil, fmt.Errorf("upstream proxy: %w", err)
	}
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("upstream proxy: %w", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		c.Close()
		return nil, fmt.Errorf("upstream proxy answered CONNECT with %s", res.Status)
	}
	c.SetDeadline(time.Time{}) //nolint:errcheck
	if br.Buffered() > 0 {
		return &bufferedConn{Conn: c, r: br}, nil
	}
	return c, nil
}

// bufferedConn is a connection whose first bytes were read ahead.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// ServeHTTP implements the proxy: CONNECT tunnels for https, absolute-form
// requests for plain http.
func (e *Egress) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	run := e.run(r)
	if run == nil {
		w.Header().Set("Proxy-Authenticate", `Basic realm="recap egress"`)
		http.Error(w, "proxy credentials required", http.StatusProxyAuthRequired)
		return
	}
	if r.Method == http.MethodConnect {
		e.connect(w, r, run)
		return
	}
	if !r.URL.IsAbs() || r.URL.Scheme != "http" || r.URL.Host == "" {
		http.Error(w, "only absolute http:// requests and CONNECT are proxied", http.StatusBadRequest)
		return
	}
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.Header = r.Header.Clone()
	stripHop(out.Header)
	if out.Header.Get("User-Agent") == "" {
		out.Header.Set("User-Agent", "") // do not add Go's
	}
	tr := e.tr
	if up := e.up.Load(); up != nil {
		// The upstream gets the checked address, the origin its name.
		addr, err := e.checkedAddr(r.Context(), r.URL.Host, "80")
		if err != nil {
			e.refuse(w, run, r.URL.Host, err)
			return
		}
		out.URL.Host, tr = addr, up.tr
	}
	res, err := tr.RoundTrip(out)
	if err != nil {
		e.refuse(w, run, r.URL.Host, err)
		return
	}
	defer res.Body.Close()
	if to := offHTTPRedirect(res); to != "" {
		// Clients must not follow it; one that would is stopped here, and
		// the run is told why (a permanent refusal, not a retry).
		msg := fmt.Sprintf("%s redirected to a %s URL", r.URL.Redacted(), to)
		run.deny(msg)
		e.log.Warn("egress: refused", "target", r.URL.Host, "reason", msg)
		http.Error(w, "recap egress policy: "+msg, http.StatusForbidden)
		return
	}
	stripHop(res.Header)
	for k, v := range res.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(res.StatusCode)
	if err := copyCounted(w, res.Body, run); errors.Is(err, errOverLimit) {
		// Cut the connection so the client sees a truncated body, not a
		// complete short file.
		panic(http.ErrAbortHandler)
	}
}

// refuse answers a failed upstream connection: 403 when the policy
// refused it, 502 otherwise.
func (e *Egress) refuse(w http.ResponseWriter, run *egressRun, target string, err error) {
	var d *deniedError
	if errors.As(err, &d) {
		run.deny(d.msg)
		e.log.Warn("egress: refused", "target", target, "reason", d.msg)
		http.Error(w, "recap egress policy: "+d.msg, http.StatusForbidden)
		return
	}
	http.Error(w, "upstream: "+err.Error(), http.StatusBadGateway)
}

// offHTTPRedirect returns the scheme of a redirect's target when that is
// not http(s) (file:, ftp:, gopher:...), else "".
func offHTTPRedirect(res *http.Response) string {
	if res.StatusCode < 300 || res.StatusCode > 399 {
		return ""
	}
	loc, err := res.Location()
	if err != nil || loc.Scheme == "http" || loc.Scheme == "https" {
		return ""
	}
	return loc.Scheme + ":"
}

var errOverLimit = errors.New("egress: byte cap exceeded")

// copyCounted copies r to w, counting the bytes against the run's cap and
// flushing after every write so streamed responses keep moving.
func copyCounted(w io.Writer, r io.Reader, run *egressRun) error {
	f, _ := w.(http.Flusher)
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if !run.add(n) {
				return errOverLimit
			}
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if f != nil {
				f.Flush()
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// connect opens a checked tunnel to r.Host.
func (e *Egress) connect(w http.ResponseWriter, r *http.Request, run *egressRun) {
	target := r.Host
	if _, _, err := net.SplitHostPort(target); err != nil {
		http.Error(w, "CONNECT needs host:port", http.StatusBadRequest)
		return
	}
	up, err := e.dialChecked(r.Context(), "tcp", target)
	if err != nil {
		e.refuse(w, run, target, err)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		up.Close()
		http.Error(w, "hijacking not supported", http.StatusInternalServerError)
		return
	}
	client, rw, err := hj.Hijack()
	if err != nil {
		up.Close()
		return
	}
	if !run.track(up) || !run.track(client) {
		up.Close()
		client.Close()
		return
	}
	defer func() {
		run.untrack(up)
		run.untrack(client)
		up.Close()
		client.Close()
	}()
	if _, err := io.WriteString(client, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Client to origin: what the client already sent after CONNECT is
		// in rw's buffer.
		io.Copy(up, io.MultiReader(io.LimitReader(rw.Reader, int64(rw.Reader.Buffered())), client)) //nolint:errcheck
		if tc, ok := up.(*net.TCPConn); ok {
			tc.CloseWrite() //nolint:errcheck
		}
	}()
	copyCounted(client, up, run) //nolint:errcheck
	client.Close()
	up.Close()
	<-done
}

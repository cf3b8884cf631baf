package rootfs

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// httpGet writes the body of an http:// URL to w. It is written by hand,
// over net, because net/http (and the TLS stack it pulls in) doubles the
// cold compile time of cmd/zabrootfs, which `make run` waits for before
// anything else starts (see the package comment). Plain HTTP is what apt
// and debootstrap use with Debian mirrors too: what is fetched is trusted
// through the signed Release file and the SHA256 sums it chains to, not
// through the transport. It honours http_proxy and follows a few
// redirects. It asks for HTTP/1.1 (some mirrors and caches refuse 1.0)
// with Connection: close, so a body ends at its length, its last chunk or
// the connection's end.
func httpGet(ctx context.Context, rawURL string, w io.Writer) (int64, error) {
	for hop := 0; hop < 5; hop++ {
		n, location, err := httpGetOnce(ctx, rawURL, w)
		if err != nil || location == "" {
			return n, err
		}
		next, err := url.Parse(rawURL)
		if err == nil {
			next, err = next.Parse(location)
		}
		if err != nil {
			return 0, fmt.Errorf("get %s: bad redirect %q: %w", rawURL, location, err)
		}
		rawURL = next.String()
	}
	return 0, fmt.Errorf("get %s: too many redirects", rawURL)
}

// httpGetOnce does one request; a redirect returns its Location and
// writes nothing.
func httpGetOnce(ctx context.Context, rawURL string, w io.Writer) (n int64, location string, err error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return 0, "", fmt.Errorf("get %s: %w", rawURL, err)
	}
	if u.Scheme != "http" {
		return 0, "", fmt.Errorf("get %s: only http:// mirrors are supported (what is fetched is verified against the signed Release file; set an http mirror)", rawURL)
	}
	addr, target := hostPort(u.Host), u.RequestURI()
	if p := proxyFor(u.Hostname()); p != nil {
		addr, target = hostPort(p.Host), rawURL
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, "", fmt.Errorf("get %s: %w", rawURL, err)
	}
	// Closing the connection is what unblocks a read when ctx ends.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer func() {
		if !stop() && err != nil {
			err = fmt.Errorf("get %s: %w", rawURL, ctx.Err())
		}
		conn.Close()
	}()
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: zabrootfs\r\nConnection: close\r\n\r\n", target, u.Host); err != nil {
		return 0, "", fmt.Errorf("get %s: %w", rawURL, err)
	}
	br := bufio.NewReader(conn)
	status, err := br.ReadString('\n')
	if err != nil {
		return 0, "", fmt.Errorf("get %s: read status: %w", rawURL, err)
	}
	fields := strings.Fields(status)
	if len(fields) < 2 || !strings.HasPrefix(fields[0], "HTTP/") {
		return 0, "", fmt.Errorf("get %s: bad status line %q", rawURL, strings.TrimSpace(status))
	}
	code, err := strconv.Atoi(fields[1])
	if err != nil {
		return 0, "", fmt.Errorf("get %s: bad status line %q", rawURL, strings.TrimSpace(status))
	}
	length, chunked := int64(-1), false
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return 0, "", fmt.Errorf("get %s: read headers: %w", rawURL, err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		k, v, _ := strings.Cut(line, ":")
		v = strings.TrimSpace(v)
		switch strings.ToLower(k) {
		case "location":
			location = v
		case "transfer-encoding":
			chunked = strings.EqualFold(v, "chunked")
		case "content-length":
			if length, err = strconv.ParseInt(v, 10, 64); err != nil {
				return 0, "", fmt.Errorf("get %s: bad Content-Length %q", rawURL, v)
			}
		}
	}
	switch {
	case code >= 300 && code < 400 && location != "":
		return 0, location, nil
	case code != 200:
		return 0, "", fmt.Errorf("get %s: %s", rawURL, strings.TrimSpace(status))
	}
	if chunked {
		n, err = copyChunked(w, br)
		length = -1
	} else {
		n, err = io.Copy(w, br)
	}
	if err != nil {
		return n, "", fmt.Errorf("get %s: %w", rawURL, err)
	}
	if length >= 0 && n != length {
		return n, "", fmt.Errorf("get %s: %w: got %d of %d bytes", rawURL, io.ErrUnexpectedEOF, n, length)
	}
	return n, "", nil
}

// copyChunked copies an HTTP/1.1 chunked body (RFC 9112, section 7.1)
// to w; trailers are read and dropped.
func copyChunked(w io.Writer, br *bufio.Reader) (int64, error) {
	var n int64
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return n, fmt.Errorf("read chunk size: %w", err)
		}
		sizeText, _, _ := strings.Cut(strings.TrimSpace(line), ";")
		size, err := strconv.ParseInt(strings.TrimSpace(sizeText), 16, 64)
		if err != nil || size < 0 {
			return n, fmt.Errorf("bad chunk size %q", strings.TrimSpace(line))
		}
		if size == 0 {
			for {
				t, err := br.ReadString('\n')
				if err != nil {
					return n, fmt.Errorf("read trailers: %w", err)
				}
				if strings.TrimSpace(t) == "" {
					return n, nil
				}
			}
		}
		m, err := io.CopyN(w, br, size)
		n += m
		if err != nil {
			return n, fmt.Errorf("read chunk: %w", err)
		}
		if crlf, err := br.ReadString('\n'); err != nil || strings.TrimSpace(crlf) != "" {
			return n, fmt.Errorf("chunk of %d bytes not followed by CRLF", size)
		}
	}
}

// hostPort adds HTTP's default port to host when it has none.
func hostPort(host string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), "80")
}

// proxyFor returns the http_proxy to use for host, honouring no_proxy as
// apt and curl do (a suffix match on comma-separated names), or nil.
func proxyFor(host string) *url.URL {
	p := os.Getenv("http_proxy")
	if p == "" {
		p = os.Getenv("HTTP_PROXY")
	}
	if p == "" {
		return nil
	}
	noProxy := os.Getenv("no_proxy") + "," + os.Getenv("NO_PROXY")
	for _, n := range strings.Split(noProxy, ",") {
		n = strings.TrimPrefix(strings.TrimSpace(n), ".")
		if n == "*" || (n != "" && (host == n || strings.HasSuffix(host, "."+n))) {
			return nil
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Host == "" {
		return nil
	}
	return u
}

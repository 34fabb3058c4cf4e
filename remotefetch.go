package guard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Limits of remote fetches (JWK Sets and discovery documents).
const (
	// DefaultMaxRemoteBytes caps a fetched document when
	// RemoteKeySetConfig.MaxResponseBytes is zero.
	DefaultMaxRemoteBytes = 1 << 20
	// DefaultRemoteTimeout bounds one fetch, from the request to the last
	// byte of the body, when RemoteKeySetConfig.Timeout is zero.
	DefaultRemoteTimeout = 10 * time.Second
)

// errNotFound is a fetch answered 404.
var errNotFound = errors.New("status 404")

// checkRemoteURL accepts https URLs, and http URLs whose host is a loopback
// address or "localhost" (a service and its issuer on one machine, tests).
// insecure accepts any http URL.
func checkRemoteURL(raw string, insecure bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrInsecureURL, raw, err)
	}
	if u.Host == "" || u.User != nil || u.Fragment != "" {
		return nil, fmt.Errorf("%w: %q needs a host and no user info or fragment", ErrInsecureURL, raw)
	}
	switch u.Scheme {
	case "https":
		return u, nil
	case "http":
		if insecure || isLoopbackHost(u.Hostname()) {
			return u, nil
		}
		return nil, fmt.Errorf("%w: %q is plain http to a non-loopback host", ErrInsecureURL, raw)
	}
	return nil, fmt.Errorf("%w: %q: scheme %q is not https", ErrInsecureURL, raw, u.Scheme)
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// remoteClient returns a copy of c (nil: a fresh client) whose redirects keep
// the scheme of the request they come from and pass checkRemoteURL; c's own
// CheckRedirect, if any, runs after that. The copy shares c's Transport.
func remoteClient(c *http.Client, insecure bool) *http.Client {
	var cc http.Client
	if c != nil {
		cc = *c
	}
	next := cc.CheckRedirect
	cc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		prev := via[len(via)-1].URL
		if req.URL.Scheme != prev.Scheme {
			return fmt.Errorf("%w: redirect from %s to %s changes the scheme", ErrInsecureURL, prev.Redacted(), req.URL.Redacted())
		}
		if _, err := checkRemoteURL(req.URL.String(), insecure); err != nil {
			return err
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("guard: stopped after 10 redirects")
		}
		return nil
	}
	return &cc
}

// fetchDocument GETs u with c and returns its body, read to at most max
// bytes (over it: ErrResponseTooLarge), and the response's freshness
// lifetime from Cache-Control (ok false when it gives none). Anything but a
// 200 is an error. The whole exchange, body included, is bounded by timeout,
// so a server that never answers or trickles bytes costs at most that.
func fetchDocument(ctx context.Context, c *http.Client, u string, max int64, timeout time.Duration) (body []byte, maxAge time.Duration, ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, false, err
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, 0, false, fmt.Errorf("guard: GET %s: %w", redactURL(u), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// Drain a little so the connection can be reused; never all of it.
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		if resp.StatusCode == http.StatusNotFound {
			return nil, 0, false, fmt.Errorf("guard: GET %s: %w", redactURL(u), errNotFound)
		}
		return nil, 0, false, fmt.Errorf("guard: GET %s: status %d", redactURL(u), resp.StatusCode)
	}
	if resp.ContentLength > max {
		return nil, 0, false, fmt.Errorf("%w: GET %s: Content-Length %d is over %d bytes", ErrResponseTooLarge, redactURL(u), resp.ContentLength, max)
	}
	body, err = io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
			return nil, 0, false, fmt.Errorf("guard: GET %s: body not read within %v: %w", redactURL(u), timeout, err)
		}
		return nil, 0, false, fmt.Errorf("guard: GET %s: reading body: %w", redactURL(u), err)
	}
	if int64(len(body)) > max {
		return nil, 0, false, fmt.Errorf("%w: GET %s: body is over %d bytes", ErrResponseTooLarge, redactURL(u), max)
	}
	maxAge, ok = cacheMaxAge(resp.Header.Values("Cache-Control"))
	return body, maxAge, ok, nil
}

func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Redacted()
}

// cacheMaxAge reads the freshness lifetime of a response from its
// Cache-Control values (RFC 9111 §5.2.2): no-store and no-cache give 0;
// otherwise max-age=N (N seconds, quoted or not). ok is false when none of
// these is present or max-age is malformed. s-maxage is for shared caches
// and is ignored.
func cacheMaxAge(values []string) (d time.Duration, ok bool) {
	for _, v := range values {
		for dir := range strings.SplitSeq(v, ",") {
			name, arg, _ := strings.Cut(strings.TrimSpace(dir), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-store", "no-cache":
				return 0, true
			case "max-age":
				arg = strings.Trim(strings.TrimSpace(arg), `"`)
				n, err := strconv.ParseUint(arg, 10, 32)
				if err != nil {
					if ne, isNum := err.(*strconv.NumError); isNum && ne.Err == strconv.ErrRange && arg != "" && strings.Trim(arg, "0123456789") == "" {
						n = 1<<32 - 1 // RFC 9111 §1.2.2: an overflowing delta-seconds means "very long"
					} else {
						continue
					}
				}
				d, ok = time.Duration(n)*time.Second, true
			}
		}
	}
	return d, ok
}

package transport

import (
	"bytes"
	"crypto/tls"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func req(remote string, hdr ...string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "http://auth.example/token", nil)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	return r
}

func TestNewRefusesInvalidPrefix(t *testing.T) {
	_, errs := New("token endpoint", "TokenEndpointConfig", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), {}}, false, nil)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "TokenEndpointConfig.TrustedProxies") {
		t.Fatalf("got %v, want one error naming TokenEndpointConfig.TrustedProxies", errs)
	}
}

func TestClientIP(t *testing.T) {
	p, errs := New("token endpoint", "TokenEndpointConfig",
		[]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}, false, slog.New(slog.DiscardHandler))
	if errs != nil {
		t.Fatal(errs)
	}
	for _, tt := range []struct {
		name string
		r    *http.Request
		want string
	}{
		{"direct peer", req("192.0.2.1:1234"), "192.0.2.1"},
		{"direct peer ignores X-Forwarded-For", req("192.0.2.1:1234", "X-Forwarded-For", "198.51.100.7"), "192.0.2.1"},
		{"IPv4-mapped peer", req("[::ffff:192.0.2.1]:1234"), "192.0.2.1"},
		{"trusted proxy: rightmost untrusted", req("10.0.0.1:1234", "X-Forwarded-For", "203.0.113.9, 198.51.100.7"), "198.51.100.7"},
		{"trusted proxies chained", req("10.0.0.1:1234", "X-Forwarded-For", "198.51.100.7, 10.0.0.2"), "198.51.100.7"},
		{"several header lines", req("10.0.0.1:1234", "X-Forwarded-For", "198.51.100.7", "X-Forwarded-For", "10.0.0.3"), "198.51.100.7"},
		{"garbage in the chain stops at the last good hop", req("10.0.0.1:1234", "X-Forwarded-For", "198.51.100.7, not-an-ip"), "10.0.0.1"},
		{"trusted proxy without header", req("10.0.0.1:1234"), "10.0.0.1"},
		{"IPv6 through an IPv6 proxy", req("[fd00::1]:443", "X-Forwarded-For", "2001:db8::5"), "2001:db8::5"},
		{"unparsable RemoteAddr is kept", req("pipe"), "pipe"},
		{"host without port", req("192.0.2.4"), "192.0.2.4"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.ClientIP(tt.r); got != tt.want {
				t.Errorf("ClientIP: got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSecure(t *testing.T) {
	var logs bytes.Buffer
	p, _ := New("token endpoint", "TokenEndpointConfig", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, false, slog.New(slog.NewTextHandler(&logs, nil)))
	tlsReq := req("192.0.2.1:1234")
	tlsReq.TLS = &tls.ConnectionState{}
	for _, tt := range []struct {
		name string
		r    *http.Request
		want bool
	}{
		{"TLS", tlsReq, true},
		{"plain HTTP from a remote peer", req("192.0.2.1:1234"), false},
		{"plain HTTP from loopback", req("127.0.0.1:1234"), true},
		{"plain HTTP from IPv6 loopback", req("[::1]:1234"), true},
		{"trusted proxy says https", req("10.0.0.1:1234", "X-Forwarded-Proto", "HTTPS"), true},
		{"trusted proxy says http", req("10.0.0.1:1234", "X-Forwarded-Proto", "http"), false},
		{"untrusted peer says https", req("192.0.2.1:1234", "X-Forwarded-Proto", "https"), false},
		{"unparsable peer", req("pipe"), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Secure(tt.r); got != tt.want {
				t.Errorf("Secure: got %v, want %v", got, tt.want)
			}
		})
	}
	insecure, _ := New("token endpoint", "TokenEndpointConfig", nil, true, nil)
	if !insecure.Secure(req("192.0.2.1:1234")) {
		t.Error("DangerouslyAllowInsecureHTTP: got false, want true")
	}
	if logs.Len() != 0 {
		t.Errorf("with TrustedProxies set, nothing to warn about: got %q", logs.String())
	}
}

// TestWarnsOnceAboutSameHostProxy: a loopback peer that forwards for others
// while TrustedProxies is empty is logged once, naming the endpoint.
func TestWarnsOnceAboutSameHostProxy(t *testing.T) {
	var logs bytes.Buffer
	p, _ := New("authorization endpoint", "AuthorizeEndpointConfig", nil, false, slog.New(slog.NewTextHandler(&logs, nil)))
	for range 3 {
		p.Secure(req("127.0.0.1:1234", "X-Forwarded-For", "198.51.100.7"))
		if got := p.ClientIP(req("127.0.0.1:1234", "X-Forwarded-For", "198.51.100.7")); got != "127.0.0.1" {
			t.Fatalf("ClientIP: got %q, want 127.0.0.1 (the proxy is not trusted)", got)
		}
	}
	if n := strings.Count(logs.String(), "authorization endpoint behind a proxy on this host"); n != 1 {
		t.Errorf("warnings: got %d, want 1:\n%s", n, logs.String())
	}
	logs.Reset()
	p2, _ := New("token endpoint", "TokenEndpointConfig", nil, false, slog.New(slog.NewTextHandler(&logs, nil)))
	p2.Secure(req("127.0.0.1:1234"))
	if logs.Len() != 0 {
		t.Errorf("a local client without forwarding headers: got a warning %q", logs.String())
	}
}

func TestLimiterIPKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1":            "192.0.2.1",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::/64",
		"fe80::1%eth0":         "fe80::/64",
		"not an address":       "not an address",
	} {
		if got := LimiterIPKey(in); got != want {
			t.Errorf("LimiterIPKey(%q): got %q, want %q", in, got, want)
		}
	}
}

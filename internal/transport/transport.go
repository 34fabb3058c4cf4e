// Package transport is the rule, shared by the token and authorization
// endpoints (and any handler that must know its caller), for whether a
// request came over TLS and from which client IP, given the trusted proxies
// in front of the service.
package transport

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
)

// Policy is the rule for one endpoint. It is safe for concurrent use.
type Policy struct {
	endpoint string // "token endpoint", "authorization endpoint": for the warning
	trusted  []netip.Prefix
	insecure bool // DangerouslyAllowInsecureHTTP
	logger   *slog.Logger
	warned   sync.Once
}

// New checks the trusted proxy prefixes of config type cfgName.
func New(endpoint, cfgName string, trusted []netip.Prefix, insecure bool, logger *slog.Logger) (*Policy, []error) {
	var errs []error
	for _, p := range trusted {
		if !p.IsValid() {
			errs = append(errs, fmt.Errorf("guard: %s.TrustedProxies: invalid trusted proxy prefix %v", cfgName, p))
		}
	}
	return &Policy{endpoint: endpoint, trusted: slices.Clone(trusted), insecure: insecure, logger: logger}, errs
}

// Secure: TLS, a loopback peer, a trusted proxy that says https, or the
// dangerous option.
func (t *Policy) Secure(r *http.Request) bool {
	if r.TLS != nil || t.insecure {
		return true
	}
	peer, ok := peerAddr(r)
	if !ok {
		return false
	}
	if peer.IsLoopback() {
		t.warnUntrustedProxy(r)
		return true
	}
	return t.isTrusted(peer) && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// TrustedPeer reports whether r's TCP peer is one of the trusted proxies,
// whose X-Forwarded-* headers may be believed.
func (t *Policy) TrustedPeer(r *http.Request) bool {
	peer, ok := peerAddr(r)
	return ok && t.isTrusted(peer)
}

// LimiterIPKey is a client IP as throttling counts it: the address for IPv4,
// the /64 prefix for IPv6 (one host usually holds a whole /64, so counting single
// IPv6 addresses would let it rotate past the limit).
func LimiterIPKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is6() {
		return ip
	}
	p, _ := a.WithZone("").Prefix(64)
	return p.String()
}

func peerAddr(r *http.Request) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		a, err := netip.ParseAddr(host)
		return a.Unmap(), err == nil
	}
	return ap.Addr().Unmap(), true
}

func (t *Policy) isTrusted(a netip.Addr) bool {
	for _, p := range t.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP is the TCP peer, or, when the peer is a trusted proxy, the
// rightmost X-Forwarded-For address that is not a trusted proxy.
func (t *Policy) ClientIP(r *http.Request) string {
	peer, ok := peerAddr(r)
	if !ok {
		return r.RemoteAddr
	}
	if !t.isTrusted(peer) {
		if peer.IsLoopback() {
			t.warnUntrustedProxy(r)
		}
		return peer.String()
	}
	xff := r.Header.Values("X-Forwarded-For")
	for i := len(xff) - 1; i >= 0; i-- {
		parts := strings.Split(xff[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return peer.String()
			}
			a = a.Unmap()
			if !t.isTrusted(a) {
				return a.String()
			}
			peer = a
		}
	}
	return peer.String()
}

// warnUntrustedProxy logs once that a loopback peer forwards requests for
// others while TrustedProxies is empty: behind such a same-host proxy every
// client shares the loopback address for throttling, and plain HTTP from the
// proxy is accepted as if it were local.
func (t *Policy) warnUntrustedProxy(r *http.Request) {
	if len(t.trusted) > 0 {
		return
	}
	h := r.Header
	if h.Get("X-Forwarded-For") == "" && h.Get("Forwarded") == "" && h.Get("X-Real-Ip") == "" {
		return
	}
	t.warned.Do(func() {
		logger := t.logger
		if logger == nil {
			logger = slog.Default() // a wiring mistake is worth a line even without a Logger
		}
		logger.WarnContext(r.Context(), t.endpoint+" behind a proxy on this host but TrustedProxies is empty: "+
			"all clients share one address for throttling and plain HTTP is accepted; set TrustedProxies to the proxy's address")
	})
}

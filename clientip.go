package guard

import (
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// secureTransport: TLS, a loopback peer, a trusted proxy that says https, or
// the dangerous option.
func (e *TokenEndpoint) secureTransport(r *http.Request) bool {
	if r.TLS != nil || e.cfg.DangerouslyAllowInsecureHTTP {
		return true
	}
	peer, ok := peerAddr(r)
	if !ok {
		return false
	}
	if peer.IsLoopback() {
		e.warnUntrustedProxy(r)
		return true
	}
	return e.trusted(peer) && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// limiterIPKey is a client IP as throttling counts it: the address for IPv4,
// the /64 prefix for IPv6 (one host usually holds a whole /64, so counting single
// IPv6 addresses would let it rotate past the limit).
func limiterIPKey(ip string) string {
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

func (e *TokenEndpoint) trusted(a netip.Addr) bool {
	for _, p := range e.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientIP is the TCP peer, or, when the peer is a trusted proxy, the
// rightmost X-Forwarded-For address that is not a trusted proxy.
func (e *TokenEndpoint) clientIP(r *http.Request) string {
	peer, ok := peerAddr(r)
	if !ok {
		return r.RemoteAddr
	}
	if !e.trusted(peer) {
		if peer.IsLoopback() {
			e.warnUntrustedProxy(r)
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
			if !e.trusted(a) {
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
func (e *TokenEndpoint) warnUntrustedProxy(r *http.Request) {
	if len(e.cfg.TrustedProxies) > 0 {
		return
	}
	h := r.Header
	if h.Get("X-Forwarded-For") == "" && h.Get("Forwarded") == "" && h.Get("X-Real-Ip") == "" {
		return
	}
	e.proxyWarning.Do(func() {
		logger := e.cfg.Logger
		if logger == nil {
			logger = slog.Default() // a wiring mistake is worth a line even without a Logger
		}
		logger.WarnContext(r.Context(), "token endpoint behind a proxy on this host but TrustedProxies is empty: "+
			"all clients share one address for throttling and plain HTTP is accepted; set TrustedProxies to the proxy's address")
	})
}

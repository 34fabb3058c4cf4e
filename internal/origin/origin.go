// Package origin parses and validates the allowed-origin patterns of a CORS
// configuration. It accepts exactly two shapes, both in the serialized form
// browsers send in the Origin header (RFC 6454 §6.2, WHATWG URL):
//
//	scheme://host[:port]          an exact origin
//	scheme://*.domain[:port]      any subdomain, at any depth, of domain
//
// Everything else (other wildcards, "null", paths, userinfo, default ports,
// uppercase, non-canonical IP addresses) is refused with an error saying why.
package origin

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Pattern is a validated origin pattern.
type Pattern struct {
	// Scheme is "http" or "https".
	Scheme string
	// Host is the host of an exact origin, or the domain under which any
	// subdomain matches when Wildcard is set. IPv6 hosts are written without
	// brackets.
	Host string
	// Port is the decimal port, or "" for the scheme's default.
	Port string
	// Wildcard reports a "*." pattern.
	Wildcard bool
	// IP reports that Host is an IP address.
	IP bool
	// Loopback reports that every origin the pattern matches is on the local
	// machine: localhost, *.localhost, 127.0.0.0/8 or ::1.
	Loopback bool
}

// String returns the pattern in the form Parse accepts; Parse(p.String())
// returns p.
func (p Pattern) String() string {
	var b strings.Builder
	b.WriteString(p.Scheme)
	b.WriteString("://")
	if p.Wildcard {
		b.WriteString("*.")
	}
	if p.IP && strings.IndexByte(p.Host, ':') >= 0 {
		b.WriteByte('[')
		b.WriteString(p.Host)
		b.WriteByte(']')
	} else {
		b.WriteString(p.Host)
	}
	if p.Port != "" {
		b.WriteByte(':')
		b.WriteString(p.Port)
	}
	return b.String()
}

// Parse validates s as an origin pattern. It never panics.
func Parse(s string) (Pattern, error) {
	var p Pattern
	switch s {
	case "":
		return p, errors.New("empty origin")
	case "null":
		return p, errors.New(`"null" is the origin of sandboxed documents and local files, which any site can create; it cannot be allowed`)
	case "*":
		return p, errors.New(`"*" is not an origin pattern`)
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return p, fmt.Errorf("origin %q: want scheme://host[:port]", s)
	}
	switch scheme {
	case "http", "https":
	case "HTTP", "HTTPS", "Http", "Https":
		return p, fmt.Errorf("origin %q: the scheme must be lowercase, as browsers send it", s)
	default:
		return p, fmt.Errorf("origin %q: scheme must be http or https", s)
	}
	p.Scheme = scheme
	if i := strings.IndexAny(rest, "/?#@\\ \t"); i >= 0 {
		what := map[byte]string{'/': "a path or trailing slash", '?': "a query", '#': "a fragment", '@': "userinfo",
			'\\': "a backslash", ' ': "a space", '\t': "a tab"}[rest[i]]
		return p, fmt.Errorf("origin %q: an origin has no %s", s, what)
	}
	host, port, err := splitHostPort(rest)
	if err != nil {
		return p, fmt.Errorf("origin %q: %w", s, err)
	}
	if port != "" {
		if err := checkPort(port, scheme); err != nil {
			return p, fmt.Errorf("origin %q: %w", s, err)
		}
	}
	p.Port = port
	if strings.HasPrefix(host, "*.") {
		p.Wildcard = true
		host = host[2:]
	}
	if strings.IndexByte(host, '*') >= 0 {
		return p, fmt.Errorf("origin %q: the only wildcard allowed is a leading \"*.\" before a domain, as in https://*.example.com", s)
	}
	if host == "" {
		return p, fmt.Errorf("origin %q: empty host", s)
	}
	if strings.HasPrefix(rest, "[") {
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() || a.Zone() != "" || a.Is4In6() {
			return p, fmt.Errorf("origin %q: %q is not an IPv6 address", s, host)
		}
		if a.String() != host {
			return p, fmt.Errorf("origin %q: write the IPv6 address as browsers do: [%s]", s, a)
		}
		if p.Wildcard {
			return p, fmt.Errorf("origin %q: a wildcard needs a domain, not an IP address", s)
		}
		p.Host, p.IP, p.Loopback = host, true, a.IsLoopback()
		return p, nil
	}
	if err := checkDomain(host); err != nil {
		return p, fmt.Errorf("origin %q: %w", s, err)
	}
	if looksNumeric(host) {
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is4() || a.String() != host {
			return p, fmt.Errorf("origin %q: %q is not a canonical IPv4 address", s, host)
		}
		if p.Wildcard {
			return p, fmt.Errorf("origin %q: a wildcard needs a domain, not an IP address", s)
		}
		p.Host, p.IP, p.Loopback = host, true, a.IsLoopback()
		return p, nil
	}
	if p.Wildcard && strings.IndexByte(host, '.') < 0 && host != "localhost" {
		return p, fmt.Errorf("origin %q: a wildcard needs a domain of two labels or more (such as *.example.com), not a top-level domain", s)
	}
	p.Host = host
	p.Loopback = host == "localhost" || strings.HasSuffix(host, ".localhost")
	return p, nil
}

func splitHostPort(rest string) (host, port string, err error) {
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return "", "", errors.New("unclosed [ in IPv6 host")
		}
		host, rest = rest[1:end], rest[end+1:]
		if rest == "" {
			return host, "", nil
		}
		if rest[0] != ':' {
			return "", "", errors.New("unexpected text after the IPv6 host")
		}
		if rest == ":" {
			return "", "", errors.New("empty port")
		}
		return host, rest[1:], nil
	}
	host, port, found := strings.Cut(rest, ":")
	if found {
		if port == "" {
			return "", "", errors.New("empty port")
		}
		if strings.IndexByte(port, ':') >= 0 {
			return "", "", errors.New("IPv6 hosts must be in brackets")
		}
	}
	return host, port, nil
}

func checkPort(port, scheme string) error {
	if len(port) > 5 || port[0] == '0' || strings.Trim(port, "0123456789") != "" {
		return fmt.Errorf("bad port %q", port)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q out of range", port)
	}
	if (scheme == "http" && n == 80) || (scheme == "https" && n == 443) {
		return fmt.Errorf("browsers omit the default port %s from origins; remove it", port)
	}
	return nil
}

// checkDomain accepts lowercase LDH names (RFC 1123 labels, punycode for
// IDNs), without a trailing dot.
func checkDomain(host string) error {
	if len(host) > 253 {
		return errors.New("host name longer than 253 characters")
	}
	for label := range strings.SplitSeq(host, ".") {
		if label == "" {
			return fmt.Errorf("empty label in host %q", host)
		}
		if len(label) > 63 {
			return fmt.Errorf("label longer than 63 characters in host %q", host)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("label starting or ending with '-' in host %q", host)
		}
		for i := 0; i < len(label); i++ {
			switch c := label[i]; {
			case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-':
			case c >= 'A' && c <= 'Z':
				return fmt.Errorf("host %q must be lowercase, as browsers send it", host)
			case c >= 0x80:
				return fmt.Errorf("host %q: write internationalized names in punycode (xn--…), as browsers send them", host)
			default:
				return fmt.Errorf("character %q not allowed in host %q", c, host)
			}
		}
	}
	return nil
}

// looksNumeric reports whether the URL standard would parse host as an IPv4
// address: its last label is a number (decimal, or hex with 0x).
func looksNumeric(host string) bool {
	last := host[strings.LastIndexByte(host, '.')+1:]
	if strings.HasPrefix(last, "0x") {
		return true
	}
	return last != "" && strings.Trim(last, "0123456789") == ""
}

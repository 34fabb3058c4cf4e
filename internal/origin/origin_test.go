package origin

import (
	"strings"
	"testing"
)

var parseTests = []struct {
	in       string
	want     Pattern // zero: an error is expected
	errMatch string  // substring of the error
}{
	{in: "https://example.com", want: Pattern{Scheme: "https", Host: "example.com"}},
	{in: "http://localhost:3000", want: Pattern{Scheme: "http", Host: "localhost", Port: "3000", Loopback: true}},
	{in: "http://app.localhost:5173", want: Pattern{Scheme: "http", Host: "app.localhost", Port: "5173", Loopback: true}},
	{in: "http://127.0.0.1:8080", want: Pattern{Scheme: "http", Host: "127.0.0.1", Port: "8080", IP: true, Loopback: true}},
	{in: "http://[::1]:3000", want: Pattern{Scheme: "http", Host: "::1", Port: "3000", IP: true, Loopback: true}},
	{in: "http://[2001:db8::1]", want: Pattern{Scheme: "http", Host: "2001:db8::1", IP: true}},
	{in: "http://10.0.0.1", want: Pattern{Scheme: "http", Host: "10.0.0.1", IP: true}},
	{in: "https://*.example.com", want: Pattern{Scheme: "https", Host: "example.com", Wildcard: true}},
	{in: "https://*.example.com:8443", want: Pattern{Scheme: "https", Host: "example.com", Port: "8443", Wildcard: true}},
	{in: "http://*.localhost", want: Pattern{Scheme: "http", Host: "localhost", Wildcard: true, Loopback: true}},
	{in: "https://xn--bcher-kva.example", want: Pattern{Scheme: "https", Host: "xn--bcher-kva.example"}},

	{in: "", errMatch: "empty"},
	{in: "null", errMatch: "null"},
	{in: "*", errMatch: `"*"`},
	{in: "h*", errMatch: "scheme://"},
	{in: "https://*", errMatch: "wildcard"},
	{in: "https://*.", errMatch: "empty host"},
	{in: "https://*.com", errMatch: "two labels"},
	{in: "https://app.example.*", errMatch: "wildcard"},
	{in: "https://*example.com", errMatch: "wildcard"},
	{in: "https://a.*.example.com", errMatch: "wildcard"},
	{in: "https://*.*.example.com", errMatch: "wildcard"},
	{in: "*://example.com", errMatch: "scheme"},
	{in: "https://*.10.0.0.1", errMatch: "IP"},
	{in: "example.com", errMatch: "scheme://"},
	{in: "ftp://example.com", errMatch: "scheme"},
	{in: "HTTPS://example.com", errMatch: "lowercase"},
	{in: "https://Example.com", errMatch: "lowercase"},
	{in: "https://example.com/", errMatch: "trailing slash"},
	{in: "https://example.com/app", errMatch: "path"},
	{in: "https://example.com?x", errMatch: "query"},
	{in: "https://example.com#x", errMatch: "fragment"},
	{in: "https://user@example.com", errMatch: "userinfo"},
	{in: "https://example.com:443", errMatch: "default port"},
	{in: "http://example.com:80", errMatch: "default port"},
	{in: "https://example.com:", errMatch: "empty port"},
	{in: "https://example.com:0", errMatch: "port"},
	{in: "https://example.com:080", errMatch: "port"},
	{in: "https://example.com:65536", errMatch: "range"},
	{in: "https://example.com:+80", errMatch: "port"},
	{in: "https://example.com.", errMatch: "empty label"},
	{in: "https://exa_mple.com", errMatch: "not allowed"},
	{in: "https://-a.example.com", errMatch: "'-'"},
	{in: "https://bücher.example", errMatch: "punycode"},
	{in: "http://127.1", errMatch: "IPv4"},
	{in: "http://0x7f.0.0.1", errMatch: "IPv4"},
	{in: "http://127.000.0.1", errMatch: "IPv4"},
	{in: "http://[::ffff:127.0.0.1]", errMatch: "IPv6"},
	{in: "http://[0:0::1]", errMatch: "[::1]"},
	{in: "http://[fe80::1%eth0]", errMatch: "IPv6"},
	{in: "http://[::1", errMatch: "unclosed"},
	{in: "http://[::1]x", errMatch: "after the IPv6"},
	{in: "http://::1", errMatch: "brackets"},
	{in: "https://", errMatch: "empty host"},
	{in: "https:// example.com", errMatch: "space"},
}

func TestParse(t *testing.T) {
	for _, tt := range parseTests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.errMatch != "" {
				if err == nil {
					t.Fatalf("got %+v, want an error mentioning %q", got, tt.errMatch)
				}
				if !strings.Contains(err.Error(), tt.errMatch) {
					t.Fatalf("error %q does not mention %q", err, tt.errMatch)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want %+v", err, tt.want)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			if s := got.String(); s != tt.in {
				t.Fatalf("String: got %q, want %q", s, tt.in)
			}
		})
	}
}

// FuzzParse: Parse never panics, and what it accepts is only an exact origin
// or scheme://*.domain, in canonical form (String gives the input back).
func FuzzParse(f *testing.F) {
	for _, tt := range parseTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			return
		}
		if got := p.String(); got != s {
			t.Fatalf("String() = %q, want the input %q", got, s)
		}
		if p.Scheme != "http" && p.Scheme != "https" {
			t.Fatalf("scheme %q", p.Scheme)
		}
		rest := s[len(p.Scheme)+len("://"):]
		if strings.ContainsAny(rest, "/?#@\\ \t\r\nABCDEFGHIJKLMNOPQRSTUVWXYZ") {
			t.Fatalf("accepted %q with a forbidden character", s)
		}
		switch n := strings.Count(s, "*"); {
		case n == 0 && !p.Wildcard:
		case n == 1 && p.Wildcard && strings.HasPrefix(rest, "*.") && !p.IP && len(p.Host) > 0:
			if !strings.Contains(p.Host, ".") && p.Host != "localhost" {
				t.Fatalf("wildcard over a top-level domain: %q", s)
			}
		default:
			t.Fatalf("accepted %q: not an exact origin or scheme://*.domain", s)
		}
		if p.Loopback && !p.IP && p.Host != "localhost" && !strings.HasSuffix(p.Host, ".localhost") {
			t.Fatalf("%q marked loopback", s)
		}
		if p2, err := Parse(p.String()); err != nil || p2 != p {
			t.Fatalf("round trip: got (%+v, %v), want %+v", p2, err, p)
		}
	})
}

package authserver

import "testing"

// TestRedirectRegisteredLoopback: a loopback IP literal over http
// registered without a port matches on any port (RFC 8252 §7.3); one
// registered with a port, and everything else, byte for byte.
func TestRedirectRegisteredLoopback(t *testing.T) {
	t.Parallel()
	reg := []string{"http://127.0.0.1/callback", "http://[::1]:8080/cb?x=1", "http://localhost/cb", "https://app.example/cb"}
	cases := []struct {
		uri  string
		want bool
	}{
		{"http://127.0.0.1/callback", true},
		{"http://127.0.0.1:51004/callback", true},
		{"http://127.0.0.1:1/callback", true},
		{"http://[::1]:8080/cb?x=1", true},
		{"http://[::1]/cb?x=1", false}, // registered with its port: that port only
		{"http://[::1]:9/cb?x=1", false},
		{"http://127.0.0.1:51004/callback/", false},  // another path
		{"http://127.0.0.1:51004/callback?a", false}, // another query
		{"http://127.0.0.1:/callback", false},        // empty port
		{"http://127.0.0.1:123456/callback", false},  // not a port
		{"http://127.0.0.1:80x/callback", false},
		{"http://127.0.0.1.evil.example/callback", false},
		{"http://127.0.0.1@evil.example/callback", false},
		{"http://[::1]:9/cb", false},
		{"http://localhost:5000/cb", false}, // a name, not an IP literal: exact only
		{"http://localhost/cb", true},
		{"https://127.0.0.1:5/callback", false}, // https loopback: exact only
		{"https://app.example:443/cb", false},
		{"http://127.0.0.1", false},
	}
	for _, c := range cases {
		if got := redirectRegistered(reg, c.uri); got != c.want {
			t.Errorf("redirectRegistered(%q) = %v, want %v", c.uri, got, c.want)
		}
	}
}

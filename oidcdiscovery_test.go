package guard

import (
	"errors"
	"testing"
)

// TestDiscoveredURLsKeepTheIssuersSecurity: an https issuer's jwks_uri and
// introspection_endpoint must be https; plain http to loopback is only for
// a loopback http issuer (issue 17, item 10).
func TestDiscoveredURLsKeepTheIssuersSecurity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, issuer, jwks string
		insecure           bool
		err                error
	}{
		{"https issuer, https jwks_uri", "https://idp.example", "https://keys.idp.example/jwks", false, nil},
		{"https issuer, http jwks_uri to loopback", "https://idp.example", "http://127.0.0.1:8080/jwks", false, ErrInsecureURL},
		{"https issuer, http jwks_uri to localhost", "https://idp.example", "http://localhost/jwks", false, ErrInsecureURL},
		{"https issuer, http jwks_uri elsewhere", "https://idp.example", "http://idp.example/jwks", false, ErrInsecureURL},
		{"loopback http issuer, http jwks_uri to loopback", "http://127.0.0.1:8080", "http://127.0.0.1:8080/jwks", false, nil},
		{"loopback http issuer, https jwks_uri", "http://localhost:8080", "https://idp.example/jwks", false, nil},
		{"insecure: what the caller allowed", "https://idp.example", "http://idp.example/jwks", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := `{"issuer":"` + tt.issuer + `","jwks_uri":"` + tt.jwks + `"}`
			m, err := parseProviderMetadata([]byte(doc), tt.issuer, tt.insecure)
			if tt.err == nil && (err != nil || m.JWKSURI != tt.jwks) {
				t.Fatalf("got %q, %v; want the jwks_uri", m.JWKSURI, err)
			}
			if tt.err != nil && !errors.Is(err, tt.err) {
				t.Fatalf("got %v, want %v", err, tt.err)
			}
		})
	}
}

package guardtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/guardkit/guard"
)

// DPoPKey is a client's DPoP key (ES256) that makes proofs (RFC 9449 §4).
// It is safe for concurrent use.
type DPoPKey struct {
	priv *ecdsa.PrivateKey
	jwk  map[string]string
	jkt  string
	n    atomic.Uint64
}

// NewDPoPKey returns a fresh ES256 DPoP key.
func NewDPoPKey(t testing.TB) *DPoPKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("guardtest: %v", err)
	}
	b64 := base64.RawURLEncoding
	point, _ := priv.PublicKey.Bytes()
	x, y := b64.EncodeToString(point[1:33]), b64.EncodeToString(point[33:])
	sum := sha256.Sum256([]byte(`{"crv":"P-256","kty":"EC","x":"` + x + `","y":"` + y + `"}`))
	return &DPoPKey{priv: priv, jwk: map[string]string{"kty": "EC", "crv": "P-256", "x": x, "y": y}, jkt: b64.EncodeToString(sum[:])}
}

// Thumbprint returns the key's RFC 7638 thumbprint: the cnf.jkt of tokens
// bound to it.
func (k *DPoPKey) Thumbprint() string { return k.jkt }

// DPoPProofOptions adjust a proof made by [DPoPKey.Proof].
type DPoPProofOptions struct {
	// AccessToken, when set, is hashed into "ath" (for resource requests).
	AccessToken string
	// Nonce, when set, is the "nonce" claim.
	Nonce string
	// IssuedAt is "iat"; default time.Now().
	IssuedAt time.Time
	// JTI is "jti"; default a fresh unique value.
	JTI string
}

// Proof returns a DPoP proof for method and url (query and fragment are
// left out of htu, as RFC 9449 §4.2 says).
func (k *DPoPKey) Proof(t testing.TB, method, url string, o DPoPProofOptions) string {
	t.Helper()
	if i := strings.IndexAny(url, "?#"); i >= 0 {
		url = url[:i]
	}
	iat := o.IssuedAt
	if iat.IsZero() {
		iat = time.Now()
	}
	jti := o.JTI
	if jti == "" {
		jti = strconv.FormatUint(k.n.Add(1), 10) + "-" + rand.Text()
	}
	claims := map[string]any{"jti": jti, "htm": method, "htu": url, "iat": iat.Unix()}
	if o.AccessToken != "" {
		sum := sha256.Sum256([]byte(o.AccessToken))
		claims["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if o.Nonce != "" {
		claims["nonce"] = o.Nonce
	}
	h, err1 := json.Marshal(map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": k.jwk})
	c, err2 := json.Marshal(claims)
	if err1 != nil || err2 != nil {
		t.Fatalf("guardtest: %v %v", err1, err2)
	}
	b64 := base64.RawURLEncoding
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(c)
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, k.priv, digest[:])
	if err != nil {
		t.Fatalf("guardtest: %v", err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + b64.EncodeToString(sig)
}

// DPoPRequest returns a request to url with "Authorization: DPoP <token>"
// and a fresh proof for it.
func (k *DPoPKey) DPoPRequest(t testing.TB, method, url, token string) *http.Request {
	t.Helper()
	r := httptest.NewRequest(method, url, nil)
	r.Header.Set("Authorization", "DPoP "+token)
	r.Header.Set("DPoP", k.Proof(t, method, url, DPoPProofOptions{AccessToken: token}))
	return r
}

// BoundToken mints a token bound to k (cnf.jkt) through iss.
func (k *DPoPKey) BoundToken(t testing.TB, iss *guard.TokenIssuer, c guard.Claims) string {
	t.Helper()
	c.Confirmation = &guard.Confirmation{JKT: k.jkt}
	return Token(t, iss, c)
}

package guard

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

func jwtAllSigningKeys(t testing.TB) []*Key {
	return []*Key{
		jwtMustHMAC(t, HS256, jwtSecret32, "hs256"),
		jwtMustHMAC(t, HS384, jwtSecret48, "hs384"),
		jwtMustHMAC(t, HS512, jwtSecret64, "hs512"),
		jwtMustPriv(t, RS256, jwtRSA(), "rs256"),
		jwtMustPriv(t, PS256, jwtRSA2(), "ps256"),
		jwtMustPriv(t, ES256, jwtP256(), "es256"),
		jwtMustPriv(t, ES384, jwtP384(), "es384"),
		jwtMustPriv(t, EdDSA, jwtEd(), "eddsa"),
	}
}

// TestIssueVerifyRoundTrip issues with every algorithm and verifies with a
// verifier holding all the public keys (kid picks the key).
func TestIssueVerifyRoundTrip(t *testing.T) {
	keys := jwtAllSigningKeys(t)
	pubs := make([]*Key, len(keys))
	for i, k := range keys {
		pubs[i] = k.Public()
	}
	v := jwtVerifier(t, VerifierConfig{Keys: pubs, Issuers: []string{"https://issuer"}, Audiences: []string{"api"}, RequireAccessTokenType: true})
	for _, k := range keys {
		t.Run(string(k.Algorithm()), func(t *testing.T) {
			iss, err := NewTokenIssuer(TokenIssuerConfig{Key: k, Issuer: "https://issuer", Audience: []string{"api"}, Now: jwtClock(jwtNow)})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := iss.Issue(context.Background(), Claims{Subject: "alice", Roles: []string{"admin"}, Scopes: []string{"read", "write"}})
			if err != nil {
				t.Fatal(err)
			}
			c, err := v.Verify(context.Background(), tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if c.Subject != "alice" || !slices.Equal(c.Roles, []string{"admin"}) || !slices.Equal(c.Scopes, []string{"read", "write"}) {
				t.Errorf("got sub %q roles %q scopes %q, want alice [admin] [read write]", c.Subject, c.Roles, c.Scopes)
			}
			// Tampering with one payload byte breaks the signature.
			parts := strings.Split(tok, ".")
			payload, _ := b64.DecodeString(parts[1])
			forged := strings.Replace(string(payload), `"admin"`, `"admim"`, 1)
			_, err = v.Verify(context.Background(), parts[0]+"."+b64.EncodeToString([]byte(forged))+"."+parts[2])
			jwtCheckErr(t, err, ErrInvalidSignature)
			// Another verifier without this key refuses the token.
			others := slices.DeleteFunc(slices.Clone(pubs), func(p *Key) bool { return p.KeyID() == k.KeyID() })
			_, err = jwtVerifier(t, VerifierConfig{Keys: others}).Verify(context.Background(), tok)
			jwtCheckErr(t, err, ErrUnknownKey)
		})
	}
}

func decodeSegment(t testing.TB, seg string) map[string]jsontext.Value {
	t.Helper()
	raw, err := b64.DecodeString(seg)
	if err != nil {
		t.Fatalf("segment %q: %v", seg, err)
	}
	var m map[string]jsontext.Value
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("segment %s: %v", raw, err)
	}
	return m
}

func TestIssueShape(t *testing.T) {
	k := jwtMustPriv(t, ES256, jwtP256(), "key-1")
	iss, err := NewTokenIssuer(TokenIssuerConfig{Key: k, Issuer: "https://i", Audience: []string{"api"}, Now: jwtClock(jwtNow)})
	if err != nil {
		t.Fatal(err)
	}
	if got := iss.TTL(); got != 15*time.Minute {
		t.Errorf("TTL: got %v, want 15m", got)
	}
	tok, err := iss.Issue(context.Background(), Claims{Subject: "alice", Roles: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("got %d segments, want 3", len(parts))
	}
	h := decodeSegment(t, parts[0])
	for name, want := range map[string]string{"alg": `"ES256"`, "typ": `"at+jwt"`, "kid": `"key-1"`} {
		if got := string(h[name]); got != want {
			t.Errorf("header %s: got %s, want %s", name, got, want)
		}
	}
	if len(h) != 3 {
		t.Errorf("header has %d members, want 3 (alg, kid, typ): %v", len(h), h)
	}
	p := decodeSegment(t, parts[1])
	for name, want := range map[string]string{
		"iss":   `"https://i"`,
		"sub":   `"alice"`,
		"aud":   `"api"`,
		"iat":   "1700000000",
		"exp":   "1700000900",
		"roles": `["a","b"]`,
	} {
		if got := string(p[name]); got != want {
			t.Errorf("claim %s: got %s, want %s", name, got, want)
		}
	}
	for _, absent := range []string{"role", "scope", "nbf", "client_id"} {
		if _, ok := p[absent]; ok {
			t.Errorf("claim %s present, want absent", absent)
		}
	}
	var jti string
	if err := json.Unmarshal(p["jti"], &jti); err != nil || len(jti) < 22 {
		t.Errorf("jti: got %s, want a random string of at least 128 bits", p["jti"])
	}
}

func TestIssueJTIUnique(t *testing.T) {
	iss, err := NewTokenIssuer(TokenIssuerConfig{Key: jwtMustHMAC(t, HS256, jwtSecret32, "k"), Now: jwtClock(jwtNow)})
	if err != nil {
		t.Fatal(err)
	}
	v := jwtVerifier(t, VerifierConfig{Keys: []*Key{jwtMustHMAC(t, HS256, jwtSecret32, "k")}})
	seen := map[string]bool{}
	for range 200 {
		tok, err := iss.Issue(context.Background(), Claims{Subject: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		c, err := v.Verify(context.Background(), tok)
		if err != nil {
			t.Fatal(err)
		}
		if seen[c.ID] {
			t.Fatalf("jti %q issued twice", c.ID)
		}
		seen[c.ID] = true
	}
}

func TestIssueTimes(t *testing.T) {
	k := jwtMustHMAC(t, HS256, jwtSecret32, "")
	tests := []struct {
		name       string
		ttl        time.Duration
		claims     Claims
		wantIat    time.Time
		wantExp    time.Time
		wantExtraN int
	}{
		{"default TTL", 0, Claims{Subject: "a"}, jwtNow, jwtNow.Add(15 * time.Minute), 0},
		{"custom TTL", time.Hour, Claims{Subject: "a"}, jwtNow, jwtNow.Add(time.Hour), 0},
		{"earlier exp kept", 0, Claims{Subject: "a", ExpiresAt: jwtNow.Add(time.Minute)}, jwtNow, jwtNow.Add(time.Minute), 0},
		{"later exp cut to TTL", 0, Claims{Subject: "a", ExpiresAt: jwtNow.Add(24 * time.Hour)}, jwtNow, jwtNow.Add(15 * time.Minute), 0},
		{"iat given", 0, Claims{Subject: "a", IssuedAt: jwtNow.Add(-time.Minute)}, jwtNow.Add(-time.Minute), jwtNow.Add(15 * time.Minute), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iss, err := NewTokenIssuer(TokenIssuerConfig{Key: k, TTL: tt.ttl, Now: jwtClock(jwtNow)})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := iss.Issue(context.Background(), tt.claims)
			if err != nil {
				t.Fatal(err)
			}
			c, err := jwtVerifier(t, VerifierConfig{Keys: []*Key{k}}).Verify(context.Background(), tok)
			if err != nil {
				t.Fatal(err)
			}
			if !c.IssuedAt.Equal(tt.wantIat) {
				t.Errorf("IssuedAt: got %v, want %v", c.IssuedAt, tt.wantIat)
			}
			if !c.ExpiresAt.Equal(tt.wantExp) {
				t.Errorf("ExpiresAt: got %v, want %v", c.ExpiresAt, tt.wantExp)
			}
			// The token expires exactly at exp on the verifier's clock.
			late := jwtVerifier(t, VerifierConfig{Keys: []*Key{k}, Now: jwtClock(tt.wantExp)})
			_, err = late.Verify(context.Background(), tok)
			jwtCheckErr(t, err, ErrTokenExpired)
		})
	}
}

func TestIssueExtra(t *testing.T) {
	k := jwtMustHMAC(t, HS256, jwtSecret32, "")
	iss, err := NewTokenIssuer(TokenIssuerConfig{Key: k, Now: jwtClock(jwtNow)})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		extra   string
		wantErr bool
	}{
		{"app claims", `{"tenant":"acme","n":1}`, false},
		{"empty object", `{}`, false},
		{"collides with sub", `{"sub":"root"}`, true},
		{"collides with exp", `{"exp":9999999999}`, true},
		{"collides with iss", `{"iss":"x"}`, true},
		{"collides with jti", `{"jti":"x"}`, true},
		{"collides with role", `{"role":"admin"}`, true},
		{"collides with scope", `{"scope":"admin"}`, true},
		{"collides with aud", `{"aud":"x"}`, true},
		{"collides with roles", `{"roles":["admin"]}`, true},
		{"collides with scp", `{"scp":["admin"]}`, true},
		{"collides with client_id", `{"client_id":"x"}`, true},
		{"collides with nbf", `{"nbf":0}`, true},
		{"collides after other members", `{"a":{"role":1},"role":"admin"}`, true},
		{"nested registered name is fine", `{"a":{"role":"admin"}}`, false},
		{"case variant collides (encoding/json reads it as role)", `{"ROLE":"admin"}`, true},
		{"long s collides (Unicode folding)", `{"ſub":"x"}`, true},
		{"underscore-free spelling collides (JSON v2 case-insensitive)", `{"clientId":"x"}`, true},
		{"a longer name is fine", `{"subject":"x","tenant_role":"y"}`, false},
		{"duplicate inside extra", `{"a":1,"a":2}`, true},
		{"not an object", `["a"]`, true},
		{"not JSON", `tenant=acme`, true},
		{"invalid UTF-8", "{\"a\":\"\xff\"}", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := iss.Issue(context.Background(), Claims{Subject: "alice", Extra: []byte(tt.extra)})
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("Issue with Extra %s: got err %v (token %q), want error %v", tt.extra, err, tok, tt.wantErr)
			}
			if err != nil {
				if tok != "" {
					t.Errorf("got token %q with an error, want empty", tok)
				}
				return
			}
			c, err := jwtVerifier(t, VerifierConfig{Keys: []*Key{k}}).Verify(context.Background(), tok)
			if err != nil {
				t.Fatal(err)
			}
			if c.Subject != "alice" {
				t.Errorf("Subject: got %q, want alice", c.Subject)
			}
		})
	}
}

func TestIssueRefuses(t *testing.T) {
	k := jwtMustHMAC(t, HS256, jwtSecret32, "")
	iss, err := NewTokenIssuer(TokenIssuerConfig{Key: k})
	if err != nil {
		t.Fatal(err)
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name   string
		ctx    context.Context
		claims Claims
	}{
		{"no subject", context.Background(), Claims{}},
		{"canceled context", canceled, Claims{Subject: "a"}},
		{"scope with space", context.Background(), Claims{Subject: "a", Scopes: []string{"read write"}}},
		{"empty scope", context.Background(), Claims{Subject: "a", Scopes: []string{""}}},
		{"scope with quote", context.Background(), Claims{Subject: "a", Scopes: []string{`a"b`}}},
		{"invalid UTF-8 subject", context.Background(), Claims{Subject: "a\xff"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tok, err := iss.Issue(tt.ctx, tt.claims); err == nil {
				t.Errorf("got token %q and nil error, want an error", tok)
			}
		})
	}
}

func TestNewTokenIssuerRefuses(t *testing.T) {
	tests := []struct {
		name string
		cfg  TokenIssuerConfig
	}{
		{"no key", TokenIssuerConfig{}},
		{"public key", TokenIssuerConfig{Key: jwtMustPriv(t, ES256, jwtP256(), "").Public()}},
		{"negative TTL", TokenIssuerConfig{Key: jwtMustHMAC(t, HS256, jwtSecret32, ""), TTL: -time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if iss, err := NewTokenIssuer(tt.cfg); err == nil {
				t.Errorf("got %v and nil error, want an error", iss)
			}
		})
	}
}

func TestIssuerConfigIsCopied(t *testing.T) {
	k := jwtMustHMAC(t, HS256, jwtSecret32, "")
	cfg := TokenIssuerConfig{Key: k, Audience: []string{"api"}, Now: jwtClock(jwtNow)}
	iss, err := NewTokenIssuer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Audience[0] = "evil"
	tok, err := iss.Issue(context.Background(), Claims{Subject: "a"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := jwtVerifier(t, VerifierConfig{Keys: []*Key{k}, Audiences: []string{"api"}}).Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("after mutating the config: %v", err)
	}
	if !slices.Equal(c.Audience, []string{"api"}) {
		t.Errorf("Audience: got %q, want [api]", c.Audience)
	}
}

// TestIssueRefusesBadScopeTokens: Issue writes only RFC 6749 §3.3 scope
// tokens, so no scope it signs can be read back as two.
func TestIssueRefusesBadScopeTokens(t *testing.T) {
	iss, err := NewTokenIssuer(TokenIssuerConfig{Key: jwtMustHMAC(t, HS256, jwtSecret32, ""), Now: jwtClock(jwtNow)})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"", "read admin", "read\tadmin", "read\nadmin", "read\radmin", "read\x00", "read\x7f",
		"read\u00a0admin", "read\u2028admin", `a"b`, `a\b`, "café"} {
		if _, err := iss.Issue(context.Background(), Claims{Subject: "a", Scopes: []string{"read", s}}); err == nil {
			t.Errorf("Issue with scope %q: got nil error, want an error", s)
		}
	}
	tok, err := iss.Issue(context.Background(), Claims{Subject: "a", Scopes: []string{"read", "urn:x:write", "a!#[]~"}})
	if err != nil {
		t.Fatalf("Issue with valid scopes: %v", err)
	}
	v := jwtVerifier(t, VerifierConfig{Keys: []*Key{jwtMustHMAC(t, HS256, jwtSecret32, "")}})
	c, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"read", "urn:x:write", "a!#[]~"}; !slices.Equal(c.Scopes, want) {
		t.Errorf("Scopes: got %q, want %q", c.Scopes, want)
	}
}

// TestIssuerKeyBoundToIssuers: a key bound with ForIssuers signs only for
// the issuers it is bound to.
func TestIssuerKeyBoundToIssuers(t *testing.T) {
	k := jwtMustHMAC(t, HS256, jwtSecret32, "").ForIssuers("https://a")
	for _, iss := range []string{"", "https://b"} {
		if _, err := NewTokenIssuer(TokenIssuerConfig{Key: k, Issuer: iss}); err == nil {
			t.Errorf("NewTokenIssuer with a key bound to https://a, Issuer %q: got nil error", iss)
		}
	}
	i, err := NewTokenIssuer(TokenIssuerConfig{Key: k, Issuer: "https://a", Now: jwtClock(jwtNow)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := i.Issue(context.Background(), Claims{Subject: "s"}); err != nil {
		t.Errorf("Issue for the bound issuer: %v", err)
	}
	if _, err := i.Issue(context.Background(), Claims{Subject: "s", Issuer: "https://b"}); err == nil {
		t.Error("Issue with Claims.Issuer outside the key's binding: got nil error")
	}
}

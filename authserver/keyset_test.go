package authserver

import (
	"net/http"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/guardkit/guard"
)

// TestTokenEndpointKeySetRotation: the token endpoint signs with the new key
// after a rotation, and its limiter still counts the failures made before.
func TestTokenEndpointKeySetRotation(t *testing.T) {
	k1 := jwtMustHMAC(t, guard.HS256, []byte(tokHMACKey), "k1")
	k2 := jwtMustHMAC(t, guard.HS256, jwtSecret32, "k2")
	ks := mustKeySet(t, guard.KeySetConfig{Keys: []*guard.Key{k1}, Now: func() time.Time { return tokNow }})
	f := newTokFixture(t, guard.PasswordHasherConfig{}, func(cfg *TokenEndpointConfig) {
		iss, err := guard.NewTokenIssuer(guard.TokenIssuerConfig{Keys: ks, Issuer: "https://auth.example", TTL: 10 * time.Minute, Now: func() time.Time { return tokNow }})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Issuer = iss
	})
	bad := form("grant_type", "password", "username", "alice", "password", "nope")
	throttled := false
	for range 10 {
		if f.do(tokRequest(bad)).Code == http.StatusTooManyRequests {
			throttled = true
			break
		}
	}
	if !throttled {
		t.Fatal("no 429 after 10 failed logins")
	}
	if err := ks.Add(k2); err != nil {
		t.Fatal(err)
	}
	if err := ks.Promote("k2"); err != nil {
		t.Fatal(err)
	}
	if err := ks.Retire("k1"); err != nil {
		t.Fatal(err)
	}
	if got := f.do(tokRequest(bad)).Code; got != http.StatusTooManyRequests {
		t.Errorf("after rotation: got %d, want 429 (the limiter kept its counters)", got)
	}
	rec := f.do(tokRequest(form("grant_type", "client_credentials"), withBasic(tokSvcID, tokSvcPW)))
	if rec.Code != http.StatusOK {
		t.Fatalf("client_credentials: got %d %s", rec.Code, rec.Body)
	}
	var resp struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp, json.RejectUnknownMembers(false)); err != nil {
		t.Fatal(err)
	}
	if got := kidOf(t, resp.AccessToken); got != "k2" {
		t.Errorf("token after rotation: kid %q, want k2", got)
	}
}

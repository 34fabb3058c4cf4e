package e2e

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/guardkit/guard/redisstore/redistest"
)

// TestReplicas runs Redis, two replicas of examples/authservice and
// examples/resourceservice with INTROSPECT=true as real processes, on a
// standalone Redis and on a Redis Cluster of three masters:
//   - with ROTATE_EVERY=2s over 20 s, tokens minted alternately by both
//     replicas all verify at the resource service and at both replicas;
//   - the JWKS is the same on both replicas at every poll (or again within
//     the ring's poll interval, when a poll falls between one replica's
//     rotation and the other's read of it), and gains one new kid per period;
//   - a token revoked at replica B is refused by the resource service within
//     INTROSPECT_CACHE + 1 s.
func TestReplicas(t *testing.T) {
	for _, backend := range []struct {
		name  string
		start func(t *testing.T) string // returns REDIS_URL
	}{
		{"standalone", startRedisURL},
		{"cluster", startRedisClusterURL},
	} {
		t.Run(backend.name, func(t *testing.T) {
			testReplicas(t, backend.start(t))
		})
	}
}

func testReplicas(t *testing.T, redisURL string) {
	kek := make([]byte, 32)
	_, _ = rand.Read(kek)
	addrA, addrB, addrR := freeAddr(t), freeAddr(t), freeAddr(t)
	issuer := "http://" + addrA
	common := []string{"REDIS_URL=" + redisURL, "KEY_ENCRYPTION_KEY=" + base64.StdEncoding.EncodeToString(kek),
		"ISSUER_URL=" + issuer, "ROTATE_EVERY=2s", "TOKEN_TTL=1m", "BCRYPT_COST=10"}
	startProgram(t, "authservice", append(common, "ADDR="+addrA)...)
	startProgram(t, "authservice", append(common, "ADDR="+addrB)...)
	a, b, r := "http://"+addrA, "http://"+addrB, "http://"+addrR
	for _, base := range []string{a, b} {
		eventually(t, 30*time.Second, base+" serves its JWKS", func() bool { return get(base+"/.well-known/jwks.json") == http.StatusOK })
	}
	const cacheFor = time.Second
	startProgram(t, "resourceservice", "ADDR="+addrR, "ISSUER_URL="+issuer, "INTROSPECT=true",
		"INTROSPECT_CACHE="+cacheFor.String(), "MIN_REFRESH=1s", "REFETCH_INTERVAL=1s")
	eventually(t, 30*time.Second, "the resource service has the issuer's keys", func() bool { return get(r+"/hello") == http.StatusUnauthorized })

	seen := map[string]bool{} // kids ever published
	// The kids already published at the first poll: every key made since
	// the first replica started (retired keys stay published for
	// RETIRE_AFTER), however long the builds and starts took.
	var before int
	signedBy := map[string]bool{}
	differed, minted := 0, 0
	start := time.Now()
	for i := 0; time.Since(start) < 20*time.Second; i++ {
		ja, jb := jwksKids(t, a), jwksKids(t, b)
		if !slices.Equal(ja, jb) {
			differed++
			// One replica rotated and the other reads the ring within its poll
			// interval (500 ms): the two must agree again within a second.
			eventually(t, time.Second, "the replicas publish the same JWKS again", func() bool {
				return slices.Equal(jwksKids(t, a), jwksKids(t, b))
			})
			ja = jwksKids(t, a)
		}
		for _, k := range ja {
			seen[k] = true
		}
		if i == 0 {
			before = len(seen)
		}
		minter := []string{a, b}[i%2]
		tok := clientToken(t, minter)
		minted++
		signedBy[kidOf(t, tok)] = true
		if code := bearerGet(t, r+"/hello", tok); code != http.StatusOK {
			t.Fatalf("token %d of %s (kid %s): resource service answered %d", i, minter, kidOf(t, tok), code)
		}
		for _, base := range []string{a, b} {
			if !introspect(t, base, tok) {
				t.Fatalf("token %d of %s (kid %s): %s says it is not active", i, minter, kidOf(t, tok), base)
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	elapsed := time.Since(start)
	periods := int(elapsed / (2 * time.Second))
	t.Logf("%d tokens over %v: %d kids published (%d at the first poll), %d signed tokens, JWKS differed at %d polls for under a second",
		minted, elapsed.Round(time.Second), len(seen), before, len(signedBy), differed)
	// One new key per period after the first poll, give or take the period
	// in progress at either end.
	if n := len(seen) - before; n < periods-1 || n > periods+1 {
		t.Errorf("kids first published over %d periods: got %d, want one new kid per period (%d to %d)", periods, n, periods-1, periods+1)
	}
	if len(signedBy) < periods/2 {
		t.Errorf("tokens were signed by %d keys over %d periods, want the rotation to show", len(signedBy), periods)
	}

	// A client registered at replica A signs in at replica B: the registry,
	// the codes and the refresh families are shared.
	registeredClientAcrossReplicas(t, a, b)

	// Revocation at replica B reaches the resource service through introspection.
	tok := passwordToken(t, a, "alice", "wonderland")
	if code := bearerGet(t, r+"/hello", tok); code != http.StatusOK {
		t.Fatalf("alice's token at the resource service: %d", code)
	}
	resp, err := http.PostForm(b+"/revoke", url.Values{"token": {tok}, "client_id": {"demo-app"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke at B: %d", resp.StatusCode)
	}
	revoked := time.Now()
	eventually(t, cacheFor+time.Second, "the resource service refuses the revoked token", func() bool {
		return bearerGet(t, r+"/hello", tok) == http.StatusUnauthorized
	})
	t.Logf("revoked at B, refused by the resource service after %v (INTROSPECT_CACHE %v)", time.Since(revoked).Round(10*time.Millisecond), cacheFor)
}

// registeredClientAcrossReplicas registers a public client at one replica
// (RFC 7591) and runs its authorization code flow with PKCE at the other:
// the login page, the form posted as alice, the code redeemed.
func registeredClientAcrossReplicas(t *testing.T, at, other string) {
	t.Helper()
	const redirect = "http://127.0.0.1:8978/callback"
	resp, err := http.Post(at+"/register", "application/json",
		strings.NewReader(`{"redirect_uris":["`+redirect+`"],"grant_types":["authorization_code","refresh_token"]}`))
	if err != nil {
		t.Fatal(err)
	}
	var reg struct {
		ClientID string `json:"client_id"`
	}
	err = json.NewDecoder(resp.Body).Decode(&reg)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || err != nil || reg.ClientID == "" {
		t.Fatalf("register at %s: %d %v", at, resp.StatusCode, err)
	}
	verifier := rand.Text() + rand.Text()
	sum := sha256.Sum256([]byte(verifier))
	authURL := other + "/authorize?" + url.Values{"response_type": {"code"}, "client_id": {reg.ClientID}, "redirect_uri": {redirect},
		"state": {"s"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}.Encode()
	if code := get(authURL); code != http.StatusOK {
		t.Fatalf("the login page at %s for a client registered at %s: %d", other, at, code)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noRedirect.PostForm(authURL, url.Values{"username": {"alice"}, "password": {"wonderland"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("login at %s: %d, Location %q", other, resp.StatusCode, resp.Header.Get("Location"))
	}
	postToken(t, at, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {redirect},
		"client_id": {reg.ClientID}, "code_verifier": {verifier}}, "", "")
}

func get(u string) int {
	resp, err := http.Get(u)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func jwksKids(t *testing.T, base string) []string {
	t.Helper()
	resp, err := http.Get(base + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	slices.Sort(kids)
	return kids
}

func postToken(t *testing.T, base string, form url.Values, user, pass string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s/token: %d %s", base, resp.StatusCode, body)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		t.Fatalf("token response %s: %v", body, err)
	}
	return tr.AccessToken
}

func clientToken(t *testing.T, base string) string {
	return postToken(t, base, url.Values{"grant_type": {"client_credentials"}}, "demo-client", "demo-secret")
}

func passwordToken(t *testing.T, base, user, pass string) string {
	return postToken(t, base, url.Values{"grant_type": {"password"}, "username": {user}, "password": {pass}, "client_id": {"demo-app"}}, "", "")
}

func bearerGet(t *testing.T, u, tok string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// introspect asks base's introspection endpoint about tok as resource-api.
func introspect(t *testing.T, base, tok string) bool {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/introspect", strings.NewReader(url.Values{"token": {tok}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("resource-api", "resource-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ir struct {
		Active bool `json:"active"`
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("introspect at %s: %d", base, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&ir); err != nil {
		t.Fatal(err)
	}
	return ir.Active
}

func startRedisURL(t *testing.T) string { return redistest.Start(t).URL() }

func startRedisClusterURL(t *testing.T) string { return redistest.StartCluster(t).URL() }

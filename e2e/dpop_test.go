package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/guardkit/guard"
)

// accessClaims are the claims of an access token the tests look at.
type accessClaims struct {
	Sub string          `json:"sub"`
	Aud json.RawMessage `json:"aud"` // a string or an array
	Cnf struct {
		JKT string `json:"jkt"`
	} `json:"cnf"`
}

// audience returns aud as a list.
func (c accessClaims) audience() []string {
	var one string
	if json.Unmarshal(c.Aud, &one) == nil {
		return []string{one}
	}
	var list []string
	_ = json.Unmarshal(c.Aud, &list)
	return list
}

// rawAnswer is a response the node drivers report as they got it.
type rawAnswer struct {
	Status          int    `json:"status"`
	Error           string `json:"error"`
	WWWAuthenticate string `json:"www_authenticate"`
}

// helloAnswer is a 200 of examples/resourceservice.
type helloAnswer struct {
	Status int `json:"status"`
	Body   struct {
		Subject string   `json:"subject"`
		Roles   []string `json:"roles"`
	} `json:"body"`
}

// oauthDPoPRun is what node/oauth-dpop.mjs prints.
type oauthDPoPRun struct {
	Discovery struct {
		AuthorizationEndpoint string   `json:"authorization_endpoint"`
		RegistrationEndpoint  string   `json:"registration_endpoint"`
		CodeChallengeMethods  []string `json:"code_challenge_methods_supported"`
		DPoPAlgs              []string `json:"dpop_signing_alg_values_supported"`
	} `json:"discovery"`
	ResourceMetadata struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
	} `json:"resource_metadata"`
	ClientID            string       `json:"client_id"`
	LoginPage           int          `json:"login_page"`
	LoginPost           int          `json:"login_post"`
	TokenType           string       `json:"token_type"`
	AccessTokenClaims   accessClaims `json:"access_token_claims"`
	Hello               helloAnswer  `json:"hello"`
	Admin               helloAnswer  `json:"admin"`
	Replay              rawAnswer    `json:"replay"`
	AsBearer            rawAnswer    `json:"as_bearer"`
	WithoutProof        rawAnswer    `json:"without_proof"`
	RefreshWithoutProof rawAnswer    `json:"refresh_without_proof"`
	Refresh             struct {
		TokenType string       `json:"token_type"`
		Claims    accessClaims `json:"claims"`
	} `json:"refresh"`
	RefreshedHello  helloAnswer `json:"refreshed_hello"`
	RefreshOtherKey struct {
		Status int    `json:"status"`
		Error  string `json:"error"`
	} `json:"refresh_other_key"`
}

// TestOAuth4WebAPIDPoP runs npm oauth4webapi, a certified OAuth client,
// against examples/authservice and examples/resourceservice as built
// binaries: RFC 8414 and RFC 9728 discovery, RFC 7591 registration, the
// authorization code flow with PKCE, dpop_jkt and a resource indicator (the
// driver posts the login form as alice), DPoP-bound tokens for that
// resource accepted with proofs at /hello and /admin, a replayed proof and
// the same token as a bearer token or without a proof refused, a refresh
// with a proof of the same key, and refreshes without one or with another
// key refused.
func TestOAuth4WebAPIDPoP(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs two programs and node")
	}
	node := nodeWith(t, "oauth4webapi")
	authAddr, resAddr := freeAddr(t), freeAddr(t)
	issuer, resource := "http://"+authAddr, "http://"+resAddr
	startProgram(t, "authservice", "ADDR="+authAddr, "ISSUER_URL="+issuer, "BCRYPT_COST=10",
		"RESOURCES="+resource+",http://127.0.0.1:9/other-api")
	eventually(t, 30*time.Second, "the authorization server serves its JWKS", func() bool { return get(issuer+"/.well-known/jwks.json") == http.StatusOK })
	startProgram(t, "resourceservice", "ADDR="+resAddr, "ISSUER_URL="+issuer, "RESOURCE_URL="+resource)
	eventually(t, 30*time.Second, "the resource service has the issuer's keys", func() bool { return get(resource+"/hello") == http.StatusUnauthorized })

	out := runDriver(t, "", node, "node/oauth-dpop.mjs", issuer, resource, "alice", "wonderland")
	t.Logf("oauth4webapi: %s", out)
	var run oauthDPoPRun
	if err := json.Unmarshal(out, &run); err != nil {
		t.Fatalf("driver output: %v", err)
	}

	if d := run.Discovery; d.AuthorizationEndpoint != issuer+"/authorize" || d.RegistrationEndpoint != issuer+"/register" ||
		!slices.Equal(d.CodeChallengeMethods, []string{"S256"}) || !slices.Contains(d.DPoPAlgs, "ES256") {
		t.Errorf("discovery: got %+v", d)
	}
	if m := run.ResourceMetadata; m.Resource != resource || !slices.Equal(m.AuthorizationServers, []string{issuer}) {
		t.Errorf("resource metadata: got %+v, want resource %s at %s", m, resource, issuer)
	}
	if run.ClientID == "" || run.LoginPage != 200 || (run.LoginPost != 302 && run.LoginPost != 303) {
		t.Errorf("client %q, login page %d, form post %d: want a client, 200 and a redirect", run.ClientID, run.LoginPage, run.LoginPost)
	}
	c := run.AccessTokenClaims
	if !strings.EqualFold(run.TokenType, "DPoP") || c.Sub != "alice" || !slices.Equal(c.audience(), []string{resource}) || c.Cnf.JKT == "" {
		t.Errorf("token type %q, claims %+v (aud %v): want DPoP, alice, aud [%s] and cnf.jkt", run.TokenType, c, c.audience(), resource)
	}
	for name, h := range map[string]helloAnswer{"/hello": run.Hello, "/admin": run.Admin, "/hello after the refresh": run.RefreshedHello} {
		if h.Status != 200 || h.Body.Subject != "alice" {
			t.Errorf("%s with a proof: got %+v, want 200 for alice", name, h)
		}
	}
	for _, tt := range []struct {
		name  string
		got   rawAnswer
		error string
	}{
		{"a replayed proof", run.Replay, "invalid_dpop_proof"},
		{"the token as a bearer token", run.AsBearer, "invalid_token"},
		{"the token without a proof", run.WithoutProof, "invalid_dpop_proof"},
	} {
		if tt.got.Status != 401 || !strings.Contains(tt.got.WWWAuthenticate, tt.error) {
			t.Errorf("%s: got %+v, want 401 with %q in WWW-Authenticate", tt.name, tt.got, tt.error)
		}
	}
	r := run.Refresh
	if !strings.EqualFold(r.TokenType, "DPoP") || r.Claims.Cnf.JKT != c.Cnf.JKT || !slices.Equal(r.Claims.audience(), []string{resource}) {
		t.Errorf("refresh: got %+v, want a DPoP token bound to %s for %s", r, c.Cnf.JKT, resource)
	}
	// RFC 9449 §5: a public client's refresh token is bound to its key.
	if run.RefreshWithoutProof.Status != 400 || run.RefreshWithoutProof.Error != "invalid_dpop_proof" {
		t.Errorf("refresh without a proof: got %+v, want 400 invalid_dpop_proof", run.RefreshWithoutProof)
	}
	if k := run.RefreshOtherKey; k.Status != 400 || (k.Error != "invalid_grant" && k.Error != "invalid_dpop_proof") {
		t.Errorf("refresh with another key's proof: got %+v, want 400 invalid_grant or invalid_dpop_proof", k)
	}
}

// dpopProofsRun is one line of node/dpop-proofs.mjs.
type dpopProofsRun struct {
	Alg         string `json:"alg"`
	ProofAlg    string `json:"proof_alg"`
	JKT         string `json:"jkt"`
	OK          dpopAnswer
	WrongMethod dpopAnswer `json:"wrong_method"`
	WithoutAth  dpopAnswer `json:"without_ath"`
	Replayed    dpopAnswer `json:"replayed"`
}

type dpopAnswer struct {
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body"`
	WWW    string          `json:"www_authenticate"`
}

// TestDPoPNpmProofs: proofs made by npm dpop, for keys of every algorithm
// it has, are accepted by guard's verifier with tokens bound to their
// thumbprints (RFC 7638, computed by npm dpop and by guard alike); a proof
// for another method, one without ath and a replayed one are refused with
// 401 invalid_dpop_proof in a DPoP challenge.
func TestDPoPNpmProofs(t *testing.T) {
	node := nodeWith(t, "dpop")
	p, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := guard.NewPrivateKey(guard.ES256, p, "k1")
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := guard.NewTokenIssuer(guard.TokenIssuerConfig{Key: key, Issuer: "https://issuer.example", Audience: []string{"api"}})
	if err != nil {
		t.Fatal(err)
	}
	dpop, err := guard.NewDPoP(guard.DPoPConfig{Replay: guard.NewMemoryReplayCache(1000)})
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := guard.NewVerifier(guard.VerifierConfig{
		Keys: []*guard.Key{key}, Issuers: []string{"https://issuer.example"}, Audiences: []string{"api"}, DPoP: dpop,
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	// The test's token endpoint: a token bound to the thumbprint posted.
	mux.HandleFunc("POST /mint", func(w http.ResponseWriter, r *http.Request) {
		tok, err := issuer.Issue(context.Background(), guard.Claims{Subject: "npm-dpop", Confirmation: &guard.Confirmation{JKT: r.FormValue("jkt")}})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = w.Write([]byte(tok))
	})
	mux.Handle("GET /hello", verifier.RequireBearer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := guard.PrincipalFrom(r.Context())
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"subject": p.Subject, "jkt": p.KeyThumbprint, "dpop": p.Binding == guard.BindingDPoP})
	})))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	algs := []string{"ES256", "Ed25519", "RS256", "PS256"}
	out := runDriver(t, "", node, append([]string{"node/dpop-proofs.mjs", srv.URL + "/hello", srv.URL + "/mint"}, algs...)...)
	t.Logf("npm dpop: %s", out)
	seen := 0
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		var run dpopProofsRun
		if err := json.Unmarshal([]byte(line), &run); err != nil {
			t.Fatalf("driver output %q: %v", line, err)
		}
		seen++
		var ok struct {
			Subject string `json:"subject"`
			JKT     string `json:"jkt"`
			DPoP    bool   `json:"dpop"`
		}
		_ = json.Unmarshal(run.OK.Body, &ok)
		if run.OK.Status != 200 || ok.Subject != "npm-dpop" || ok.JKT != run.JKT || !ok.DPoP {
			t.Errorf("%s (proof alg %s): got %d %s, want 200 for npm-dpop bound to %s", run.Alg, run.ProofAlg, run.OK.Status, run.OK.Body, run.JKT)
		}
		for name, a := range map[string]dpopAnswer{"another method": run.WrongMethod, "no ath": run.WithoutAth, "replayed": run.Replayed} {
			if a.Status != 401 || !strings.Contains(a.WWW, "DPoP algs=") || !strings.Contains(a.WWW, `error="invalid_dpop_proof"`) {
				t.Errorf("%s, proof for %s: got %d %q, want 401 with a DPoP invalid_dpop_proof challenge", run.Alg, name, a.Status, a.WWW)
			}
		}
	}
	if seen != len(algs) {
		t.Errorf("the driver reported %d algorithms, want %d", seen, len(algs))
	}
}

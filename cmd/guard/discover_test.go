package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestDiscover(t *testing.T) {
	dir := t.TempDir()
	es, key := newKeyFile(t, dir, "ES256")
	ed, _ := newKeyFile(t, dir, "EdDSA")
	jwks := mustRun(t, "jwks", es, ed)
	p := newIdP(t, jwks)

	r := cmd(t, "", "discover", p.URL)
	r.want(t, 0, []string{
		"issuer:   " + p.URL, "metadata: " + p.URL + "/.well-known/openid-configuration", "jwks_uri: " + p.URL + "/jwks.json",
		`kid="` + key.KeyID() + `" kty=EC alg=ES256 use=sig: usable`, "guard.RemoteKeySet loads keys: yes",
		"warning  issuer \"" + p.URL + "\" is not https: acceptable for local testing only",
	}, nil)
	if strings.Contains(r.stdout, "error ") {
		t.Errorf("a good issuer has errors:\n%s", r.stdout)
	}
	// The metadata address itself works too.
	cmd(t, "", "discover", p.URL+"/.well-known/openid-configuration").want(t, 0, []string{"loads keys: yes"}, nil)
	// A metadata address whose document names another issuer is not followed there.
	p.meta["issuer"] = "https://impostor.example"
	cmd(t, "", "discover", p.URL+"/.well-known/openid-configuration").want(t, 1,
		[]string{`error    issuer "https://impostor.example" does not publish its metadata at ` + p.URL, "loads keys: no"}, nil)
	p.meta["issuer"] = p.URL

	r = cmd(t, "", "discover", "--json", p.URL)
	r.want(t, 0, nil, nil)
	var d discovery
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || !d.OK || !d.GuardLoads || len(d.Keys) != 2 || len(d.Problems) != 1 {
		t.Errorf("JSON %s: %+v, %v", r.stdout, d, err)
	}

	// RFC 8414 metadata when the OpenID Connect location answers 404.
	p.oauthMeta = true
	cmd(t, "", "discover", p.URL).want(t, 0, []string{"metadata: " + p.URL + "/.well-known/oauth-authorization-server", "loads keys: yes"}, nil)
	p.oauthMeta = false
}

func TestDiscoverProblems(t *testing.T) {
	dir := t.TempDir()
	es, _ := newKeyFile(t, dir, "ES256")
	priv := strings.TrimSpace(mustRead(t, es))
	tests := []struct {
		name   string
		change func(p *idp)
		stdout []string
	}{
		{"issuer mismatch", func(p *idp) { p.meta["issuer"] = "https://impostor.example" },
			[]string{`error    issuer "https://impostor.example" is not the URL asked for`}},
		{"no jwks_uri", func(p *idp) { delete(p.meta, "jwks_uri") },
			[]string{"error    jwks_uri is missing", "loads keys: no"}},
		{"plain http endpoint", func(p *idp) { p.meta["token_endpoint"] = "http://auth.example/token" },
			[]string{`error    token_endpoint "http://auth.example/token" is plain http to a non-loopback host`}},
		{"relative endpoint", func(p *idp) { p.meta["token_endpoint"] = "/token" },
			[]string{`token_endpoint "/token" is not an absolute http(s) URL`}},
		{"no PKCE methods", func(p *idp) { delete(p.meta, "code_challenge_methods_supported") },
			[]string{"error    code_challenge_methods_supported is missing"}},
		{"no S256", func(p *idp) { p.meta["code_challenge_methods_supported"] = []string{"plain"} },
			[]string{`code_challenge_methods_supported ["plain"] lacks S256`}},
		{"private key in the JWKS", func(p *idp) { p.jwks = `{"keys":[` + priv + `]}` },
			[]string{`publishes the private member "d"`, "guard refuses the JWK Set", "loads keys: no"}},
		{"secret key in the JWKS", func(p *idp) { p.jwks = `{"keys":[{"kty":"oct","k":"c2VjcmV0","alg":"HS256","kid":"s"}]}` },
			[]string{`publishes the private member "k"`}},
		{"keys without kid and alg", func(p *idp) {
			var set struct{ Keys []map[string]any }
			_ = json.Unmarshal([]byte(mustRun(t, "jwks", es)), &set)
			delete(set.Keys[0], "kid")
			delete(set.Keys[0], "alg")
			b, _ := json.Marshal(set)
			p.jwks = string(b)
		}, []string{"warning  keys[0] has no kid", `warning  keys[0] (kid "") has no alg`}},
		{"duplicate kid", func(p *idp) {
			var set struct{ Keys []json.RawMessage }
			_ = json.Unmarshal([]byte(mustRun(t, "jwks", es)), &set)
			p.jwks = `{"keys":[` + string(set.Keys[0]) + "," + string(set.Keys[0]) + `]}`
		}, []string{"has the same kid as keys[0]"}},
		{"unsupported alg", func(p *idp) {
			p.jwks = `{"keys":[{"kty":"RSA","alg":"RSA-OAEP","use":"sig","kid":"x","n":"AQAB","e":"AQAB"}]}`
		},
			[]string{`has alg "RSA-OAEP", which guard does not verify`, "no key guard can use"}},
		{"JWKS not found", func(p *idp) { p.meta["jwks_uri"] = p.URL + "/missing.json" },
			[]string{"GET jwks_uri", "status 404"}},
		{"empty JWKS", func(p *idp) { p.jwks = `{"keys":[]}` },
			[]string{"error    the JWK Set has no keys", "loads keys: no"}},
		{"JWKS not a set", func(p *idp) { p.jwks = `{"kty":"EC"}` },
			[]string{`not a JSON object with a "keys" array`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newIdP(t, mustRun(t, "jwks", es))
			tt.change(p)
			cmd(t, "", "discover", p.URL).want(t, 1, append(tt.stdout, "problems:"), nil)
		})
	}

	// Warnings alone keep the status 0.
	p := newIdP(t, mustRun(t, "jwks", es))
	p.meta["grant_types_supported"] = []string{"authorization_code", "password"}
	p.meta["code_challenge_methods_supported"] = []string{"S256", "plain"}
	p.meta["id_token_signing_alg_values_supported"] = []string{"ES256", "none", "RSA1_5"}
	delete(p.meta, "subject_types_supported")
	cmd(t, "", "discover", p.URL).want(t, 0, []string{
		`grant_types_supported lists "password"`, `offers "plain"`, `lists "none"`, `lists "RSA1_5", which guard does not verify`,
		"subject_types_supported is missing",
	}, nil)
}

func TestDiscoverFailures(t *testing.T) {
	p := newIdP(t, "{}")
	p.status = http.StatusInternalServerError
	cmd(t, "", "discover", p.URL).want(t, 1, nil, []string{"GET " + p.URL + "/.well-known/openid-configuration: status 500"})
	p.status = 0
	p.meta = nil
	cmd(t, "", "discover", p.URL).want(t, 1, nil, []string{"oauth-authorization-server: status 404"})

	usage := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"no URL", nil, "want one URL argument"},
		{"two URLs", []string{"https://a.example", "https://b.example"}, "got 2"},
		{"not http", []string{"ftp://auth.example"}, "is not an http(s) URL"},
		{"no scheme", []string{"auth.example"}, "is not an http(s) URL"},
		{"plain http", []string{"http://auth.example"}, "use https, or --insecure"},
		{"user info", []string{"https://u:p@auth.example"}, "user info"},
	}
	for _, tt := range usage {
		t.Run(tt.name, func(t *testing.T) {
			cmd(t, "", append([]string{"discover"}, tt.args...)...).want(t, 2, nil, []string{tt.stderr})
		})
	}
}

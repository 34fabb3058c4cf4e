package authserver

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"
	"github.com/guardkit/guard"
)

const (
	resMCP   = "https://mcp.example/mcp"
	resAPI   = "https://api.example"
	resOther = "https://other.example/"
)

func TestValidResourceURI(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want bool
	}{
		{"https://mcp.example/mcp", true},
		{"https://api.example", true},
		{"https://api.example:8443/v1?tenant=a", true}, // a query is discouraged, not forbidden (RFC 8707 §2)
		{"http://127.0.0.1:8080/mcp", true},
		{"urn:example:resource", true},
		{"", false},
		{"/mcp", false},                         // relative
		{"mcp.example/mcp", false},              // relative: no scheme
		{"//mcp.example/mcp", false},            // network-path reference
		{"https://mcp.example/mcp#frag", false}, // fragment
		{"https://mcp.example/mcp#", false},     // empty fragment
		{"https:///mcp", false},                 // http(s) without a host
		{"https://mcp.example/a b", false},      // space
		{"https://mcp.example/\x00", false},     // control
		{"https://mcp.example/\u0085", false},   // C1 control
		{"https://mcp.example/\xff", false},     // not UTF-8
		{"mailto:", false},                      // scheme alone
		{"https://mcp.example/" + strings.Repeat("a", MaxResourceBytes), false},
	}
	for _, c := range cases {
		if got := ValidResourceURI(c.in); got != c.want {
			t.Errorf("ValidResourceURI(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

// resSuccess checks a 200 from the token endpoint (status, every header,
// the exact members of the body), verifies its access token and returns the
// claims and the refresh token.
func resSuccess(t *testing.T, rec *httptest.ResponseRecorder, v *guard.Verifier, wantRefresh bool, scope string) (*guard.Claims, string) {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("status: got %d, want 200 (body %q)", rec.Code, rec.Body.String())
	}
	want := http.Header{"Content-Type": {"application/json;charset=UTF-8"}, "Cache-Control": {"no-store"}, "Pragma": {"no-cache"}}
	if got := rec.Header(); !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("headers:\n got %v\nwant %v", got, want)
	}
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	keys := []string{"access_token", "expires_in", "token_type"}
	if wantRefresh {
		keys = append(keys, "refresh_token")
	}
	if scope != "" {
		keys = append(keys, "scope")
	}
	slices.Sort(keys)
	if got := slices.Sorted(maps.Keys(body)); !slices.Equal(got, keys) {
		t.Errorf("body members: got %v, want %v (%s)", got, keys, rec.Body)
	}
	if body["token_type"] != "Bearer" || body["expires_in"] != 600.0 || scope != "" && body["scope"] != scope {
		t.Errorf("body: %s", rec.Body)
	}
	c, err := v.Verify(context.Background(), body["access_token"].(string))
	if err != nil {
		t.Fatalf("access_token does not verify: %v", err)
	}
	rt, _ := body["refresh_token"].(string)
	return c, rt
}

var (
	errTargetSyntaxBody = tokErrBody("invalid_target", "resource must be an absolute URI without a fragment")
	errTargetDeniedBody = tokErrBody("invalid_target", "resource not allowed")
)

// TestResourceClientCredentials: resource indicators at the
// client_credentials grant (RFC 8707 §2): the requested resources become
// "aud", each must be one of the client's Resources.
func TestResourceClientCredentials(t *testing.T) {
	t.Parallel()
	many := make([]string, 0, 2*(MaxResources+1))
	for range MaxResources + 1 {
		many = append(many, "resource", resMCP)
	}
	cases := []struct {
		name   string
		kv     []string
		status int
		aud    []string // on success
		body   string   // on failure
	}{
		{"none: the issuer's audience", nil, 200, nil, ""},
		{"one", []string{"resource", resMCP}, 200, []string{resMCP}, ""},
		{"two", []string{"resource", resMCP, "resource", resAPI}, 200, []string{resMCP, resAPI}, ""},
		{"one twice", []string{"resource", resMCP, "resource", resMCP}, 200, []string{resMCP}, ""},
		{"at the bound", many[2:], 200, []string{resMCP}, ""},
		{"over the bound", many, 400, nil, tokErrBody("invalid_target", "too many resource parameters")},
		{"not the client's", []string{"resource", resOther}, 400, nil, errTargetDeniedBody},
		{"one allowed, one not", []string{"resource", resMCP, "resource", resOther}, 400, nil, errTargetDeniedBody},
		{"relative", []string{"resource", "/mcp"}, 400, nil, errTargetSyntaxBody},
		{"fragment", []string{"resource", resMCP + "#x"}, 400, nil, errTargetSyntaxBody},
		{"empty", []string{"resource", ""}, 400, nil, errTargetSyntaxBody},
		{"allowed one with a fragment", []string{"resource", resMCP, "resource", resAPI + "#"}, 400, nil, errTargetSyntaxBody},
	}
	f := newTokFixture(t, guard.PasswordHasherConfig{QueueTimeout: testQueueTimeout}, func(c *TokenEndpointConfig) {
		cl := c.Clients.(tokClients)
		svc := cl[tokSvcID]
		svc.Resources = []string{resMCP, resAPI}
		cl = maps.Clone(cl)
		cl[tokSvcID] = svc
		c.Clients = cl
	})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			kv := append([]string{"grant_type", "client_credentials"}, c.kv...)
			rec := f.do(tokRequest(form(kv...), withBasic(tokSvcID, tokSvcPW)))
			if c.status != 200 {
				checkTokResponse(t, rec, c.status, tokErrorHeaders(), c.body)
				return
			}
			claims, _ := resSuccess(t, rec, f.verifier, false, "read write")
			if !slices.Equal(claims.Audience, c.aud) {
				t.Errorf("aud: got %q, want %q", claims.Audience, c.aud)
			}
		})
	}
}

// TestResourcePasswordGrant: the password grant takes the client's
// resources; a login that names no client may name no resource, and a
// refused resource costs no hash.
func TestResourcePasswordGrant(t *testing.T) {
	t.Parallel()
	f := newTokFixture(t, guard.PasswordHasherConfig{QueueTimeout: testQueueTimeout}, func(c *TokenEndpointConfig) {
		cl := maps.Clone(c.Clients.(tokClients))
		web := cl[tokWebID]
		web.Resources = []string{resMCP}
		cl[tokWebID] = web
		c.Clients = cl
	})
	login := []string{"grant_type", "password", "username", "alice", "password", tokAlicePW}
	cases := []struct {
		name   string
		kv     []string
		mods   []func(*http.Request)
		status int
		hdr    http.Header
		body   string
		aud    []string
	}{
		{"client's resource", []string{"resource", resMCP}, []func(*http.Request){withBasic(tokWebID, tokWebPW)}, 200, nil, "", []string{resMCP}},
		{"no resource", nil, []func(*http.Request){withBasic(tokWebID, tokWebPW)}, 200, nil, "", nil},
		{"another resource", []string{"resource", resAPI}, []func(*http.Request){withBasic(tokWebID, tokWebPW)}, 400, tokErrorHeaders(), errTargetDeniedBody, nil},
		{"no client", []string{"resource", resMCP}, nil, 400, tokErrorHeaders(), errTargetDeniedBody, nil},
		{"malformed, before the client is checked", []string{"resource", "mcp"}, []func(*http.Request){withBasic(tokWebID, "wrong")}, 400, tokErrorHeaders(), errTargetSyntaxBody, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f.kdf()
			rec := f.do(tokRequest(form(append(slices.Clone(login), c.kv...)...), c.mods...))
			if c.status != 200 {
				checkTokResponse(t, rec, c.status, c.hdr, c.body)
				if n := f.kdf(); c.name == "no client" && n != 0 {
					t.Errorf("hashes for a refused resource: got %d, want 0", n)
				}
				return
			}
			claims, _ := resSuccess(t, rec, f.verifier, false, "read")
			if !slices.Equal(claims.Audience, c.aud) {
				t.Errorf("aud: got %q, want %q", claims.Audience, c.aud)
			}
		})
	}
}

// resCodeFlow is a code flow whose clients spa (public) and web
// (confidential) may ask for resMCP and resAPI.
func resCodeFlow(t *testing.T) *codeFlow {
	t.Helper()
	cf := newCodeFlow(t)
	cl := cf.f.e.cfg.Clients.(tokClients) // shared with the authorization endpoint
	for _, id := range []string{"spa", "web"} {
		c := cl[id]
		c.Resources = []string{resMCP, resAPI}
		cl[id] = c
	}
	return cf
}

// resAuthorize runs an authorization request of client naming resources and
// returns the redirect.
func (cf *codeFlow) resAuthorize(t *testing.T, client string, resources ...string) *httptest.ResponseRecorder {
	t.Helper()
	q, _ := url.ParseQuery(azQuery("client_id", client, "scope", "read"))
	for _, r := range resources {
		q.Add("resource", r)
	}
	r := httptest.NewRequest(http.MethodPost, "https://auth.example/authorize?"+q.Encode(), strings.NewReader("username=alice"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	rec := httptest.NewRecorder()
	cf.login.user = "alice"
	cf.login.seen = nil
	cf.az.ServeHTTP(rec, r)
	return rec
}

// TestResourceAuthorize: resource parameters at the authorization
// endpoint; errors are redirected as invalid_target (RFC 8707 §2).
func TestResourceAuthorize(t *testing.T) {
	t.Parallel()
	redirectErr := func(desc string) string {
		return azRedirect + "?" + url.Values{"error": {"invalid_target"}, "error_description": {desc}, "iss": {azIssuer}, "state": {"xyz"}}.Encode()
	}
	cases := []struct {
		name      string
		resources []string
		location  string // the whole Location of an error redirect
		want      []string
	}{
		{"none", nil, "", nil},
		{"one", []string{resMCP}, "", []string{resMCP}},
		{"two, one repeated", []string{resMCP, resAPI, resMCP}, "", []string{resMCP, resAPI}},
		{"not the client's", []string{resOther}, redirectErr("resource not allowed"), nil},
		{"relative", []string{"mcp"}, redirectErr("resource must be an absolute URI without a fragment"), nil},
		{"fragment", []string{resMCP + "#top"}, redirectErr("resource must be an absolute URI without a fragment"), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cf := resCodeFlow(t)
			rec := cf.resAuthorize(t, "spa", c.resources...)
			if rec.Code != http.StatusSeeOther {
				t.Fatalf("status: got %d, want 303 (%s)", rec.Code, rec.Body)
			}
			wantHdr := http.Header{"Cache-Control": {"no-store"}, "Referrer-Policy": {"no-referrer"}, "Location": {c.location}}
			if c.location == "" {
				loc, _ := url.Parse(rec.Header().Get("Location"))
				wantHdr["Location"] = []string{azRedirect + "?" + url.Values{"code": {loc.Query().Get("code")}, "iss": {azIssuer}, "state": {"xyz"}}.Encode()}
				if cf.login.seen == nil || !slices.Equal(cf.login.seen.Resources, c.want) {
					t.Errorf("AuthorizationRequest.Resources: got %+v, want %q", cf.login.seen, c.want)
				}
			} else if cf.login.seen != nil {
				t.Error("the login page saw a refused request")
			}
			if got := rec.Header(); !maps.EqualFunc(got, wantHdr, slices.Equal) {
				t.Errorf("headers:\n got %v\nwant %v", got, wantHdr)
			}
			if rec.Body.Len() != 0 {
				t.Errorf("body: %q", rec.Body)
			}
		})
	}
	t.Run("in the form body", func(t *testing.T) {
		t.Parallel()
		cf := resCodeFlow(t)
		r := httptest.NewRequest(http.MethodPost, "https://auth.example/authorize?"+azQuery(), strings.NewReader("resource="+url.QueryEscape(resMCP)))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		rec := httptest.NewRecorder()
		cf.az.ServeHTTP(rec, r)
		want := azRedirect + "?" + url.Values{"error": {"invalid_request"}, "error_description": {"authorization parameters belong in the query string only"}, "iss": {azIssuer}, "state": {"xyz"}}.Encode()
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != want {
			t.Errorf("got %d %q, want 303 %q", rec.Code, rec.Header().Get("Location"), want)
		}
	})
}

// TestResourceCodeAndRefresh: the code remembers the authorization
// request's resources; the token request and each refresh may narrow them,
// never widen; naming none means the grant's.
func TestResourceCodeAndRefresh(t *testing.T) {
	t.Parallel()
	type step struct {
		grant  string // "code" or "refresh" (of the last refresh token)
		kv     []string
		status int
		body   string
		aud    []string
	}
	cases := []struct {
		name  string
		authz []string // resources of the authorization request
		steps []step
	}{
		{"code's resources by default, then narrowed, then all again", []string{resMCP, resAPI}, []step{
			{"code", nil, 200, "", []string{resMCP, resAPI}},
			{"refresh", []string{"resource", resAPI}, 200, "", []string{resAPI}},
			{"refresh", nil, 200, "", []string{resMCP, resAPI}},
			{"refresh", []string{"resource", resOther}, 400, errTargetDeniedBody, nil},
			{"refresh", []string{"resource", "rel"}, 400, errTargetSyntaxBody, nil},
			{"refresh", []string{"resource", resMCP}, 200, "", []string{resMCP}},
		}},
		{"a subset at the token request", []string{resMCP, resAPI}, []step{
			{"code", []string{"resource", resMCP}, 200, "", []string{resMCP}},
			{"refresh", []string{"resource", resAPI}, 200, "", []string{resAPI}}, // the grant's, though not the first token's
		}},
		{"widened at the token request, then the code still works", []string{resMCP}, []step{
			{"code", []string{"resource", resAPI}, 400, errTargetDeniedBody, nil},
			{"code", []string{"resource", resMCP + "#"}, 400, errTargetSyntaxBody, nil},
			{"code", nil, 200, "", []string{resMCP}},
			{"refresh", []string{"resource", resAPI}, 400, errTargetDeniedBody, nil},
		}},
		{"none at authorization: none later", nil, []step{
			{"code", []string{"resource", resMCP}, 400, errTargetDeniedBody, nil},
			{"code", nil, 200, "", nil},
			{"refresh", []string{"resource", resMCP}, 400, errTargetDeniedBody, nil},
			{"refresh", nil, 200, "", nil},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cf := resCodeFlow(t)
			loc, _ := url.Parse(cf.resAuthorize(t, "spa", c.authz...).Header().Get("Location"))
			code := loc.Query().Get("code")
			if code == "" {
				t.Fatalf("no code: %s", loc)
			}
			rt := ""
			for i, s := range c.steps {
				var rec *httptest.ResponseRecorder
				if s.grant == "code" {
					v, _ := url.ParseQuery(codeForm(code))
					for j := 0; j < len(s.kv); j += 2 {
						v.Add(s.kv[j], s.kv[j+1])
					}
					rec = cf.f.do(tokRequest(v.Encode()))
				} else {
					rec = cf.f.do(tokRequest(form(append([]string{"grant_type", "refresh_token", "refresh_token", rt, "client_id", "spa"}, s.kv...)...)))
				}
				if s.status != 200 {
					checkTokResponse(t, rec, s.status, tokErrorHeaders(), s.body)
					continue
				}
				scope := "read" // the code's scope is the authorization request's: not echoed
				if s.grant == "code" {
					scope = ""
				}
				claims, next := resSuccess(t, rec, cf.check, true, scope)
				if !slices.Equal(claims.Audience, s.aud) {
					t.Errorf("step %d: aud: got %q, want %q", i, claims.Audience, s.aud)
				}
				rt = next
			}
		})
	}
}

// TestResourceFamilyStored: the refresh family keeps the grant's resources.
func TestResourceFamilyStored(t *testing.T) {
	t.Parallel()
	st := MustNewMemoryRefreshStore(MemoryRefreshStoreConfig{})
	fam := RefreshFamily{ID: "f", Subject: "s", Resources: []string{resMCP}, KeyThumbprint: "jkt", AuthTime: tokNow, ExpiresAt: tokNow.Add(1e12)}
	if err := st.CreateRefreshFamily(context.Background(), fam, [32]byte{1}, tokNow.Add(1e12)); err != nil {
		t.Fatal(err)
	}
	fam.Resources[0] = "changed"
	got, _, err := st.LookupRefreshToken(context.Background(), "f", [32]byte{1}, tokNow)
	if err != nil || !slices.Equal(got.Resources, []string{resMCP}) || got.KeyThumbprint != "jkt" {
		t.Fatalf("got %+v, %v", got, err)
	}
	got.Resources[0] = "changed"
	if got, _, _ := st.LookupRefreshToken(context.Background(), "f", [32]byte{1}, tokNow); got.Resources[0] != resMCP {
		t.Error("the store shares its slice with callers")
	}
	if !errors.Is(errTargetDenied, ErrInvalidTarget) {
		t.Error("invalid_target does not match ErrInvalidTarget")
	}
}

// TestResourceExtraClaims: the ExtraClaims hook sees the token's resources.
func TestResourceExtraClaims(t *testing.T) {
	t.Parallel()
	var seen []string
	f := newTokFixture(t, guard.PasswordHasherConfig{QueueTimeout: testQueueTimeout}, func(c *TokenEndpointConfig) {
		cl := maps.Clone(c.Clients.(tokClients))
		svc := cl[tokSvcID]
		svc.Resources = []string{resMCP, resAPI}
		cl[tokSvcID] = svc
		c.Clients = cl
		c.ExtraClaims = func(_ context.Context, r ClaimsRequest) (map[string]any, error) {
			seen = slices.Clone(r.Resources)
			return nil, nil
		}
	})
	rec := f.do(tokRequest(form("grant_type", "client_credentials", "resource", resAPI), withBasic(tokSvcID, tokSvcPW)))
	resSuccess(t, rec, f.verifier, false, "read write")
	if !slices.Equal(seen, []string{resAPI}) {
		t.Errorf("ClaimsRequest.Resources: got %q, want %q", seen, []string{resAPI})
	}
}

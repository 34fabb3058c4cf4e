package guard

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

// TestClaimsRolesScopes checks the lenient role and scope claims: a claim of
// the wrong type grants nothing, and the token still verifies.
func TestClaimsRolesScopes(t *testing.T) {
	tests := []struct {
		name       string
		extra      string
		wantRoles  []string
		wantScopes []string
	}{
		{"role string", `,"role":"admin"`, []string{"admin"}, nil},
		{"roles array", `,"roles":["admin","user"]`, []string{"admin", "user"}, nil},
		{"role and roles", `,"role":"admin","roles":["user"]`, []string{"admin", "user"}, nil},
		{"RFC 7519 §7.3: ROLE is not role", `,"role":"user","ROLE":"admin"`, []string{"user"}, nil},
		{"Role only", `,"Role":"admin"`, nil, nil},
		{"ROLES only", `,"ROLES":["admin"]`, nil, nil},
		{"role number", `,"role":1`, nil, nil},
		{"role true", `,"role":true`, nil, nil},
		{"role null", `,"role":null`, nil, nil},
		{"role array", `,"role":["admin"]`, nil, nil},
		{"role object", `,"role":{"name":"admin"}`, nil, nil},
		{"role empty string", `,"role":""`, nil, nil},
		{"roles string", `,"roles":"admin"`, nil, nil},
		{"roles with a number", `,"roles":["admin",1]`, nil, nil},
		{"roles with null", `,"roles":["admin",null]`, nil, nil},
		{"roles with nested array", `,"roles":["admin",["root"]]`, nil, nil},
		{"roles object", `,"roles":{"admin":true}`, nil, nil},
		{"roles empty", `,"roles":[]`, nil, nil},
		{"bad roles keep good role", `,"role":"user","roles":[1]`, []string{"user"}, nil},
		{"scope space-delimited", `,"scope":"read write  admin"`, nil, []string{"read", "write", "admin"}},
		{"scope single", `,"scope":"read"`, nil, []string{"read"}},
		{"scope empty", `,"scope":""`, nil, nil},
		{"scope only spaces", `,"scope":"   "`, nil, nil},
		{"scp array", `,"scp":["read","write"]`, nil, []string{"read", "write"}},
		{"scope and scp", `,"scope":"read","scp":["write"]`, nil, []string{"read", "write"}},
		{"scope array", `,"scope":["read"]`, nil, nil},
		{"scope number", `,"scope":1`, nil, nil},
		{"scp string", `,"scp":"read write"`, nil, nil},
		{"scp with a number", `,"scp":["read",2]`, nil, nil},
		{"SCOPE is not scope", `,"SCOPE":"admin"`, nil, nil},
	}
	k := jwtBadInputKey()
	v := jwtVerifier(t, VerifierConfig{Keys: []*Key{k}})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.Verify(context.Background(), jwtSign(t, k, `{"alg":"HS256"}`, jwtClaims(tt.extra)))
			if err != nil {
				t.Fatalf("Verify: got %v, want nil", err)
			}
			if !slices.Equal(c.Roles, tt.wantRoles) {
				t.Errorf("Roles: got %q, want %q", c.Roles, tt.wantRoles)
			}
			if !slices.Equal(c.Scopes, tt.wantScopes) {
				t.Errorf("Scopes: got %q, want %q", c.Scopes, tt.wantScopes)
			}
		})
	}
}

func TestClaimsFields(t *testing.T) {
	k := jwtBadInputKey()
	v := jwtVerifier(t, VerifierConfig{Keys: []*Key{k}})
	now := jwtNow.Unix()
	payload := `{"iss":"https://issuer","sub":"alice","aud":["a","b"],"exp":` + jwtExp +
		`,"nbf":1699999000,"iat":1699999500.25,"jti":"id-1","client_id":"cli"}`
	c, err := v.Verify(context.Background(), jwtSign(t, k, `{"alg":"HS256"}`, payload))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Issuer", c.Issuer, "https://issuer"},
		{"Subject", c.Subject, "alice"},
		{"ID", c.ID, "id-1"},
		{"ClientID", c.ClientID, "cli"},
		{"ExpiresAt", c.ExpiresAt, time.Unix(now+3600, 0).UTC()},
		{"NotBefore", c.NotBefore, time.Unix(1699999000, 0).UTC()},
		{"IssuedAt", c.IssuedAt, time.Unix(1699999500, 250_000_000).UTC()},
		{"Extra", string(c.Extra), ""},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	if !slices.Equal(c.Audience, []string{"a", "b"}) {
		t.Errorf("Audience: got %q, want [a b]", c.Audience)
	}
	if c.Extra != nil {
		t.Errorf("Extra: got %s, want nil when there are no extra claims", c.Extra)
	}
}

type appClaims struct {
	Tenant string   `json:"tenant"`
	Flags  []string `json:"flags"`
	Admin  bool     `json:"http://example.com/is_root"`
}

func TestClaimsDecodeExtra(t *testing.T) {
	k := jwtBadInputKey()
	v := jwtVerifier(t, VerifierConfig{Keys: []*Key{k}})
	c, err := v.Verify(context.Background(), jwtSign(t, k, `{"alg":"HS256"}`,
		jwtClaims(`,"tenant":"acme","flags":["a","b"],"http://example.com/is_root":true,"role":"user","ROLE":"admin"`)))
	if err != nil {
		t.Fatal(err)
	}
	var app appClaims
	if err := c.DecodeExtra(&app); err != nil {
		t.Fatalf("DecodeExtra: %v", err)
	}
	if app.Tenant != "acme" || !slices.Equal(app.Flags, []string{"a", "b"}) || !app.Admin {
		t.Errorf("DecodeExtra: got %+v, want tenant acme, flags [a b], admin", app)
	}
	// Registered claims are not in Extra; names that differ in case are.
	var all map[string]any
	if err := c.DecodeExtra(&all); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"sub", "exp", "role"} {
		if _, ok := all[name]; ok {
			t.Errorf("Extra contains registered claim %q", name)
		}
	}
	if all["ROLE"] != "admin" {
		t.Errorf(`Extra["ROLE"]: got %v, want admin`, all["ROLE"])
	}
	// DecodeExtra is as strict as Verify: names match exactly.
	var upper struct {
		Tenant string `json:"TENANT"`
	}
	if err := c.DecodeExtra(&upper); err != nil {
		t.Fatal(err)
	}
	if upper.Tenant != "" {
		t.Errorf("DecodeExtra matched TENANT to tenant: got %q, want empty", upper.Tenant)
	}
	// Extra is a copy: it does not alias the decoder's buffer after more Verify calls.
	before := string(c.Extra)
	for range 3 {
		if _, err := v.Verify(context.Background(), jwtSign(t, k, `{"alg":"HS256"}`, jwtClaims(`,"tenant":"zzzz","flags":["x","y"],"http://example.com/is_root":false`))); err != nil {
			t.Fatal(err)
		}
	}
	if string(c.Extra) != before {
		t.Errorf("Extra changed after later Verify calls: got %s, want %s", c.Extra, before)
	}
}

func TestClaimsDecodeExtraEmpty(t *testing.T) {
	var c Claims
	var app appClaims
	if err := c.DecodeExtra(&app); err != nil {
		t.Errorf("DecodeExtra with no extras: got %v, want nil", err)
	}
	if err := c.DecodeExtra(nil); err == nil {
		t.Errorf("DecodeExtra(nil): got nil, want an error")
	}
}

// TestVerifyScopeSplitsOnSpaceOnly: the "scope" claim is split on U+0020
// only; any other whitespace stays inside a scope token, which then matches
// nothing.
func TestVerifyScopeSplitsOnSpaceOnly(t *testing.T) {
	tests := []struct {
		name  string
		scope string // JSON string body
		want  []string
	}{
		{"single space", `read admin`, []string{"read", "admin"}},
		{"tab", `read\tadmin`, []string{"read\tadmin"}},
		{"newline", `read\nadmin`, []string{"read\nadmin"}},
		{"carriage return", `read\radmin`, []string{"read\radmin"}},
		{"vertical tab and form feed", `read\u000badmin\fx`, []string{"read\vadmin\fx"}},
		{"no-break space", `read\u00a0admin`, []string{"read\u00a0admin"}},
		{"next line", `read\u0085admin`, []string{"read\u0085admin"}},
		{"ideographic space", `read\u3000admin`, []string{"read\u3000admin"}},
		{"double space ignored", `read  admin`, []string{"read", "admin"}},
		{"leading and trailing spaces ignored", ` read admin `, []string{"read", "admin"}},
	}
	k := jwtBadInputKey()
	v := jwtVerifier(t, VerifierConfig{Keys: []*Key{k}})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := jwtSign(t, k, `{"alg":"HS256"}`, jwtClaims(`,"scope":"`+tt.scope+`","scp":["x"]`))
			c, err := v.Verify(context.Background(), tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if want := append(slices.Clone(tt.want), "x"); !slices.Equal(c.Scopes, want) {
				t.Errorf("Scopes: got %q, want %q", c.Scopes, want)
			}
		})
	}

	// Over HTTP: "read<TAB>admin" grants neither read nor admin.
	hk := testHSKey(t)
	bv := newTestVerifier(t, VerifierConfig{Keys: []*Key{hk}})
	tok := forgeHS256(`{"alg":"HS256"}`, `{"sub":"u","exp":`+validExp+`,"scope":"read\tadmin"}`)
	for _, scope := range []string{"admin", "read"} {
		next := &nextHandler{}
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		bv.RequireBearer(RequireScope(scope)(next)).ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden || next.ran {
			t.Errorf("RequireScope(%q) with scope read<TAB>admin: got %d (next ran: %v), want 403", scope, rec.Code, next.ran)
		}
	}
}

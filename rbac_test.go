package guard

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func forbidden(scope string) (challenge, body string) {
	challenge = `Bearer realm="api", error="insufficient_scope", error_description="insufficient privileges"`
	body = `{"error":"insufficient_scope","error_description":"insufficient privileges"`
	if scope != "" {
		challenge += `, scope="` + scope + `"`
		body += `,"scope":"` + scope + `"`
	}
	return challenge, body + "}\n"
}

// serveWith runs h on a GET / whose context carries p (none when p is nil).
func serveWith(h http.Handler, p *Principal) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	if p != nil {
		req = req.WithContext(NewContext(req.Context(), p))
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestRequireRoleAndScope(t *testing.T) {
	bearer := func(roles, scopes []string) *Principal {
		return &Principal{Subject: "u", Roles: roles, Scopes: scopes, Method: MethodBearer, Claims: &Claims{Subject: "u"}}
	}
	apiKey := func(roles, scopes []string) *Principal {
		return &Principal{Subject: "key-1", Roles: roles, Scopes: scopes, Method: MethodAPIKey}
	}
	type mw = func(http.Handler) http.Handler
	tests := []struct {
		name   string
		mw     mw
		p      *Principal
		status int
		scope  string // of a 403
	}{
		{name: "role: no principal", mw: RequireRole("admin"), status: 401},
		{name: "role: has it", mw: RequireRole("admin"), p: bearer([]string{"admin"}, nil), status: 200},
		{name: "role: any of", mw: RequireRole("admin", "editor"), p: bearer([]string{"user", "editor"}, nil), status: 200},
		{name: "role: lacks it", mw: RequireRole("admin"), p: bearer([]string{"user"}, nil), status: 403, scope: "admin"},
		{name: "role: lacks all", mw: RequireRole("admin", "editor"), p: bearer([]string{"user"}, nil), status: 403, scope: "admin editor"},
		{name: "role: no roles at all", mw: RequireRole("admin"), p: bearer(nil, nil), status: 403, scope: "admin"},
		{name: "role: case matters", mw: RequireRole("admin"), p: bearer([]string{"Admin"}, nil), status: 403, scope: "admin"},
		{name: "role: a scope is not a role", mw: RequireRole("admin"), p: bearer(nil, []string{"admin"}), status: 403, scope: "admin"},
		{name: "role: none required admits nobody", mw: RequireRole(), p: bearer([]string{"admin"}, []string{"admin"}), status: 403},
		{name: "role: empty name admits nobody", mw: RequireRole(""), p: bearer([]string{""}, nil), status: 403},
		{name: "role: no hierarchy by default", mw: RequireRole("user"), p: bearer([]string{"admin"}, nil), status: 403, scope: "user"},
		{name: "role: API key has it", mw: RequireRole("admin"), p: apiKey([]string{"admin"}, nil), status: 200},
		{name: "role: API key lacks it", mw: RequireRole("admin"), p: apiKey([]string{"user"}, nil), status: 403, scope: "admin"},

		{name: "scope: no principal", mw: RequireScope("read"), status: 401},
		{name: "scope: has it", mw: RequireScope("read"), p: bearer(nil, []string{"read"}), status: 200},
		{name: "scope: all of", mw: RequireScope("read", "write"), p: bearer(nil, []string{"write", "x", "read"}), status: 200},
		{name: "scope: one missing", mw: RequireScope("read", "write"), p: bearer(nil, []string{"read"}), status: 403, scope: "read write"},
		{name: "scope: a role is not a scope", mw: RequireScope("read"), p: bearer([]string{"read"}, nil), status: 403, scope: "read"},
		{name: "scope: none required admits nobody", mw: RequireScope(), p: bearer(nil, []string{"read"}), status: 403},
		{name: "scope: empty name admits nobody", mw: RequireScope(""), p: bearer(nil, []string{""}), status: 403},
		{name: "scope: API key has it", mw: RequireScope("read"), p: apiKey(nil, []string{"read"}), status: 200},
		{name: "scope: API key lacks it", mw: RequireScope("write"), p: apiKey(nil, []string{"read"}), status: 403, scope: "write"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := &nextHandler{}
			rec := serveWith(tt.mw(next), tt.p)
			switch tt.status {
			case 200:
				if rec.Code != 200 || !next.ran {
					t.Fatalf("got status %d, next ran %v, want 200 and next to run", rec.Code, next.ran)
				}
				if next.p != tt.p {
					t.Errorf("principal: got %p, want %p", next.p, tt.p)
				}
				if got := rec.Header().Values("WWW-Authenticate"); got != nil {
					t.Errorf("WWW-Authenticate: got %q, want none", got)
				}
				return
			case 401:
				checkError(t, rec, 401, bareChallenge, noCredsBody)
			case 403:
				ch, body := forbidden(tt.scope)
				checkError(t, rec, 403, ch, body)
			}
			if next.ran {
				t.Error("next ran, want it not to")
			}
		})
	}
}

// TestRoleClaims sends real tokens through RequireBearer and RequireRole: a
// role comes from "role" (a string) or "roles" (an array of strings), never
// from a claim of another type.
func TestRoleClaims(t *testing.T) {
	v := newTestVerifier(t, VerifierConfig{})
	ch, body := forbidden("admin")
	const hdr = `{"alg":"HS256","typ":"JWT"}`
	tests := []struct {
		name   string
		claims string // members after sub and exp
		status int
	}{
		{name: "role string", claims: `"role":"admin"`, status: 200},
		{name: "roles array", claims: `"roles":["user","admin"]`, status: 200},
		{name: "role and roles", claims: `"role":"user","roles":["admin"]`, status: 200},
		{name: "other role", claims: `"role":"user"`, status: 403},
		{name: "no role", claims: `"x":1`, status: 403},
		{name: "role as array", claims: `"role":["admin"]`, status: 403},
		{name: "role as number", claims: `"role":1`, status: 403},
		{name: "role as object", claims: `"role":{"admin":true}`, status: 403},
		{name: "role true", claims: `"role":true`, status: 403},
		{name: "role null", claims: `"role":null`, status: 403},
		{name: "roles as string", claims: `"roles":"admin"`, status: 403},
		{name: "roles mixed types", claims: `"roles":["admin",1]`, status: 403},
		{name: "roles nested", claims: `"roles":[["admin"]]`, status: 403},
		{name: "role with spaces is one role", claims: `"role":"user admin"`, status: 403},
		{name: "upper-case claim name", claims: `"ROLE":"admin","role":"user"`, status: 403},
		{name: "upper-case claim name only", claims: `"Roles":["admin"]`, status: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := forgeHS256(hdr, `{"sub":"u","exp":`+validExp+`,`+tt.claims+`}`)
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			rec := httptest.NewRecorder()
			next := &nextHandler{}
			v.RequireBearer(RequireRole("admin")(next)).ServeHTTP(rec, req)
			if tt.status == 200 {
				if rec.Code != 200 || !next.ran {
					t.Fatalf("got status %d (%s), next ran %v, want 200 and next to run", rec.Code, rec.Body, next.ran)
				}
				return
			}
			checkError(t, rec, tt.status, ch, body)
			if next.ran {
				t.Error("next ran, want it not to")
			}
		})
	}
}

func TestAuthorizerHierarchy(t *testing.T) {
	a, err := NewAuthorizer(AuthorizerConfig{Implies: map[string][]string{
		"admin":  {"editor", "auditor"},
		"editor": {"user"},
		"user":   {"guest"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		have []string
		need string
		ok   bool
	}{
		{[]string{"admin"}, "admin", true},
		{[]string{"admin"}, "editor", true},
		{[]string{"admin"}, "user", true},  // transitive
		{[]string{"admin"}, "guest", true}, // transitive, three steps
		{[]string{"admin"}, "auditor", true},
		{[]string{"editor"}, "guest", true},
		{[]string{"editor"}, "admin", false}, // never upwards
		{[]string{"editor"}, "auditor", false},
		{[]string{"user"}, "editor", false},
		{[]string{"guest"}, "user", false},
		{[]string{"other", "user"}, "guest", true},
		{nil, "guest", false},
		{[]string{"admin"}, "unknown", false},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.have, ",")+"->"+tt.need, func(t *testing.T) {
			next := &nextHandler{}
			rec := serveWith(a.RequireRole(tt.need)(next), &Principal{Subject: "u", Roles: tt.have, Method: MethodAPIKey})
			if tt.ok {
				if rec.Code != 200 || !next.ran {
					t.Errorf("got status %d, next ran %v, want 200 and next to run", rec.Code, next.ran)
				}
				return
			}
			ch, body := forbidden(tt.need)
			checkError(t, rec, 403, ch, body)
			if next.ran {
				t.Error("next ran, want it not to")
			}
		})
	}

	t.Run("scopes have no hierarchy", func(t *testing.T) {
		rec := serveWith(a.RequireScope("user")(&nextHandler{}), &Principal{Subject: "u", Roles: []string{"admin"}, Scopes: []string{"admin"}})
		if rec.Code != 403 {
			t.Errorf("status: got %d, want 403", rec.Code)
		}
	})
}

func TestNewAuthorizerRefuses(t *testing.T) {
	tests := []struct {
		name    string
		implies map[string][]string
		want    []string // substrings of the error
	}{
		{name: "self", implies: map[string][]string{"a": {"a"}}, want: []string{`"a" implies itself`}},
		{name: "two-cycle", implies: map[string][]string{"a": {"b"}, "b": {"a"}}, want: []string{`"a" implies itself`, `"b" implies itself`}},
		{name: "long cycle", implies: map[string][]string{"a": {"b"}, "b": {"c"}, "c": {"d"}, "d": {"a"}, "x": {"a"}}, want: []string{`"a" implies itself`}},
		{name: "empty implied", implies: map[string][]string{"a": {""}}, want: []string{"empty role name"}},
		{name: "empty implier", implies: map[string][]string{"": {"a"}}, want: []string{"empty role name"}},
		{name: "all at once", implies: map[string][]string{"a": {"a", ""}}, want: []string{"empty role name", `"a" implies itself`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := NewAuthorizer(AuthorizerConfig{Implies: tt.implies})
			if err == nil || a != nil {
				t.Fatalf("got %v, %v, want an error", a, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}

	t.Run("diamond is fine", func(t *testing.T) {
		_, err := NewAuthorizer(AuthorizerConfig{Implies: map[string][]string{"a": {"b", "c"}, "b": {"d"}, "c": {"d"}}})
		if err != nil {
			t.Errorf("got %v, want nil", err)
		}
	})
}

func TestAuthorizerConfigIsCopied(t *testing.T) {
	implies := map[string][]string{"admin": {"user"}}
	a, err := NewAuthorizer(AuthorizerConfig{Implies: implies})
	if err != nil {
		t.Fatal(err)
	}
	implies["admin"][0] = "other"
	implies["guest"] = []string{"user"}
	mw := a.RequireRole("user")
	if rec := serveWith(mw(&nextHandler{}), &Principal{Roles: []string{"admin"}}); rec.Code != 200 {
		t.Errorf("admin after mutation: got %d, want 200", rec.Code)
	}
	if rec := serveWith(mw(&nextHandler{}), &Principal{Roles: []string{"guest"}}); rec.Code != 403 {
		t.Errorf("guest after mutation: got %d, want 403", rec.Code)
	}
}

func TestAuthorizerRealmAndErrorWriter(t *testing.T) {
	var got []error
	a, err := NewAuthorizer(AuthorizerConfig{
		Realm: `in"ternal`,
		ErrorWriter: func(w http.ResponseWriter, r *http.Request, err error) {
			got = append(got, err)
			WriteError(w, r, err)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	mw := a.RequireRole("admin", `x"y`)

	rec := serveWith(mw(&nextHandler{}), nil)
	checkError(t, rec, 401, `Bearer realm="in?ternal"`, noCredsBody)

	rec = serveWith(mw(&nextHandler{}), &Principal{Subject: "u"})
	checkError(t, rec, 403,
		`Bearer realm="in?ternal", error="insufficient_scope", error_description="insufficient privileges", scope="admin x?y"`,
		`{"error":"insufficient_scope","error_description":"insufficient privileges","scope":"admin x?y"}`+"\n")

	if len(got) != 2 || !errors.Is(got[0], ErrNoCredentials) || !errors.Is(got[1], ErrInsufficientScope) {
		t.Errorf("ErrorWriter got %v, want [no credentials, insufficient scope]", got)
	}
	var e *Error
	if len(got) == 2 && (!errors.As(got[1], &e) || e.Scope != `admin x"y`) {
		t.Errorf("403 error: got %#v, want an *Error with Scope %q", got[1], `admin x"y`)
	}
}

func TestRequireRoleNilPrincipalInContext(t *testing.T) {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req = req.WithContext(context.WithValue(req.Context(), principalKey{}, (*Principal)(nil)))
	rec := httptest.NewRecorder()
	next := &nextHandler{}
	RequireRole("admin")(next).ServeHTTP(rec, req)
	checkError(t, rec, 401, bareChallenge, noCredsBody)
	if next.ran {
		t.Error("next ran, want it not to")
	}
}

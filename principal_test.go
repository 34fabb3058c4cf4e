package guard

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestPrincipalContext(t *testing.T) {
	claims := &Claims{Subject: "alice"}
	bearer := &Principal{Subject: "alice", Method: MethodBearer, Claims: claims}
	apiKey := &Principal{Subject: "key-1", Method: MethodAPIKey}
	type otherKey struct{}
	tests := []struct {
		name       string
		ctx        context.Context
		want       *Principal
		wantClaims *Claims
	}{
		{name: "empty context", ctx: context.Background()},
		{name: "nil principal", ctx: NewContext(context.Background(), nil)},
		{name: "another key", ctx: context.WithValue(context.Background(), otherKey{}, bearer)},
		{name: "a value of another type under our key", ctx: context.WithValue(context.Background(), principalKey{}, "alice")},
		{name: "bearer", ctx: NewContext(context.Background(), bearer), want: bearer, wantClaims: claims},
		{name: "API key has no claims", ctx: NewContext(context.Background(), apiKey), want: apiKey},
		{name: "innermost wins", ctx: NewContext(NewContext(context.Background(), apiKey), bearer), want: bearer, wantClaims: claims},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ok := PrincipalFrom(tt.ctx)
			if p != tt.want || ok != (tt.want != nil) {
				t.Errorf("PrincipalFrom: got %p, %v, want %p, %v", p, ok, tt.want, tt.want != nil)
			}
			c, ok := ClaimsFrom(tt.ctx)
			if c != tt.wantClaims || ok != (tt.wantClaims != nil) {
				t.Errorf("ClaimsFrom: got %p, %v, want %p, %v", c, ok, tt.wantClaims, tt.wantClaims != nil)
			}
		})
	}
}

func TestPrincipalKeyIsZeroSize(t *testing.T) {
	// A zero-size key type: comparing it costs nothing and boxing it allocates nothing.
	if n := measureAllocs(t, 10, func() { _ = any(principalKey{}) }); n != 0 {
		t.Errorf("boxing principalKey allocates %v times, want 0", n)
	}
}

func TestPrincipalHasRoleScope(t *testing.T) {
	p := &Principal{Roles: []string{"admin"}, Scopes: []string{"read"}}
	var nilP *Principal
	tests := []struct {
		name string
		got  bool
		want bool
	}{
		{"HasRole admin", p.HasRole("admin"), true},
		{"HasRole user", p.HasRole("user"), false},
		{"HasRole on nil", nilP.HasRole("admin"), false},
		{"HasScope read", p.HasScope("read"), true},
		{"HasScope admin", p.HasScope("admin"), false},
		{"HasScope on nil", nilP.HasScope("read"), false},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestMethodString(t *testing.T) {
	for m, want := range map[Method]string{MethodNone: "none", MethodBearer: "bearer", MethodAPIKey: "api_key",
		MethodClient: "client", MethodPassword: "password", Method(200): "none"} {
		if got := m.String(); got != want {
			t.Errorf("Method(%d).String(): got %q, want %q", m, got, want)
		}
	}
}

func TestPrincipalLogValue(t *testing.T) {
	tok := issueToken(t, nil, Claims{Subject: "alice", Roles: []string{"admin"}, Scopes: []string{"read"}})
	v := newTestVerifier(t, VerifierConfig{})
	c, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	p := &Principal{Subject: c.Subject, Roles: c.Roles, Scopes: c.Scopes, Method: MethodBearer, Claims: c}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("req", "principal", p, "nil", (*Principal)(nil))
	got := buf.String()
	for _, want := range []string{"principal.subject=alice", "principal.method=bearer", "principal.roles=[admin]", "principal.scopes=[read]", "nil=<nil>"} {
		if !strings.Contains(got, want) {
			t.Errorf("log %q lacks %q", got, want)
		}
	}
	for _, part := range strings.Split(tok, ".") {
		if strings.Contains(got, part) {
			t.Errorf("log %q contains a token segment", got)
		}
	}
}

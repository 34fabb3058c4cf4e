package guard

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Regression tests for zero values (issue 8): a Verifier or TokenIssuer not
// built by its constructor fails closed with a clear error instead of
// panicking, and a zero Authorizer is the default one.

// TestZeroValuesFailClosed: values not built by their constructors never
// panic and never let a request through.
func TestZeroValuesFailClosed(t *testing.T) {
	tok := issueToken(t, nil, Claims{Subject: "alice", Roles: []string{"admin"}})
	ctx := context.Background()

	t.Run("Verifier.Verify", func(t *testing.T) {
		var v Verifier
		for _, s := range []string{"", "a.b.c", tok, strings.Repeat("A", 10000)} {
			c, err := v.Verify(ctx, s)
			if err == nil || c != nil {
				t.Fatalf("Verify(%.20q): got %v, %v; want nil claims and an error", s, c, err)
			}
			var e *Error
			if !errors.As(err, &e) || e.Status != http.StatusInternalServerError {
				t.Errorf("Verify: got %v, want an *Error with status 500", err)
			}
			if errors.Is(err, ErrNoCredentials) || errors.Is(err, ErrInvalidToken) {
				t.Errorf("Verify: %v blames the client for a server misconfiguration", err)
			}
			if !strings.Contains(err.Error(), "NewVerifier") {
				t.Errorf("Verify: error %q does not say what is wrong", err)
			}
		}
		var nilV *Verifier
		if _, err := nilV.Verify(ctx, tok); err == nil {
			t.Error("nil *Verifier: Verify returned nil error")
		}
	})

	t.Run("Verifier.Authenticate", func(t *testing.T) {
		for _, auth := range []string{"", "Bearer " + tok} {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			p, err := (&Verifier{}).Authenticate(req)
			if p != nil || err == nil || errors.Is(err, ErrNoCredentials) {
				t.Errorf("Authenticate(%q): got %v, %v; want no principal and a non-credentials error", auth, p, err)
			}
		}
	})

	t.Run("Verifier.RequireBearer", func(t *testing.T) {
		for _, v := range []*Verifier{{}, nil} {
			for _, auth := range []string{"", "Bearer " + tok, "Bearer x"} {
				req := httptest.NewRequest(http.MethodGet, "/", nil)
				if auth != "" {
					req.Header.Set("Authorization", auth)
				}
				next := &nextHandler{}
				rec := httptest.NewRecorder()
				v.RequireBearer(next).ServeHTTP(rec, req)
				if next.ran {
					t.Errorf("zero Verifier, %q: next ran", auth)
				}
				checkError(t, rec, http.StatusInternalServerError, "",
					`{"error":"server_error","error_description":"verifier not configured"}`+"\n")
			}
		}
	})

	t.Run("RequireAuth and OptionalAuth with a zero Verifier", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		next := &nextHandler{}
		rec := httptest.NewRecorder()
		RequireAuth(&Verifier{})(next).ServeHTTP(rec, req)
		if next.ran || rec.Code != http.StatusInternalServerError {
			t.Errorf("RequireAuth: got %d (next ran: %v), want 500", rec.Code, next.ran)
		}
		rec = httptest.NewRecorder()
		OptionalAuth(&Verifier{})(next).ServeHTTP(rec, req)
		if next.ran || rec.Code != http.StatusInternalServerError {
			t.Errorf("OptionalAuth: got %d (next ran: %v), want 500", rec.Code, next.ran)
		}
	})

	t.Run("TokenIssuer.Issue", func(t *testing.T) {
		for _, i := range []*TokenIssuer{{}, nil} {
			s, err := i.Issue(ctx, Claims{Subject: "alice"})
			if err == nil || s != "" {
				t.Fatalf("Issue: got %q, %v; want an error", s, err)
			}
			if !strings.Contains(err.Error(), "NewTokenIssuer") {
				t.Errorf("Issue: error %q does not say what is wrong", err)
			}
		}
	})

	// The zero Authorizer is the default one (no hierarchy, realm "api",
	// WriteError), like the package-level RequireRole: it denies without a
	// principal (401) or without the role or scope (403).
	t.Run("Authorizer", func(t *testing.T) {
		admin := &Principal{Subject: "a", Roles: []string{"admin"}, Scopes: []string{"read"}, Method: MethodBearer}
		user := &Principal{Subject: "u", Roles: []string{"user"}, Method: MethodBearer}
		for _, a := range []*Authorizer{{}, nil} {
			for _, tt := range []struct {
				name   string
				mw     func(http.Handler) http.Handler
				p      *Principal
				status int
			}{
				{"role, no principal", a.RequireRole("admin"), nil, 401},
				{"role, lacks it", a.RequireRole("admin"), user, 403},
				{"role, has it", a.RequireRole("admin"), admin, 200},
				{"scope, no principal", a.RequireScope("read"), nil, 401},
				{"scope, lacks it", a.RequireScope("read"), user, 403},
				{"scope, has it", a.RequireScope("read"), admin, 200},
				{"no roles required", a.RequireRole(), admin, 403},
			} {
				next := &nextHandler{}
				rec := serveWith(tt.mw(next), tt.p)
				if rec.Code != tt.status || next.ran != (tt.status == 200) {
					t.Errorf("%v %s: got %d (next ran: %v), want %d", a == nil, tt.name, rec.Code, next.ran, tt.status)
				}
				if tt.status != 200 && rec.Header().Get("WWW-Authenticate") == "" {
					t.Errorf("%s: no challenge", tt.name)
				}
			}
		}
	})

	t.Run("NewVerifier refuses zero and nil keys", func(t *testing.T) {
		for _, keys := range [][]*Key{{{}}, {nil}, {testHSKey(t), {}}} {
			v, err := NewVerifier(VerifierConfig{Keys: keys})
			if err == nil || v != nil {
				t.Fatalf("NewVerifier(%d keys): got %v, %v; want an error", len(keys), v, err)
			}
			if !strings.Contains(err.Error(), "Keys[") {
				t.Errorf("error %q does not name the key", err)
			}
		}
	})

	t.Run("NewTokenIssuer refuses a zero key", func(t *testing.T) {
		if _, err := NewTokenIssuer(TokenIssuerConfig{Key: &Key{}}); err == nil {
			t.Error("got nil error, want an error")
		}
	})
}

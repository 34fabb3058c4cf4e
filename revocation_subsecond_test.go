package guard

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestRevokeSubjectSameSecond: a subject revoked at S+500ms refuses every
// token issued before it. A token whose iat has a millisecond fraction
// (another issuer's) is placed exactly: refused up to the revocation's
// millisecond, accepted after it. A whole-second iat, as TokenIssuer writes
// it, cannot be placed within its second and is refused for the whole
// revocation second; authserver's RevokeSubject waits that second out, so a
// login after it is issued in the next one (issue 17, item 3).
func TestRevokeSubjectSameSecond(t *testing.T) {
	t.Parallel()
	revokedAt := testNow.Add(500 * time.Millisecond)
	m := MustNewMemoryRevocations(MemoryRevocationsConfig{Now: func() time.Time { return revokedAt }})
	if err := m.RevokeSubject(context.Background(), "alice", revokedAt); err != nil {
		t.Fatal(err)
	}
	issueAt := func(at time.Time) string {
		iss, err := NewTokenIssuer(TokenIssuerConfig{Key: testHSKey(t), Now: func() time.Time { return at }})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := iss.Issue(context.Background(), Claims{Subject: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	cases := []struct {
		name   string
		token  string
		status int
	}{
		{"issued the second before", issueAt(testNow.Add(-500 * time.Millisecond)), 401},
		{"issued earlier in the same second", issueAt(testNow.Add(300 * time.Millisecond)), 401},
		{"issued in the same millisecond", issueAt(revokedAt), 401},
		{"issued later in the same second (whole-second iat)", issueAt(testNow.Add(700 * time.Millisecond)), 401},
		{"issued the next second", issueAt(testNow.Add(1200 * time.Millisecond)), 200},
		{"fractional iat before the revocation (another issuer)",
			forgeHS256(`{"alg":"HS256","typ":"JWT"}`, `{"sub":"alice","iat":1700000000.3,"exp":1700003600}`), 401},
		{"fractional iat in the revocation's millisecond (another issuer)",
			forgeHS256(`{"alg":"HS256","typ":"JWT"}`, `{"sub":"alice","iat":1700000000.5,"exp":1700003600}`), 401},
		{"fractional iat after the revocation (another issuer)",
			forgeHS256(`{"alg":"HS256","typ":"JWT"}`, `{"sub":"alice","iat":1700000000.7,"exp":1700003600}`), 200},
		{"whole-second iat of the revocation's second (another issuer)",
			forgeHS256(`{"alg":"HS256","typ":"JWT"}`, `{"sub":"alice","iat":1700000000,"exp":1700003600}`), 401},
		{"whole-second iat of the next second (another issuer)",
			forgeHS256(`{"alg":"HS256","typ":"JWT"}`, `{"sub":"alice","iat":1700000001,"exp":1700003600}`), 200},
	}
	v := newTestVerifier(t, VerifierConfig{Revocations: m, Leeway: 5 * time.Second})
	h := v.RequireBearer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Header.Set("Authorization", "Bearer "+c.token)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != c.status {
				t.Fatalf("got %d %s, want %d", rec.Code, rec.Body, c.status)
			}
			if c.status == 401 && rec.Header().Get("WWW-Authenticate") != `Bearer realm="api", error="invalid_token", error_description="token revoked"` {
				t.Errorf("WWW-Authenticate %q", rec.Header().Get("WWW-Authenticate"))
			}
		})
	}
}

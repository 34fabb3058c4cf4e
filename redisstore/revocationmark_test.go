package redisstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/guardkit/guard"
)

func TestRevocationMark(t *testing.T) { forEachBackend(t, testRevocationMark) }

func testRevocationMark(t *testing.T, srv *backend) {
	ctx := context.Background()
	revs := func(st *Store) *Revocations {
		r, err := st.Revocations(RevocationsConfig{})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	issuerStore := srv.store(t, "app:")
	issuer := revs(issuerStore)
	same := revs(srv.store(t, "app:"))
	other := revs(srv.store(t, "other:"))

	if err := same.CheckMark(ctx); !errors.Is(err, ErrRevocationsUnmarked) {
		t.Fatalf("before Mark: got %v, want ErrRevocationsUnmarked", err)
	}
	for range 2 { // idempotent
		if err := issuer.Mark(ctx); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		r       *Revocations
		wantErr error
	}{
		{"the issuer itself", issuer, nil},
		{"a verifier with the same prefix", same, nil},
		{"a verifier with another prefix", other, ErrRevocationsUnmarked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.r.CheckMark(ctx)
			if !matchErr(err, tt.wantErr) {
				t.Fatalf("got %v, want %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), `prefix "`+tt.r.s.prefix+`"`) {
				t.Errorf("error %q does not name the prefix %q", err, tt.r.s.prefix)
			}
		})
	}

	// The marker changes nothing about revocations: a token is not revoked
	// by it, and a revocation on the issuer is seen by the verifier.
	c := &guard.Claims{ID: "j1", Subject: "alice", IssuedAt: time.Now()}
	if r, err := same.Revoked(ctx, c); r || err != nil {
		t.Fatalf("after Mark, nothing revoked: got %v, %v", r, err)
	}
	if err := issuer.RevokeToken(ctx, "j1", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if r, err := same.Revoked(ctx, c); !r || err != nil {
		t.Errorf("revoked on the issuer, checked by the verifier: got %v, %v, want true", r, err)
	}
	ks, err := keysUnder(ctx, issuerStore.rdb, issuerStore.prefix)
	if err != nil || len(ks) != 2 {
		t.Errorf("keys: got %q, %v; want the marker and the jti", ks, err)
	}
}

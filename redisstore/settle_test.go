package redisstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/guardkit/guard/authserver"
)

// TestRefreshSettle: settling the previous token closes its grace window
// (a retry becomes reuse); settling another token, or an unknown family,
// changes nothing.
func TestRefreshSettle(t *testing.T) { forEachBackend(t, testRefreshSettle) }

func testRefreshSettle(t *testing.T, b *backend) {
	st := b.store(t, "settle:")
	rs := st.RefreshTokens()
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	d := func(x byte) [32]byte { return [32]byte{x} }
	fam := authserver.RefreshFamily{ID: "f1", ClientID: "app", Username: "alice", Subject: "u1", AuthTime: now, ExpiresAt: now.Add(time.Hour)}
	if err := rs.CreateRefreshFamily(ctx, fam, d(1), now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	rot := authserver.RefreshRotation{Family: "f1", ClientID: "app", Presented: d(1), Next: d(2), Now: now,
		IdleUntil: now.Add(time.Minute), GraceUntil: now.Add(10 * time.Second), Sealed: []byte("sealed")}
	if _, _, err := rs.RotateRefreshToken(ctx, rot); err != nil {
		t.Fatal(err)
	}
	for _, other := range []struct {
		family string
		tok    [32]byte
	}{{"f1", d(9)}, {"f1", d(2)}, {"nope", d(1)}} {
		if err := rs.SettleRefreshToken(ctx, other.family, other.tok); err != nil {
			t.Fatalf("settle %v: %v", other, err)
		}
	}
	if _, sealed, err := rs.RotateRefreshToken(ctx, rot); err != nil || string(sealed) != "sealed" {
		t.Fatalf("a retry after settling other tokens: got %q %v, want the sealed successor", sealed, err)
	}
	if err := rs.SettleRefreshToken(ctx, "f1", d(1)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := rs.RotateRefreshToken(ctx, rot); !errors.Is(err, authserver.ErrRefreshTokenReused) {
		t.Fatalf("a retry after settling it: got %v, want ErrRefreshTokenReused", err)
	}
}

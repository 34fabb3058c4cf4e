package redisstore

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/guardkit/guard"
	"github.com/guardkit/guard/authserver"
)

func TestAuthCodes(t *testing.T) { forEachBackend(t, testAuthCodes) }

func testAuthCodes(t *testing.T, srv *backend) {
	st := srv.store(t, "t:")
	ac := st.AuthCodes()
	ctx := context.Background()
	exp := time.Now().Add(time.Minute).Truncate(time.Millisecond)
	code := authserver.AuthCode{ClientID: "spa", RedirectURI: "https://app.example/cb", CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		Scopes: []string{"read", "write"}, Username: "alice", ExpiresAt: exp}
	d := func(b byte) [32]byte { return [32]byte{b} }
	if err := ac.SaveAuthCode(ctx, d(1), code); err != nil {
		t.Fatal(err)
	}
	checkKeys(t, st, 1)
	if ttl := st.rdb.PTTL(ctx, ac.key(d(1))).Val(); ttl <= 0 || ttl > time.Minute {
		t.Errorf("TTL: got %v, want the time to ExpiresAt, at most a minute", ttl)
	}

	tests := []struct {
		name    string
		digest  [32]byte
		record  func(*testing.T)
		wantErr error
		want    authserver.AuthCode
	}{
		{name: "first redemption", digest: d(1), want: code},
		{name: "second redemption: reused, with the issued tokens", digest: d(1),
			record: func(t *testing.T) {
				if err := ac.RecordIssued(ctx, d(1), "jti-1", "fam-1"); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: authserver.ErrCodeReused,
			want: func() authserver.AuthCode {
				c := code
				c.Used, c.TokenID, c.RefreshFamily = true, "jti-1", "fam-1"
				return c
			}()},
		{name: "unknown code", digest: d(2), wantErr: guard.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.record != nil {
				tt.record(t)
			}
			got, err := ac.RedeemAuthCode(ctx, tt.digest)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err: got %v, want %v", err, tt.wantErr)
			}
			if got.ClientID != tt.want.ClientID || got.RedirectURI != tt.want.RedirectURI || got.CodeChallenge != tt.want.CodeChallenge ||
				!slices.Equal(got.Scopes, tt.want.Scopes) || got.Username != tt.want.Username || !got.ExpiresAt.Equal(tt.want.ExpiresAt) ||
				got.Used != tt.want.Used || got.TokenID != tt.want.TokenID || got.RefreshFamily != tt.want.RefreshFamily {
				t.Errorf("record: got %+v, want %+v", got, tt.want)
			}
		})
	}

	// RecordIssued on a code that is gone creates nothing.
	if err := ac.RecordIssued(ctx, d(3), "jti", "fam"); err != nil {
		t.Fatal(err)
	}
	checkKeys(t, st, 1)
	// An expired code is not found, even before Redis drops it.
	past := code
	past.ExpiresAt = time.Now().Add(-time.Second)
	if err := ac.SaveAuthCode(ctx, d(4), past); err != nil {
		t.Fatal(err)
	}
	if _, err := ac.RedeemAuthCode(ctx, d(4)); !errors.Is(err, guard.ErrNotFound) {
		t.Errorf("expired code: got %v, want ErrNotFound", err)
	}
}

func TestAuthCodesConcurrentRedeem(t *testing.T) { forEachBackend(t, testAuthCodesConcurrentRedeem) }

func testAuthCodesConcurrentRedeem(t *testing.T, srv *backend) {
	ac := srv.store(t, "t:").AuthCodes()
	ctx := context.Background()
	digest := [32]byte{7}
	if err := ac.SaveAuthCode(ctx, digest, authserver.AuthCode{ClientID: "spa", Username: "alice", ExpiresAt: time.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	won, reused := 0, 0
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			_, err := ac.RedeemAuthCode(ctx, digest)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, authserver.ErrCodeReused):
				reused++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if won != 1 || reused != 49 {
		t.Errorf("redemptions: got %d won and %d reused, want exactly 1 and 49", won, reused)
	}
}

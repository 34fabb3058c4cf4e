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

	now := time.Now()
	red := authserver.AuthRedemption{TokenID: "jti-1", RefreshFamily: "fam-1", Sealed: []byte("sealed\x00\xff"), Now: now, RetryUntil: now.Add(10 * time.Second)}
	used := code
	used.Used, used.TokenID, used.RefreshFamily = true, "jti-1", "fam-1"
	tests := []struct {
		name       string
		digest     [32]byte
		lookup     bool // LookupAuthCode instead of RedeemAuthCode
		settle     bool // SettleAuthCode first
		at         time.Time
		wantErr    error
		wantSealed string
		want       authserver.AuthCode
	}{
		{name: "lookup: unused", digest: d(1), lookup: true, want: code},
		{name: "first redemption", digest: d(1), want: code},
		{name: "lookup: used, with the issued tokens", digest: d(1), lookup: true, want: used},
		{name: "second redemption within the retry window: the sealed response", digest: d(1), at: now.Add(9 * time.Second), wantSealed: "sealed\x00\xff", want: used},
		{name: "after it: reused, with the issued tokens", digest: d(1), at: now.Add(10 * time.Second), wantErr: authserver.ErrCodeReused, want: used},
		{name: "settled: within the window, reused", digest: d(1), settle: true, at: now.Add(time.Second), wantErr: authserver.ErrCodeReused, want: used},
		{name: "unknown code", digest: d(2), wantErr: guard.ErrNotFound},
		{name: "lookup: unknown code", digest: d(2), lookup: true, wantErr: guard.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got authserver.AuthCode
			var sealed []byte
			var err error
			if tt.settle {
				if err := ac.SettleAuthCode(ctx, tt.digest); err != nil {
					t.Fatal(err)
				}
			}
			if tt.lookup {
				got, err = ac.LookupAuthCode(ctx, tt.digest)
			} else {
				r := red
				if !tt.at.IsZero() {
					r.Now, r.TokenID = tt.at, "other"
				}
				got, sealed, err = ac.RedeemAuthCode(ctx, tt.digest, r)
			}
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err: got %v, want %v", err, tt.wantErr)
			}
			if string(sealed) != tt.wantSealed {
				t.Errorf("sealed: got %q, want %q", sealed, tt.wantSealed)
			}
			if got.ClientID != tt.want.ClientID || got.RedirectURI != tt.want.RedirectURI || got.CodeChallenge != tt.want.CodeChallenge ||
				!slices.Equal(got.Scopes, tt.want.Scopes) || got.Username != tt.want.Username || !got.ExpiresAt.Equal(tt.want.ExpiresAt) ||
				got.Used != tt.want.Used || got.TokenID != tt.want.TokenID || got.RefreshFamily != tt.want.RefreshFamily {
				t.Errorf("record: got %+v, want %+v", got, tt.want)
			}
		})
	}
	if err := ac.SettleAuthCode(ctx, d(3)); err != nil { // a code that is gone: nothing created
		t.Fatal(err)
	}
	checkKeys(t, st, 1)
	// An expired code is not found, even before Redis drops it.
	past := code
	past.ExpiresAt = time.Now().Add(-time.Second)
	if err := ac.SaveAuthCode(ctx, d(4), past); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ac.RedeemAuthCode(ctx, d(4), authserver.AuthRedemption{Now: time.Now()}); !errors.Is(err, guard.ErrNotFound) {
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
			_, _, err := ac.RedeemAuthCode(ctx, digest, authserver.AuthRedemption{Now: time.Now()})
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

package redisstore

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/guardkit/guard"
	"github.com/guardkit/guard/authserver"
	"github.com/redis/go-redis/v9"
)

// TestStoreCallsRedisDown calls every store method with Redis stopped, then
// frozen (connections open, nothing answers): each returns an error that
// wraps a cause, quickly, and never a result that looks like success: no
// "not revoked", no "no key ring", no lost or won swap, no "not marked".
func TestStoreCallsRedisDown(t *testing.T) {
	t.Parallel() // on private backends, waiting on timeouts and restarts
	for _, k := range []backendKind{standalone, cluster} {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel()
			testStoreCallsRedisDown(t, privateBackend(t, k))
		})
	}
}

func testStoreCallsRedisDown(t *testing.T, srv *backend) {
	st, err := New(srv.client(t), Config{Prefix: "f:", Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	lim, _ := st.Limiter(LimiterConfig{})
	revs, _ := st.Revocations(RevocationsConfig{})
	kr := st.KeyRing("")
	ctx := context.Background()
	if err := revs.Mark(ctx); err != nil { // so that only a failure can fail CheckMark
		t.Fatal(err)
	}
	if ok, err := kr.SwapKeyRing(ctx, 0, []byte("ring")); !ok || err != nil {
		t.Fatalf("swap before: %v, %v", ok, err)
	}
	now := time.Now()
	d := [32]byte{1}
	calls := []struct {
		name string
		call func() error
	}{
		{"KeyRing.LoadKeyRing", func() error {
			doc, v, err := kr.LoadKeyRing(ctx)
			if err == nil || doc != nil || v != 0 {
				t.Errorf("LoadKeyRing: got (%q, %d, %v), want (nil, 0, an error)", doc, v, err)
			}
			return err
		}},
		{"KeyRing.SwapKeyRing", func() error {
			ok, err := kr.SwapKeyRing(ctx, 1, []byte("ring 2"))
			if ok {
				t.Error("SwapKeyRing reported a swap")
			}
			return err
		}},
		{"Revocations.Mark", func() error { return revs.Mark(ctx) }},
		{"Revocations.CheckMark", func() error {
			err := revs.CheckMark(ctx)
			if errors.Is(err, ErrRevocationsUnmarked) {
				t.Errorf("CheckMark: got %v, want a Redis error, not ErrRevocationsUnmarked", err)
			}
			return err
		}},
		{"Revocations.Revoked", func() error {
			r, err := revs.Revoked(ctx, &guard.Claims{ID: "j", Subject: "s", IssuedAt: now})
			if r {
				t.Error("Revoked reported true")
			}
			return err
		}},
		{"Revocations.RevokeToken", func() error { return revs.RevokeToken(ctx, "j", now.Add(time.Minute)) }},
		{"Revocations.RevokeSubject", func() error { return revs.RevokeSubject(ctx, "s", now) }},
		{"Limiter.Reserve", func() error { _, err := lim.Reserve(ctx, "k"); return err }},
		{"Limiter.Refund", func() error { return lim.Refund(ctx, "k") }},
		{"Limiter.Succeed", func() error { return lim.Succeed(ctx, "k") }},
		{"APIKeys.Add", func() error { return st.APIKeys().Add(ctx, d, guard.APIKeyRecord{Subject: "svc"}) }},
		{"APIKeys.LookupAPIKey", func() error { _, err := st.APIKeys().LookupAPIKey(ctx, d); return err }},
		{"APIKeys.Revoke", func() error { _, err := st.APIKeys().Revoke(ctx, d); return err }},
		{"APIKeys.Delete", func() error { _, err := st.APIKeys().Delete(ctx, d); return err }},
		{"RefreshTokens.CreateRefreshFamily", func() error {
			return st.RefreshTokens().CreateRefreshFamily(ctx, authserver.RefreshFamily{ID: "f", ExpiresAt: now.Add(time.Hour)}, d, now.Add(time.Hour))
		}},
		{"RefreshTokens.RotateRefreshToken", func() error {
			_, _, err := st.RefreshTokens().RotateRefreshToken(ctx, authserver.RefreshRotation{Family: "f", Now: now})
			return err
		}},
		{"RefreshTokens.RevokeRefreshFamily", func() error { _, err := st.RefreshTokens().RevokeRefreshFamily(ctx, "f", ""); return err }},
		{"RefreshTokens.RevokeSubjectRefreshFamilies", func() error {
			_, err := st.RefreshTokens().RevokeSubjectRefreshFamilies(ctx, "s")
			return err
		}},
		{"RefreshTokens.SettleRefreshToken", func() error { return st.RefreshTokens().SettleRefreshToken(ctx, "f", [32]byte{}) }},
		{"RefreshTokens.LookupRefreshToken", func() error {
			_, _, err := st.RefreshTokens().LookupRefreshToken(ctx, "f", [32]byte{}, now)
			return err
		}},
		{"Clients.RegisterClient", func() error { return st.Clients().RegisterClient(ctx, "c", authserver.Client{}) }},
		{"Clients.SetClient", func() error { return st.Clients().SetClient(ctx, "c", authserver.Client{}) }},
		{"Clients.LookupClient", func() error { _, err := st.Clients().LookupClient(ctx, "c"); return err }},
		{"Clients.DeleteClient", func() error { _, err := st.Clients().DeleteClient(ctx, "c"); return err }},
		{"AuthCodes.SaveAuthCode", func() error {
			return st.AuthCodes().SaveAuthCode(ctx, d, authserver.AuthCode{ExpiresAt: now.Add(time.Minute)})
		}},
		{"AuthCodes.SettleAuthCode", func() error { return st.AuthCodes().SettleAuthCode(ctx, d) }},
		{"AuthCodes.LookupAuthCode", func() error { _, err := st.AuthCodes().LookupAuthCode(ctx, d); return err }},
		{"AuthCodes.RedeemAuthCode", func() error {
			_, _, err := st.AuthCodes().RedeemAuthCode(ctx, d, authserver.AuthRedemption{Now: now})
			return err
		}},
	}
	run := func(phase string) {
		for _, c := range calls {
			t.Run(phase+"/"+c.name, func(t *testing.T) {
				start := time.Now()
				err := c.call()
				took := time.Since(start)
				if err == nil {
					t.Fatal("got a nil error, want one")
				}
				if !strings.HasPrefix(err.Error(), "redisstore: ") || errors.Unwrap(err) == nil {
					t.Errorf("error %q: want redisstore's, wrapping a cause", err)
				}
				var netErr net.Error
				if !errors.As(err, &netErr) && !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("error %q: want a network error or a deadline as the cause", err)
				}
				if took > 2*time.Second {
					t.Errorf("took %v, want the store's timeout and little more", took)
				}
			})
		}
	}
	srv.signal(t, syscall.SIGSTOP)
	run("frozen")
	srv.signal(t, syscall.SIGCONT)
	srv.stop()
	run("stopped")
	srv.start(t)
	// After many failed dials go-redis probes the address once a second
	// before it dials again: the calls recover within about a second.
	deadline := time.Now().Add(5 * time.Second)
	for err := revs.Mark(ctx); err != nil; err = revs.Mark(ctx) {
		if time.Now().After(deadline) {
			t.Fatalf("Mark 5s after restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := revs.CheckMark(ctx); err != nil {
		t.Errorf("CheckMark after restart and Mark: %v", err)
	}
	if doc, v, err := kr.LoadKeyRing(ctx); doc != nil || v != 0 || err != nil {
		t.Errorf("LoadKeyRing after restart (Redis kept nothing): got (%q, %d, %v), want (nil, 0, nil)", doc, v, err)
	}
}

// TestRevokedClusterNodeDown stops one master of a cluster: a revocation
// check whose jti or subject lives on it fails, even when the other key
// answers "none" from a live node; a check that touches only live nodes
// still answers.
func TestRevokedClusterNodeDown(t *testing.T) {
	t.Parallel() // on a private cluster
	srv := privateBackend(t, cluster)
	st, err := New(srv.client(t), Config{Prefix: "f:", Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	revs, _ := st.Revocations(RevocationsConfig{})
	rdb := st.rdb.(*redis.ClusterClient)
	ctx := context.Background()
	node := func(key string) string {
		c, err := rdb.MasterForKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return c.Options().Addr
	}
	down := srv.nodes[0]
	var mixed, live *guard.Claims
	for i := 0; mixed == nil || live == nil; i++ {
		c := &guard.Claims{ID: "j" + string(rune('a'+i%26)) + time.Duration(i).String(), Subject: "s" + time.Duration(i).String(), IssuedAt: time.Now()}
		jn, sn := node(revs.jtiKey(c.ID)), node(revs.subKey(c.Subject))
		switch {
		case jn != sn && (jn == down.Addr() || sn == down.Addr()):
			mixed = c
		case jn != down.Addr() && sn != down.Addr():
			live = c
		}
	}
	down.Stop()
	if r, err := revs.Revoked(ctx, mixed); r || err == nil {
		t.Errorf("one of the two keys on the stopped node: got %v, %v; want false and an error", r, err)
	}
	if r, err := revs.Revoked(ctx, live); r || err != nil {
		t.Errorf("both keys on live nodes: got %v, %v; want false, nil", r, err)
	}
}

package redisstore

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guardkit/guard"
	"github.com/guardkit/guard/authserver"
)

func TestLimiter(t *testing.T) { forEachBackend(t, testLimiter) }

func testLimiter(t *testing.T, srv *backend) {
	st := srv.store(t, "t:")
	ctx := context.Background()
	l, err := st.Limiter(LimiterConfig{Threshold: 3, BaseDelay: time.Minute, MaxDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		res, err := l.Reserve(ctx, "user-ip:k")
		if err != nil || res.RetryAfter != 0 || res.Succeeded {
			t.Fatalf("reserve %d: %+v, %v", i, res, err)
		}
	}
	res, err := l.Reserve(ctx, "user-ip:k")
	if err != nil || res.RetryAfter <= 59*time.Second || res.RetryAfter > time.Minute {
		t.Fatalf("over the threshold: %+v, %v; want a wait of about 1m", res, err)
	}
	// A refund takes one back: one more attempt may go.
	if err := l.Refund(ctx, "user-ip:k"); err != nil {
		t.Fatal(err)
	}
	if res, _ := l.Reserve(ctx, "user-ip:k"); res.RetryAfter != 0 {
		t.Fatalf("after a refund: %+v", res)
	}
	if err := l.Succeed(ctx, "user-ip:k"); err != nil {
		t.Fatal(err)
	}
	if res, _ := l.Reserve(ctx, "user-ip:k"); res.RetryAfter != 0 || !res.Succeeded {
		t.Fatalf("after a success: %+v, want counted and Succeeded", res)
	}
	checkKeys(t, st, 1)
}

func TestLimiterConcurrentReserve(t *testing.T) { forEachBackend(t, testLimiterConcurrentReserve) }

func testLimiterConcurrentReserve(t *testing.T, srv *backend) {
	st := srv.store(t, "t:")
	l, _ := st.Limiter(LimiterConfig{Threshold: 5, BaseDelay: time.Minute})
	var mu sync.Mutex
	counted := 0
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			res, err := l.Reserve(context.Background(), "k")
			if err != nil {
				t.Error(err)
				return
			}
			if res.RetryAfter == 0 {
				mu.Lock()
				counted++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if counted != 5 {
		t.Errorf("attempts let through: got %d, want exactly 5", counted)
	}
}

// checkKeys asserts that the store holds want keys, each short, under the
// prefix, free of request bytes, and with a TTL (but for the key ring and
// the revocation marker, documented as kept).
func checkKeys(t *testing.T, st *Store, want int) {
	t.Helper()
	ctx := context.Background()
	keys, err := keysUnder(ctx, st.rdb, st.prefix)
	if err != nil {
		t.Fatal(err)
	}
	if want >= 0 && len(keys) != want {
		t.Errorf("keys: got %d %q, want %d", len(keys), keys, want)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, st.prefix) || len(k) > 96 || strings.ContainsAny(k, "*\r\n ") {
			t.Errorf("key %q: not namespaced, too long or carrying request bytes", k)
		}
		kept := strings.HasPrefix(k, st.prefix+"keyring:") || k == st.prefix+"revocations:marker" || strings.HasPrefix(k, st.prefix+"client:")
		if ttl := st.rdb.PTTL(ctx, k).Val(); ttl <= 0 && !kept {
			t.Errorf("key %q has no TTL (%v)", k, ttl)
		}
	}
}

func TestAPIKeys(t *testing.T) { forEachBackend(t, testAPIKeys) }

func testAPIKeys(t *testing.T, srv *backend) {
	st := srv.store(t, "t:")
	ks := st.APIKeys()
	ctx := context.Background()
	d := guard.APIKeyDigest("k1")
	if _, err := ks.LookupAPIKey(ctx, d); !errors.Is(err, guard.ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
	exp := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	rec := guard.APIKeyRecord{Subject: "svc", Roles: []string{"a", "b"}, Scopes: []string{"read"}, ExpiresAt: exp}
	if err := ks.Add(ctx, d, rec); err != nil {
		t.Fatal(err)
	}
	got, err := ks.LookupAPIKey(ctx, d)
	if err != nil || got.Subject != "svc" || strings.Join(got.Roles, ",") != "a,b" || strings.Join(got.Scopes, ",") != "read" || !got.ExpiresAt.Equal(exp) || got.Revoked {
		t.Fatalf("lookup: %+v, %v", got, err)
	}
	if ok, err := ks.Revoke(ctx, d); !ok || err != nil {
		t.Fatalf("revoke: %v %v", ok, err)
	}
	if got, _ := ks.LookupAPIKey(ctx, d); !got.Revoked {
		t.Fatal("not revoked")
	}
	checkKeys(t, st, 1)
	if ok, _ := ks.Revoke(ctx, guard.APIKeyDigest("nope")); ok {
		t.Error("revoke of an unknown key reported true")
	}
	if ok, err := ks.Delete(ctx, d); !ok || err != nil {
		t.Fatalf("delete: %v %v", ok, err)
	}
	checkKeys(t, st, 0)
}

func TestRevocations(t *testing.T) { forEachBackend(t, testRevocations) }

func testRevocations(t *testing.T, srv *backend) {
	st := srv.store(t, "t:")
	rv, err := st.Revocations(RevocationsConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now()
	live := &guard.Claims{ID: "j1", Subject: "alice", IssuedAt: now}
	if r, err := rv.Revoked(ctx, live); r || err != nil {
		t.Fatalf("nothing revoked: %v %v", r, err)
	}
	if err := rv.RevokeToken(ctx, "j1", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if r, _ := rv.Revoked(ctx, live); !r {
		t.Error("jti not revoked")
	}
	if r, _ := rv.Revoked(ctx, &guard.Claims{ID: "j2", Subject: "alice", IssuedAt: now}); r {
		t.Error("another jti revoked")
	}
	// Enough jtis that their keys and their subjects' land on different
	// nodes of a cluster or shards of a ring: each revocation is seen.
	for i := range 20 {
		jti, sub := "many-"+strconv.Itoa(i), "sub-"+strconv.Itoa(i)
		if err := rv.RevokeToken(ctx, jti, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if r, err := rv.Revoked(ctx, &guard.Claims{ID: jti, Subject: sub, IssuedAt: now}); !r || err != nil {
			t.Errorf("jti %s: got %v, %v; want revoked", jti, r, err)
		}
		if r, err := rv.Revoked(ctx, &guard.Claims{ID: jti + "-not", Subject: sub, IssuedAt: now}); r || err != nil {
			t.Errorf("jti %s-not: got %v, %v; want not revoked", jti, r, err)
		}
	}
	if err := rv.RevokeSubject(ctx, "bob\r\n*", now); err != nil {
		t.Fatal(err)
	}
	if err := rv.RevokeSubject(ctx, "bob\r\n*", now.Add(-time.Hour)); err != nil { // does not move back
		t.Fatal(err)
	}
	for _, c := range []struct {
		iat  time.Time
		want bool
	}{{now.Add(-time.Hour), true}, {now, true}, {now.Add(2 * time.Second), false}, {time.Time{}, true}} {
		if r, _ := rv.Revoked(ctx, &guard.Claims{Subject: "bob\r\n*", IssuedAt: c.iat}); r != c.want {
			t.Errorf("subject, iat %v: got %v, want %v", c.iat, r, c.want)
		}
	}
	// Kept to the millisecond (issue 17, item 3): a token issued later in
	// the revocation's second lives; one whose iat is whole seconds (another
	// issuer) is refused in that second.
	sec := time.Unix(now.Unix(), 0)
	if err := rv.RevokeSubject(ctx, "carol", sec.Add(500*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	// An entry an older version wrote in Unix seconds covers its whole second.
	if err := st.rdb.Set(ctx, rv.subKey("dave"), sec.Unix(), time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		sub  string
		iat  time.Time
		want bool
	}{
		{"carol", sec.Add(300 * time.Millisecond), true},
		{"carol", sec.Add(500 * time.Millisecond), true},
		{"carol", sec.Add(700 * time.Millisecond), false},
		{"carol", sec, true},
		{"carol", sec.Add(time.Second), false},
		{"dave", sec.Add(999 * time.Millisecond), true},
		{"dave", sec.Add(time.Second + time.Millisecond), false},
	} {
		if r, err := rv.Revoked(ctx, &guard.Claims{Subject: c.sub, IssuedAt: c.iat}); r != c.want || err != nil {
			t.Errorf("subject %s, iat %v: got %v, %v; want %v", c.sub, c.iat.Format(time.StampMilli), r, err, c.want)
		}
	}
	if err := rv.RevokeSubject(ctx, "dave", sec.Add(-time.Hour)); err != nil { // a legacy entry is kept, in milliseconds
		t.Fatal(err)
	}
	if r, _ := rv.Revoked(ctx, &guard.Claims{Subject: "dave", IssuedAt: sec.Add(999 * time.Millisecond)}); !r {
		t.Error("legacy entry rewritten: lost its second")
	}
	checkKeys(t, st, 24)
}

func TestRefreshStore(t *testing.T) { forEachBackend(t, testRefreshStore) }

func testRefreshStore(t *testing.T, srv *backend) {
	st := srv.store(t, "t:")
	rs := st.RefreshTokens()
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	at := func(id string, d time.Duration) authserver.IssuedToken {
		return authserver.IssuedToken{ID: id, ExpiresAt: now.Add(d)}
	}
	fam := authserver.RefreshFamily{ID: "fam1", ClientID: "app", Username: "alice", Subject: "u1", Scopes: []string{"read", "write"},
		AuthTime: now, ExpiresAt: now.Add(time.Hour), AccessTokens: []authserver.IssuedToken{at("AT1", 5*time.Second), at("AT0", 0)}}
	d := func(b byte) [32]byte { return [32]byte{b} }
	if err := rs.CreateRefreshFamily(ctx, fam, d(1), now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// The key lives until the earlier of the idle deadline and the
	// absolute end (issue 17, item 12).
	if ttl := st.rdb.PTTL(ctx, rs.key("fam1")).Val(); ttl <= 0 || ttl > time.Minute {
		t.Errorf("TTL after create: got %v, want at most the idle minute", ttl)
	}
	rot := authserver.RefreshRotation{Family: "fam1", ClientID: "app", Presented: d(1), Next: d(2), Now: now,
		IdleUntil: now.Add(time.Minute), GraceUntil: now.Add(10 * time.Second), Sealed: []byte("sealed\x00\xff"),
		AccessToken: at("AT2", 10*time.Minute)}
	// A lookup reads the current token's family and changes nothing.
	if got, idle, err := rs.LookupRefreshToken(ctx, "fam1", d(1), now); err != nil || got.Username != "alice" || got.Subject != "u1" ||
		strings.Join(got.Scopes, " ") != "read write" || !got.AuthTime.Equal(now) || !got.ExpiresAt.Equal(fam.ExpiresAt) ||
		got.ClientID != "app" || got.ID != "fam1" || !idle.Equal(now.Add(time.Minute)) {
		t.Fatalf("lookup: %+v %v %v", got, idle, err)
	}
	for name, c := range map[string]struct {
		fam string
		d   [32]byte
		at  time.Time
	}{
		"unknown family": {"nope", d(1), now}, "not the current token": {"fam1", d(9), now},
		"idle": {"fam1", d(1), now.Add(time.Minute)}, "expired": {"fam1", d(1), now.Add(time.Hour)},
	} {
		if _, _, err := rs.LookupRefreshToken(ctx, c.fam, c.d, c.at); !errors.Is(err, guard.ErrNotFound) {
			t.Fatalf("lookup, %s: got %v, want ErrNotFound", name, err)
		}
	}
	got, sealed, err := rs.RotateRefreshToken(ctx, rot)
	if err != nil || sealed != nil || got.Username != "alice" || got.Subject != "u1" || strings.Join(got.Scopes, " ") != "read write" ||
		!got.AuthTime.Equal(now) || !got.ExpiresAt.Equal(fam.ExpiresAt) || got.ClientID != "app" || got.ID != "fam1" {
		t.Fatalf("rotate: %+v %q %v", got, sealed, err)
	}
	if ttl := st.rdb.PTTL(ctx, rs.key("fam1")).Val(); ttl <= 0 || ttl > time.Minute {
		t.Errorf("TTL after rotate: got %v, want at most the idle minute", ttl)
	}
	// retry within grace: the sealed successor, binary-safe
	retry := rot
	retry.AccessToken = at("AT3", 10*time.Minute)
	if got, sealed, err := rs.RotateRefreshToken(ctx, retry); err != nil || string(sealed) != "sealed\x00\xff" {
		t.Fatalf("retry: %q %v", sealed, err)
	} else if ids := tokenIDs(got.AccessTokens); ids != "AT1 AT2 AT3" {
		t.Errorf("access tokens after a rotation and a retry: got %q, want the live ones, AT1 AT2 AT3", ids)
	}
	other := rot
	other.ClientID = "other"
	if _, _, err := rs.RotateRefreshToken(ctx, other); !errors.Is(err, guard.ErrUnauthorizedClient) {
		t.Fatalf("other client: %v", err)
	}
	if _, err := rs.RevokeRefreshFamily(ctx, "fam1", "other"); !errors.Is(err, guard.ErrUnauthorizedClient) {
		t.Fatalf("revoke by another client: %v", err)
	}
	// Reuse returns the family's live access tokens, to be revoked (item 6).
	late := rot
	late.Now = now.Add(11 * time.Second)
	if got, _, err := rs.RotateRefreshToken(ctx, late); !errors.Is(err, authserver.ErrRefreshTokenReused) {
		t.Fatalf("after grace: %v", err)
	} else if ids := tokenIDs(got.AccessTokens); ids != "AT2 AT3" {
		t.Errorf("access tokens of a reused family: got %q, want AT2 AT3", ids)
	}
	next := rot
	next.Presented, next.Next = d(2), d(3)
	if _, _, err := rs.RotateRefreshToken(ctx, next); !errors.Is(err, guard.ErrNotFound) {
		t.Fatalf("after reuse the family is gone: %v", err)
	}
	checkKeys(t, st, 1) // the subject's index
	// idle expiry, and revocation
	if err := rs.CreateRefreshFamily(ctx, fam, d(1), now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	checkKeys(t, st, 2)
	idle := rot
	idle.Now = now.Add(time.Minute)
	if _, _, err := rs.RotateRefreshToken(ctx, idle); !errors.Is(err, guard.ErrNotFound) {
		t.Fatalf("idle: %v", err)
	}
	if _, err := rs.RevokeRefreshFamily(ctx, "fam1", "app"); !errors.Is(err, guard.ErrNotFound) {
		t.Fatalf("revoke after idle expiry: %v", err)
	}
	// Revocation returns the access tokens (item 6).
	if err := rs.CreateRefreshFamily(ctx, fam, d(1), now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, err := rs.RevokeRefreshFamily(ctx, "fam1", "app"); err != nil || tokenIDs(got.AccessTokens) != "AT1" {
		t.Fatalf("revoke: got %+v, %v; want AT1", got, err)
	}
}

func tokenIDs(toks []authserver.IssuedToken) string {
	var ids []string
	for _, t := range toks {
		ids = append(ids, t.ID)
	}
	return strings.Join(ids, " ")
}

func TestRefreshSubjectIndex(t *testing.T) { forEachBackend(t, testRefreshSubjectIndex) }

// testRefreshSubjectIndex: RevokeSubjectRefreshFamilies ends every family
// of the subject, wherever its key lives, and no other (issue 17, item 2).
func testRefreshSubjectIndex(t *testing.T, srv *backend) {
	st := srv.store(t, "t:")
	rs := st.RefreshTokens()
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	for i, sub := range []string{"u1", "u1", "u1", "u2"} {
		fam := authserver.RefreshFamily{ID: "fam" + strconv.Itoa(i), Username: sub, Subject: sub, AuthTime: now, ExpiresAt: now.Add(time.Hour)}
		if err := rs.CreateRefreshFamily(ctx, fam, [32]byte{byte(i)}, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := rs.RevokeSubjectRefreshFamilies(ctx, "u1"); n != 3 || err != nil {
		t.Fatalf("revoke u1: got %d, %v; want 3", n, err)
	}
	for i := range 4 {
		_, _, err := rs.LookupRefreshToken(ctx, "fam"+strconv.Itoa(i), [32]byte{byte(i)}, now)
		if gone := errors.Is(err, guard.ErrNotFound); gone != (i < 3) {
			t.Errorf("fam%d: lookup %v", i, err)
		}
	}
	if n, err := rs.RevokeSubjectRefreshFamilies(ctx, "u1"); n != 0 || err != nil {
		t.Errorf("again: got %d, %v; want 0", n, err)
	}
	checkKeys(t, st, 2) // u2's family and index
}

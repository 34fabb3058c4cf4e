package redisstore

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/guardkit/guard"
	"github.com/guardkit/guard/authserver"
	"github.com/redis/go-redis/v9"
)

// fillStores writes n records of every kind: limiter entries, API keys,
// refresh families, revocations, authorization codes, and a key ring.
func fillStores(t *testing.T, st *Store, n int) {
	t.Helper()
	ctx := context.Background()
	lim, _ := st.Limiter(LimiterConfig{})
	revs, _ := st.Revocations(RevocationsConfig{})
	now := time.Now()
	for i := range n {
		s := strconv.Itoa(i)
		d := guard.APIKeyDigest(s)
		errs := []error{
			func() error { _, err := lim.Reserve(ctx, "user-"+s); return err }(),
			st.APIKeys().Add(ctx, d, guard.APIKeyRecord{Subject: "svc", ExpiresAt: now.Add(time.Hour)}),
			st.RefreshTokens().CreateRefreshFamily(ctx, authserver.RefreshFamily{ID: "fam-" + s, Subject: "sub-" + s, ExpiresAt: now.Add(time.Hour)}, d, now.Add(time.Hour)),
			revs.RevokeToken(ctx, "jti-"+s, now.Add(time.Hour)),
			revs.RevokeSubject(ctx, "sub-"+s, now),
			st.AuthCodes().SaveAuthCode(ctx, d, authserver.AuthCode{ExpiresAt: now.Add(time.Minute)}),
		}
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := st.KeyRing("").SwapKeyRing(ctx, 0, []byte("ring")); err != nil {
		t.Fatal(err)
	}
	if err := revs.Mark(ctx); err != nil {
		t.Fatal(err)
	}
}

// slots counts the hash slots and the masters that hold the store's keys.
func slots(t *testing.T, st *Store) (slots, masters int) {
	t.Helper()
	ctx := context.Background()
	rdb := st.rdb.(*redis.ClusterClient)
	ks, err := keysUnder(ctx, rdb, st.prefix)
	if err != nil {
		t.Fatal(err)
	}
	s, m := map[int64]bool{}, map[string]bool{}
	for _, k := range ks {
		slot, err := rdb.ClusterKeySlot(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		c, err := rdb.MasterForKey(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		s[slot], m[c.Options().Addr] = true, true
	}
	return len(s), len(m)
}

// TestClusterKeysSpread: every operation touches one key, so records of
// different users, families and codes spread over the cluster; a prefix
// with a hash tag puts them all in one slot, and everything still works.
func TestClusterKeysSpread(t *testing.T) {
	srv := sharedBackend(t, cluster)
	const n = 20

	st := srv.store(t, "spread:")
	fillStores(t, st, n)
	if s, m := slots(t, st); s < n || m != len(srv.nodes) {
		t.Errorf("%d records of each kind: got %d slots on %d masters, want at least %d slots on all %d", n, s, m, n, len(srv.nodes))
	}

	tagged := srv.store(t, "{tagged}:")
	fillStores(t, tagged, n)
	checkKeys(t, tagged, 7*n+2) // a family and its subject's index: two keys
	if s, m := slots(t, tagged); s != 1 || m != 1 {
		t.Errorf(`prefix "{tagged}:": got %d slots on %d masters, want 1 on 1`, s, m)
	}
}

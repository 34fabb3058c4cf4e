package redisstore

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/guardkit/guard"
)

// BenchmarkBearerRevocationCheck is one bearer request (HS256 verify, the
// revocation check, the handler) with the in-memory revocation list and with
// the Redis one on loopback, standalone and on a three-master cluster, run
// from parallel goroutines. It reports the
// p50 and p99 latency of a request and requests per second.
func BenchmarkBearerRevocationCheck(b *testing.B) {
	ctx := context.Background()
	revs := func(k backendKind) *Revocations {
		r, err := sharedBackend(b, k).store(b, "bench:").Revocations(RevocationsConfig{})
		if err != nil {
			b.Fatal(err)
		}
		for i := range 1000 { // a populated list, none of it this token's
			_ = r.RevokeToken(ctx, "jti-"+string(rune('a'+i%26))+time.Duration(i).String(), time.Now().Add(time.Hour))
		}
		return r
	}
	redisRevs, clusterRevs := revs(standalone), revs(cluster)
	key := testKey(b)
	iss, _ := guard.NewTokenIssuer(guard.TokenIssuerConfig{Key: key})
	tok, err := iss.Issue(ctx, guard.Claims{Subject: "alice", Roles: []string{"admin"}})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		rc   guard.RevocationChecker
	}{
		{"none", nil},
		{"memory", guard.MustNewMemoryRevocations(guard.MemoryRevocationsConfig{})},
		{"redis", redisRevs},
		{"redis-cluster", clusterRevs}, // the subject's and the jti's keys on up to two nodes
	} {
		b.Run(c.name, func(b *testing.B) {
			v, err := guard.NewVerifier(guard.VerifierConfig{Keys: []*guard.Key{key}, Revocations: c.rc})
			if err != nil {
				b.Fatal(err)
			}
			h := v.RequireBearer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			var mu sync.Mutex
			var lat []time.Duration
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				req := httptest.NewRequest(http.MethodGet, "/", nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				local := make([]time.Duration, 0, 1024)
				for pb.Next() {
					w := httptest.NewRecorder()
					t0 := time.Now()
					h.ServeHTTP(w, req)
					local = append(local, time.Since(t0))
					if w.Code != 200 {
						b.Errorf("status %d", w.Code)
						return
					}
				}
				mu.Lock()
				lat = append(lat, local...)
				mu.Unlock()
			})
			elapsed := time.Since(start)
			slices.Sort(lat)
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
				b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
				b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "req/s")
			}
		})
	}
}

package redisstore_test

import (
	"context"
	"errors"
	"log"
	"time"

	"github.com/guardkit/guard/redisstore"
	"github.com/redis/go-redis/v9"
)

// On Redis Cluster the stores are the same; only the client differs. The
// URL names one node and, as addr parameters, further seed nodes.
func ExampleNewClusterClient() {
	rdb, err := redisstore.NewClusterClient("redis://10.0.0.1:6379?addr=10.0.0.2:6379&addr=10.0.0.3:6379")
	if err != nil {
		log.Fatal(err)
	}
	defer rdb.Close()
	st, err := redisstore.New(rdb, redisstore.Config{Prefix: "billing:"})
	if err != nil {
		log.Fatal(err)
	}
	_ = st.RefreshTokens() // and every other store
}

// Redis Sentinel: a failover client with NewClient's timeouts. The stores
// read their own writes, so they use the master, never a replica.
func Example_sentinel() {
	opt, err := redis.ParseFailoverURL("redis://:password@10.0.0.1:26379/0?master_name=guard&addr=10.0.0.2:26379&addr=10.0.0.3:26379")
	if err != nil {
		log.Fatal(err)
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = 500*time.Millisecond, 500*time.Millisecond, 500*time.Millisecond
	opt.PoolTimeout, opt.MaxRetries, opt.DialerRetries, opt.ContextTimeoutEnabled = time.Second, 1, 1, true
	rdb := redis.NewFailoverClient(opt)
	defer rdb.Close()
	st, err := redisstore.New(rdb, redisstore.Config{})
	if err != nil {
		log.Fatal(err)
	}
	_ = st.APIKeys()
}

// The service that issues and revokes tokens marks its revocation
// namespace at start; a service that only verifies them checks, at start,
// that its store reads the same one, and refuses to start otherwise.
func ExampleRevocations_CheckMark() {
	ctx := context.Background()
	rdb, err := redisstore.NewClient("redis://127.0.0.1:6379/0")
	if err != nil {
		log.Fatal(err)
	}
	defer rdb.Close()

	// The issuer.
	issuerStore, _ := redisstore.New(rdb, redisstore.Config{Prefix: "auth:"})
	issued, _ := issuerStore.Revocations(redisstore.RevocationsConfig{})
	if err := issued.Mark(ctx); err != nil {
		log.Fatal(err) // Redis is down: retry, or start anyway and mark later
	}

	// A verifier, configured with another prefix by mistake.
	verifierStore, _ := redisstore.New(rdb, redisstore.Config{Prefix: "orders:"})
	checked, _ := verifierStore.Revocations(redisstore.RevocationsConfig{})
	switch err := checked.CheckMark(ctx); {
	case errors.Is(err, redisstore.ErrRevocationsUnmarked):
		log.Fatal(err) // redisstore: no revocation marker under prefix "orders:": …
	case err != nil:
		log.Fatal(err) // Redis is down
	}
}

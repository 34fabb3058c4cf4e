package redisstore_test

import (
	"context"
	"errors"
	"log"

	"github.com/guardkit/guard/redisstore"
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

// Redis Sentinel: the URL names the Sentinels and the master; the client
// follows failovers and never reads from a replica.
func ExampleNewFailoverClient() {
	rdb, err := redisstore.NewFailoverClient("redis://10.0.0.1:26379/0?master_name=guard&addr=10.0.0.2:26379&addr=10.0.0.3:26379")
	if err != nil {
		log.Fatal(err)
	}
	defer rdb.Close()
	st, err := redisstore.New(rdb, redisstore.Config{})
	if err != nil {
		log.Fatal(err)
	}
	_ = st.APIKeys() // and every other store
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

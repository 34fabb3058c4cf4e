package redistest

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestStart(t *testing.T) {
	s := Start(t)
	opt, err := redis.ParseURL(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(opt)
	defer rc.Close()
	if err := rc.Set(context.Background(), "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if err := rc.Ping(context.Background()).Err(); err == nil {
		t.Error("ping after Stop: got nil, want an error")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if v, err := rc.Get(context.Background(), "k").Result(); err != redis.Nil {
		t.Errorf("after a restart: got %q %v, want an empty server", v, err)
	}
}

func TestStartCluster(t *testing.T) {
	c := StartCluster(t)
	opt, err := redis.ParseClusterURL(c.URL())
	if err != nil {
		t.Fatal(err)
	}
	if len(opt.Addrs) != 3 {
		t.Fatalf("cluster URL %s: got %d addrs, want 3", c.URL(), len(opt.Addrs))
	}
	rc := redis.NewClusterClient(opt)
	defer rc.Close()
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c", "d", "e", "f"} { // spread over slots and masters
		if err := rc.Set(ctx, k, k, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	n, err := rc.DBSize(ctx).Result()
	if err != nil || n != 6 {
		t.Errorf("keys over the cluster: got %d %v, want 6", n, err)
	}
}

package redisstore

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/guardkit/guard/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

// The suite runs on four backends: a standalone redis-server, a Redis
// Cluster of three masters, a master watched by a Sentinel, and a go-redis
// Ring over two servers, all on loopback, started by the tests. Each is
// shared by the tests of one test binary (started on first use, stopped by
// TestMain); a test gets its own key namespace on it. Tests that stop Redis
// start a private backend instead.
func TestMain(m *testing.M) {
	code := m.Run()
	for i := range shared {
		if b := shared[i].b; b != nil {
			b.close()
		}
	}
	os.Exit(code)
}

type backendKind int

const (
	standalone backendKind = iota
	cluster
	sentinel
	ring
)

func (k backendKind) String() string {
	return [...]string{"standalone", "cluster", "sentinel", "ring"}[k]
}

var shared [4]struct {
	once sync.Once
	b    *backend
	err  error
}

// backend is a Redis deployment the tests started: one redis-server, the
// masters of a cluster, a master and its Sentinel (nodes[1]), or the shards
// of a ring.
type backend struct {
	kind  backendKind
	nodes []*redistest.Server
	dir   string
}

// forEachBackend runs f as a subtest on each shared backend, or on those
// of kinds.
func forEachBackend(t *testing.T, f func(t *testing.T, b *backend), kinds ...backendKind) {
	if len(kinds) == 0 {
		kinds = []backendKind{standalone, cluster, sentinel, ring}
	}
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) { f(t, sharedBackend(t, k)) })
	}
}

// sharedBackend returns the test binary's backend of kind k, starting it on
// first use.
func sharedBackend(t testing.TB, k backendKind) *backend {
	t.Helper()
	needBinaries(t, k)
	s := &shared[k]
	s.once.Do(func() { s.b, s.err = startBackend(k) })
	if s.err != nil {
		t.Fatal(s.err)
	}
	return s.b
}

// privateBackend starts a backend of kind k that only this test uses (it
// may stop it), closed at the end of the test.
func privateBackend(t testing.TB, k backendKind) *backend {
	t.Helper()
	needBinaries(t, k)
	b, err := startBackend(k)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.close)
	return b
}

// needBinaries skips the test when redis-server (and, for a cluster,
// redis-cli) is missing, unless CI is set: there the test must run.
func needBinaries(t testing.TB, k backendKind) {
	t.Helper()
	if k == cluster {
		redistest.Need(t, "redis-server", "redis-cli")
		return
	}
	redistest.Need(t, "redis-server")
}

func startBackend(k backendKind) (_ *backend, err error) {
	dir, err := os.MkdirTemp("", "redisstore-test-")
	if err != nil {
		return nil, err
	}
	b := &backend{kind: k, dir: dir}
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	n := map[backendKind]int{standalone: 1, cluster: 3, sentinel: 2, ring: 2}[k]
	for i := range n {
		opt := redistest.Options{Cluster: k == cluster}
		if k == sentinel && i == 1 {
			opt.SentinelOf = b.nodes[0].Addr()
		}
		nodeDir := fmt.Sprintf("%s/%d", dir, i)
		if err := os.Mkdir(nodeDir, 0o700); err != nil {
			return nil, err
		}
		s, err := redistest.StartServer(nodeDir, opt)
		if err != nil {
			return nil, err
		}
		b.nodes = append(b.nodes, s)
	}
	if k == cluster {
		if err := redistest.JoinCluster(b.nodes); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func (b *backend) close() {
	for _, s := range b.nodes {
		s.Stop()
	}
	_ = os.RemoveAll(b.dir)
}

// stop kills every node; start brings them back empty (a cluster keeps its
// slot map in nodes.conf and heals).
func (b *backend) stop() {
	for _, s := range b.nodes {
		s.Stop()
	}
}

func (b *backend) start(t testing.TB) {
	t.Helper()
	for _, s := range b.nodes {
		if err := s.Restart(); err != nil {
			t.Fatal(err)
		}
	}
	if b.kind == cluster {
		if err := redistest.WaitClusterOK(b.nodes, 20*time.Second); err != nil {
			t.Fatal(err)
		}
	}
}

// signal sends sig (SIGSTOP, SIGCONT) to every node.
func (b *backend) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	for _, s := range b.nodes {
		if err := s.Signal(sig); err != nil {
			t.Fatal(err)
		}
	}
}

// url is the URL NewClient, NewClusterClient or NewFailoverClient takes.
func (b *backend) url() string {
	switch b.kind {
	case standalone:
		return "redis://" + b.nodes[0].Addr() + "/0"
	case sentinel:
		return "redis://" + b.nodes[1].Addr() + "/0?master_name=" + redistest.SentinelMaster
	}
	var more []string
	for _, s := range b.nodes[1:] {
		more = append(more, "addr="+s.Addr())
	}
	return "redis://" + b.nodes[0].Addr() + "?" + strings.Join(more, "&")
}

// client returns a client with the bounded timeouts of NewClient,
// NewClusterClient or NewFailoverClient, closed at the end of the test.
func (b *backend) client(t testing.TB) redis.UniversalClient {
	t.Helper()
	var c redis.UniversalClient
	var err error
	switch b.kind {
	case cluster:
		c, err = NewClusterClient(b.url())
	case sentinel:
		c, err = NewFailoverClient(b.url())
	case ring:
		// No constructor of ours: NewClient's timeouts on a go-redis Ring.
		c = redis.NewRing(&redis.RingOptions{
			Addrs:       map[string]string{"a": b.nodes[0].Addr(), "b": b.nodes[1].Addr()},
			DialTimeout: 500 * time.Millisecond, ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond,
			PoolTimeout: time.Second, MaxRetries: 1, DialerRetries: 1, ContextTimeoutEnabled: true,
		})
	default:
		c, err = NewClient(b.url())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var namespaces sync.Map // testing.TB → its prefix
var nextNamespace atomic.Int64

// store returns a Store whose prefix is the test's namespace followed by
// prefix: the stores of one test with one prefix share their keys, and no
// other test sees them.
func (b *backend) store(t testing.TB, prefix string) *Store {
	t.Helper()
	ns, _ := namespaces.LoadOrStore(t, "n"+strconv.FormatInt(nextNamespace.Add(1), 10)+":")
	st, err := New(b.client(t), Config{Prefix: ns.(string) + prefix})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// keysUnder returns the keys that start with prefix, from every master or
// shard.
func keysUnder(ctx context.Context, rdb redis.UniversalClient, prefix string) ([]string, error) {
	pattern := prefix + "*"
	var each func(context.Context, func(context.Context, *redis.Client) error) error
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		each = c.ForEachMaster
	case *redis.Ring:
		each = c.ForEachShard
	default:
		return rdb.Keys(ctx, pattern).Result()
	}
	var mu sync.Mutex
	var all []string
	err := each(ctx, func(ctx context.Context, n *redis.Client) error {
		ks, err := n.Keys(ctx, pattern).Result()
		mu.Lock()
		all = append(all, ks...)
		mu.Unlock()
		return err
	})
	return all, err
}

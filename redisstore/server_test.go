package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

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
	nodes []*redisServer
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
	bins := []string{"redis-server"}
	if k == cluster {
		bins = append(bins, "redis-cli")
	}
	for _, bin := range bins {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s not found and CI is set: %v", bin, err)
			}
			t.Skipf("%s not installed (apt-get install redis-server redis-tools)", bin)
		}
	}
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
		port, err := freePort(k == cluster)
		if err != nil {
			return nil, err
		}
		s := &redisServer{port: port, dir: fmt.Sprintf("%s/%d", dir, i), cluster: k == cluster}
		if k == sentinel && i == 1 {
			s.sentinelOf = b.nodes[0].addr()
		}
		if err := os.Mkdir(s.dir, 0o700); err != nil {
			return nil, err
		}
		b.nodes = append(b.nodes, s)
		if err := s.start(); err != nil {
			return nil, err
		}
	}
	if k == cluster {
		args := []string{"--cluster", "create"}
		for _, s := range b.nodes {
			args = append(args, s.addr())
		}
		args = append(args, "--cluster-replicas", "0", "--cluster-yes")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("redis-cli --cluster create: %v\n%s", err, out)
		}
		if err := b.waitClusterOK(); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// waitClusterOK waits until every node reports cluster_state:ok and maps
// all 16384 slots.
func (b *backend) waitClusterOK() error {
	deadline := time.Now().Add(20 * time.Second)
	for _, s := range b.nodes {
		c := redis.NewClient(&redis.Options{Addr: s.addr(), MaxRetries: -1})
		for {
			info, err := c.ClusterInfo(context.Background()).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_slots_ok:16384") {
				break
			}
			if time.Now().After(deadline) {
				c.Close()
				return fmt.Errorf("cluster not ok within 20s: %q, %v", info, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		c.Close()
	}
	return nil
}

func (b *backend) close() {
	for _, s := range b.nodes {
		s.stop()
	}
	_ = os.RemoveAll(b.dir)
}

// stop kills every node; start brings them back empty (a cluster keeps its
// slot map in nodes.conf and heals).
func (b *backend) stop() {
	for _, s := range b.nodes {
		s.stop()
	}
}

func (b *backend) start(t testing.TB) {
	t.Helper()
	for _, s := range b.nodes {
		if err := s.start(); err != nil {
			t.Fatal(err)
		}
	}
	if b.kind == cluster {
		if err := b.waitClusterOK(); err != nil {
			t.Fatal(err)
		}
	}
}

// signal sends sig (SIGSTOP, SIGCONT) to every node.
func (b *backend) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	for _, s := range b.nodes {
		if err := s.cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
	}
}

// url is the URL NewClient, NewClusterClient or NewFailoverClient takes.
func (b *backend) url() string {
	switch b.kind {
	case standalone:
		return "redis://" + b.nodes[0].addr() + "/0"
	case sentinel:
		return "redis://" + b.nodes[1].addr() + "/0?master_name=" + sentinelMaster
	}
	var more []string
	for _, s := range b.nodes[1:] {
		more = append(more, "addr="+s.addr())
	}
	return "redis://" + b.nodes[0].addr() + "?" + strings.Join(more, "&")
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
			Addrs:       map[string]string{"a": b.nodes[0].addr(), "b": b.nodes[1].addr()},
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

// redisServer is a redis-server the tests started on a free port, with its
// own directory and no persistence: a cluster node, a Sentinel watching the
// master at sentinelOf, or a plain server.
type redisServer struct {
	port       int
	dir        string
	cluster    bool
	sentinelOf string
	cmd        *exec.Cmd
}

// sentinelMaster is the name the test Sentinel knows its master by.
const sentinelMaster = "guard"

// freePort returns a free loopback port; for a cluster node, one whose bus
// port (+10000) is free too.
func freePort(bus bool) (int, error) {
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !bus {
			return port, nil
		}
		if port+10000 > 65535 {
			continue
		}
		if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000)); err == nil {
			l.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free port pair for a cluster node")
}

func (s *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

func (s *redisServer) start() error {
	args := []string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--logfile", "redis.log"}
	if s.cluster {
		args = append(args, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
	}
	if s.sentinelOf != "" {
		// A Sentinel rewrites its configuration file: it needs one of its own.
		host, port, _ := strings.Cut(s.sentinelOf, ":")
		conf := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nlogfile sentinel.log\nsentinel monitor %s %s %s 1\n",
			s.port, s.dir, sentinelMaster, host, port)
		if err := os.WriteFile(s.dir+"/sentinel.conf", []byte(conf), 0o600); err != nil {
			return err
		}
		args = []string{s.dir + "/sentinel.conf", "--sentinel"}
	}
	s.cmd = exec.Command("redis-server", args...)
	setPdeathsig(s.cmd)
	if err := s.cmd.Start(); err != nil {
		return err
	}
	c := redis.NewClient(&redis.Options{Addr: s.addr(), MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := c.Info(context.Background(), "server").Result()
		if err == nil {
			// The port was free when chosen; make sure it is ours that answers.
			if !strings.Contains(info, "process_id:"+strconv.Itoa(s.cmd.Process.Pid)+"\r\n") {
				s.stop()
				return fmt.Errorf("another server answers on %s", s.addr())
			}
			return nil
		}
		if time.Now().After(deadline) {
			s.stop()
			return fmt.Errorf("redis-server on %s did not answer within 10s", s.addr())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *redisServer) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Package redistest starts real Redis servers for tests: a standalone
// redis-server, or a Redis Cluster of three masters, on loopback ports,
// without persistence, each in its own temporary directory, stopped when
// the test ends (and killed with the test binary on Linux).
//
// A test that needs a server skips when redis-server (and, for a cluster,
// redis-cli) is not installed, unless the environment variable CI is set:
// there it fails, so that a CI run cannot pass by skipping.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is one redis-server process.
type Server struct {
	port int
	dir  string
	opt  Options
	cmd  *exec.Cmd
}

// Options choose what a [StartServer] process is.
type Options struct {
	// Cluster starts a cluster-enabled node (see [JoinCluster]).
	Cluster bool
	// SentinelOf, when set, starts a Sentinel that watches the master at
	// this host:port under the name [SentinelMaster].
	SentinelOf string
}

// SentinelMaster is the name a Sentinel started here knows its master by.
const SentinelMaster = "guard"

// Addr is the server's host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// URL is a redis:// URL of the server's database 0.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Cluster is a Redis Cluster of three masters.
type Cluster struct{ Nodes []*Server }

// URL is a cluster URL for redis.ParseClusterURL: the first node, and the
// others as addr parameters.
func (c *Cluster) URL() string {
	u := "redis://" + c.Nodes[0].Addr()
	for i, n := range c.Nodes[1:] {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		u += sep + "addr=" + n.Addr()
	}
	return u
}

// Need skips t when the programs are not installed, or fails it when CI is
// set.
func Need(t testing.TB, programs ...string) {
	t.Helper()
	for _, p := range programs {
		if _, err := exec.LookPath(p); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s not found and CI is set: %v", p, err)
			}
			t.Skipf("%s not installed (apt-get install redis-server redis-tools)", p)
		}
	}
}

// Start starts a standalone redis-server for t.
func Start(t testing.TB) *Server {
	t.Helper()
	Need(t, "redis-server")
	s, err := StartServer(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// StartCluster starts three cluster-enabled servers for t and joins them
// into a cluster of three masters, waiting until every node maps all
// slots.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	Need(t, "redis-server", "redis-cli")
	c := &Cluster{}
	t.Cleanup(func() {
		for _, n := range c.Nodes {
			n.Stop()
		}
	})
	for range 3 {
		s, err := StartServer(t.TempDir(), Options{Cluster: true})
		if err != nil {
			t.Fatal(err)
		}
		c.Nodes = append(c.Nodes, s)
	}
	if err := JoinCluster(c.Nodes); err != nil {
		t.Fatal(err)
	}
	return c
}

// JoinCluster makes the cluster-enabled nodes one cluster of masters
// (redis-cli --cluster create) and waits until it is ok.
func JoinCluster(nodes []*Server) error {
	args := []string{"--cluster", "create"}
	for _, n := range nodes {
		args = append(args, n.Addr())
	}
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	return WaitClusterOK(nodes, 20*time.Second)
}

// WaitClusterOK waits until every node reports cluster_state:ok with all
// 16384 slots mapped: after JoinCluster, or after the nodes restart.
func WaitClusterOK(nodes []*Server, within time.Duration) error {
	deadline := time.Now().Add(within)
	for _, n := range nodes {
		rc := redis.NewClient(&redis.Options{Addr: n.Addr(), MaxRetries: -1})
		for {
			info, err := rc.ClusterInfo(context.Background()).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_slots_ok:16384") {
				break
			}
			if time.Now().After(deadline) {
				rc.Close()
				return fmt.Errorf("redistest: cluster not ok within %v: %q, %v", within, info, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		rc.Close()
	}
	return nil
}

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
	return 0, errors.New("redistest: no free port pair for a cluster node")
}

// StartServer starts a redis-server (or a Sentinel) on a free loopback port
// with its files in dir, without persistence, and waits until it answers.
// Stop it with [Server.Stop]; on Linux it also dies with the process that
// started it.
func StartServer(dir string, opt Options) (*Server, error) {
	port, err := freePort(opt.Cluster)
	if err != nil {
		return nil, err
	}
	s := &Server{port: port, dir: dir, opt: opt}
	return s, s.Restart()
}

// Restart starts the server again after Stop, empty (a cluster node keeps
// its slot map in its directory and rejoins).
func (s *Server) Restart() error {
	args := []string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--logfile", "redis.log"}
	if s.opt.Cluster {
		args = append(args, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
	}
	if s.opt.SentinelOf != "" {
		// A Sentinel rewrites its configuration file: it needs one of its own.
		host, port, _ := strings.Cut(s.opt.SentinelOf, ":")
		conf := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nlogfile sentinel.log\nsentinel monitor %s %s %s 1\n",
			s.port, s.dir, SentinelMaster, host, port)
		if err := os.WriteFile(filepath.Join(s.dir, "sentinel.conf"), []byte(conf), 0o600); err != nil {
			return err
		}
		args = []string{filepath.Join(s.dir, "sentinel.conf"), "--sentinel"}
	}
	s.cmd = exec.Command("redis-server", args...)
	setPdeathsig(s.cmd)
	if err := s.cmd.Start(); err != nil {
		return err
	}
	rc := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer rc.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := rc.Info(context.Background(), "server").Result()
		if err == nil {
			// The port was free when chosen; make sure ours is the server that answers.
			if !strings.Contains(info, "process_id:"+strconv.Itoa(s.cmd.Process.Pid)+"\r\n") {
				s.Stop()
				return fmt.Errorf("redistest: another server answers on %s", s.Addr())
			}
			return nil
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("redistest: redis-server on %s did not answer within 10s", s.Addr())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Signal sends sig to the process: SIGSTOP freezes it (a Redis that
// accepts connections and never answers), SIGCONT thaws it.
func (s *Server) Signal(sig os.Signal) error {
	if s.cmd == nil || s.cmd.Process == nil {
		return errors.New("redistest: server not running")
	}
	return s.cmd.Process.Signal(sig)
}

// Stop kills the server. It is safe to call twice.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

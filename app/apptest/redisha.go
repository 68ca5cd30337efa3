package apptest

import (
	"context"
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

// RedisServerPath is the redis-server the high-availability helpers run
// (as a server, a sentinel and a cluster node): the one on PATH, else
// Debian's.
var RedisServerPath = func() string {
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p
	}
	return "/usr/bin/redis-server"
}()

// SkipWithoutRedisServer skips a test when redis-server is not installed.
func SkipWithoutRedisServer(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(RedisServerPath); err != nil {
		t.Skipf("Redis high-availability test needs %s (apt-get install redis-server): %v", RedisServerPath, err)
	}
}

// RedisProc is one redis-server process a test started on loopback: a
// data node or a sentinel. It is killed when the test ends.
type RedisProc struct {
	// Addr is 127.0.0.1:port.
	Addr   string
	Port   int
	Dir    string
	cmd    *exec.Cmd
	exited chan struct{}
	log    *SyncBuffer
}

// Client opens a plain client to this one process; the test closes it.
func (p *RedisProc) Client(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: p.Addr, MaxRetries: -1, DialTimeout: 2 * time.Second})
	t.Cleanup(func() { c.Close() })
	return c
}

// Log is what the process wrote so far.
func (p *RedisProc) Log() string { return p.log.String() }

// Stop kills the process and waits for it.
func (p *RedisProc) Stop() {
	p.cmd.Process.Kill() //nolint:errcheck
	<-p.exited
}

// freePort returns a loopback port nothing listens on right now.
func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startRedisProc writes the configuration conf(port, dir) and starts
// redis-server on it (with --sentinel when sentinel is set), retrying on
// a fresh port when another process took the chosen one meanwhile. It
// returns once the process answers PING.
func startRedisProc(t testing.TB, name string, sentinel bool, conf func(port int, dir string) string) *RedisProc {
	t.Helper()
	for attempt := 0; attempt < 5; attempt++ {
		port := freePort(t)
		dir := filepath.Join(t.TempDir(), name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, name+".conf")
		base := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nlogfile \"\"\ndaemonize no\nprotected-mode no\n", port, dir)
		if err := os.WriteFile(file, []byte(base+conf(port, dir)), 0o600); err != nil {
			t.Fatal(err)
		}
		args := []string{file}
		if sentinel {
			args = append(args, "--sentinel")
		}
		cmd := exec.Command(RedisServerPath, args...)
		cmd.SysProcAttr = sysProcAttr()
		p := &RedisProc{Addr: "127.0.0.1:" + strconv.Itoa(port), Port: port, Dir: dir, cmd: cmd, exited: make(chan struct{}), log: &SyncBuffer{}}
		cmd.Stdout, cmd.Stderr = p.log, p.log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { cmd.Wait(); close(p.exited) }() //nolint:errcheck
		c := redis.NewClient(&redis.Options{Addr: p.Addr, MaxRetries: -1, DialTimeout: time.Second})
		up := false
		for deadline := time.Now().Add(10 * time.Second); !up && !isClosed(p.exited) && time.Now().Before(deadline); {
			if c.Ping(context.Background()).Err() == nil {
				up = true
				break
			}
			select {
			case <-p.exited:
			case <-time.After(20 * time.Millisecond):
			}
		}
		c.Close()
		if up {
			t.Cleanup(func() {
				p.Stop()
				if t.Failed() {
					t.Logf("%s (%s) log:\n%s", name, p.Addr, tail(p.log.String(), 40))
				}
			})
			return p
		}
		p.Stop()
		if !strings.Contains(p.log.String(), "in use") {
			t.Fatalf("%s did not start:\n%s", name, p.log.String())
		}
	}
	t.Fatalf("%s: no free port after 5 attempts", name)
	return nil
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// noPersistence keeps data nodes in memory: the tests fail over
// processes, they do not restart them.
const noPersistence = "save \"\"\nappendonly no\n"

// SentinelMaster is the master name the sentinels of StartSentinels watch.
const SentinelMaster = "recap"

// Sentinels is a master, one replica and three sentinels watching them,
// all on loopback.
type Sentinels struct {
	// URL is the REDIS_URL that reaches the master through the sentinels.
	URL       string
	Master    *RedisProc
	Replica   *RedisProc
	Sentinels []*RedisProc
}

// StartSentinels starts a master, a replica in sync with it and three
// sentinels (quorum 2) that have discovered the replica and each other.
func StartSentinels(t testing.TB) *Sentinels {
	t.Helper()
	SkipWithoutRedisServer(t)
	ctx := context.Background()
	s := &Sentinels{}
	s.Master = startRedisProc(t, "master", false, func(int, string) string { return noPersistence })
	s.Replica = startRedisProc(t, "replica", false, func(int, string) string {
		return noPersistence + "replicaof 127.0.0.1 " + strconv.Itoa(s.Master.Port) + "\n"
	})
	rc := s.Replica.Client(t)
	Poll(t, 30*time.Second, "the replica in sync with the master", func() bool {
		info, _ := rc.Info(ctx, "replication").Result()
		return strings.Contains(info, "master_link_status:up")
	})
	addrs := make([]string, 3)
	for i := range 3 {
		p := startRedisProc(t, "sentinel"+strconv.Itoa(i), true, func(int, string) string {
			return fmt.Sprintf("sentinel monitor %[1]s 127.0.0.1 %[2]d 2\n"+
				"sentinel down-after-milliseconds %[1]s 3000\n"+
				"sentinel failover-timeout %[1]s 20000\n"+
				"sentinel parallel-syncs %[1]s 1\n", SentinelMaster, s.Master.Port)
		})
		s.Sentinels = append(s.Sentinels, p)
		addrs[i] = p.Addr
	}
	// Sentinels learn of the replica from the master's INFO and of each
	// other from hello messages on the master (every 2 s).
	for _, p := range s.Sentinels {
		sc := redis.NewSentinelClient(&redis.Options{Addr: p.Addr, MaxRetries: -1})
		Poll(t, 60*time.Second, "sentinel "+p.Addr+" to know the replica and the other sentinels", func() bool {
			reps, err := sc.Replicas(ctx, SentinelMaster).Result()
			if err != nil || len(reps) != 1 || reps[0]["flags"] != "slave" || reps[0]["master-link-status"] != "ok" {
				return false
			}
			peers, err := sc.Sentinels(ctx, SentinelMaster).Result()
			return err == nil && len(peers) == 2
		})
		sc.Close()
	}
	s.URL = "redis-sentinel://" + strings.Join(addrs, ",") + "/0?master=" + SentinelMaster
	return s
}

// MasterAddr is the master address the given sentinel reports.
func (s *Sentinels) MasterAddr(t testing.TB, sentinel int) string {
	t.Helper()
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.Sentinels[sentinel].Addr, MaxRetries: -1})
	defer sc.Close()
	a, err := sc.GetMasterAddrByName(context.Background(), SentinelMaster).Result()
	if err != nil {
		return ""
	}
	return net.JoinHostPort(a[0], a[1])
}

// Failover has a sentinel promote the replica (SENTINEL FAILOVER) and
// waits until every sentinel names it master and the old master has
// become its replica, in sync. Master and Replica are swapped.
func (s *Sentinels) Failover(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.Sentinels[0].Addr, MaxRetries: -1})
	defer sc.Close()
	if err := sc.Failover(ctx, SentinelMaster).Err(); err != nil {
		t.Fatalf("SENTINEL FAILOVER: %v", err)
	}
	promoted, demoted := s.Replica, s.Master
	Poll(t, 60*time.Second, "every sentinel to name "+promoted.Addr+" master", func() bool {
		for i := range s.Sentinels {
			if s.MasterAddr(t, i) != promoted.Addr {
				return false
			}
		}
		return true
	})
	dc := demoted.Client(t)
	Poll(t, 60*time.Second, "the old master to replicate the new one", func() bool {
		info, _ := dc.Info(ctx, "replication").Result()
		return strings.Contains(info, "role:slave") && strings.Contains(info, "master_port:"+strconv.Itoa(promoted.Port)) &&
			strings.Contains(info, "master_link_status:up")
	})
	s.Master, s.Replica = promoted, demoted
}

// Cluster is a Redis Cluster of three masters (no replicas) on loopback.
type Cluster struct {
	// URL is the REDIS_URL naming every node.
	URL   string
	Nodes []*RedisProc
}

// StartCluster starts three cluster-enabled nodes, joins them with
// redis-cli --cluster create (the hash slots split in three) and waits
// until every node reports cluster_state:ok.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	SkipWithoutRedisServer(t)
	ctx := context.Background()
	c := &Cluster{}
	addrs := make([]string, 3)
	for i := range 3 {
		p := startRedisProc(t, "node"+strconv.Itoa(i), false, func(port int, dir string) string {
			// The bus port is chosen too: port+10000 may be taken or out of range.
			return noPersistence + fmt.Sprintf("cluster-enabled yes\ncluster-config-file %s\ncluster-node-timeout 5000\ncluster-port %d\n",
				filepath.Join(dir, "nodes.conf"), freePort(t))
		})
		c.Nodes = append(c.Nodes, p)
		addrs[i] = p.Addr
	}
	cli := filepath.Join(filepath.Dir(RedisServerPath), "redis-cli")
	ctxc, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctxc, cli, append(append([]string{"--cluster", "create"}, addrs...),
		"--cluster-replicas", "0", "--cluster-yes")...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, p := range c.Nodes {
		pc := p.Client(t)
		Poll(t, 60*time.Second, "cluster_state:ok on "+p.Addr, func() bool {
			info, _ := pc.ClusterInfo(ctx).Result()
			return strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_known_nodes:3")
		})
	}
	c.URL = "redis-cluster://" + strings.Join(addrs, ",")
	return c
}

// KeysPerNode counts the keys on each node, in Nodes order.
func (c *Cluster) KeysPerNode(t testing.TB) []int64 {
	t.Helper()
	out := make([]int64, len(c.Nodes))
	for i, p := range c.Nodes {
		n, err := p.Client(t).DBSize(context.Background()).Result()
		if err != nil {
			t.Fatalf("DBSIZE on %s: %v", p.Addr, err)
		}
		out[i] = n
	}
	return out
}

// Reshard moves every hash slot that holds a key to the next node (node
// i's to node i+1), as an operator adding capacity would, while clients
// keep working: the target imports the slot, the source migrates it,
// MIGRATE moves its keys in batches, then every node is told the new
// owner. Clients meet ASK, TRYAGAIN and MOVED replies meanwhile. It
// returns the number of slots moved.
func (c *Cluster) Reshard(t testing.TB) int {
	t.Helper()
	ctx := context.Background()
	n := len(c.Nodes)
	clients := make([]*redis.Client, n)
	ids := make([]string, n)
	for i, p := range c.Nodes {
		clients[i] = p.Client(t)
		id, err := clients[i].Do(ctx, "CLUSTER", "MYID").Text()
		if err != nil {
			t.Fatalf("CLUSTER MYID on %s: %v", p.Addr, err)
		}
		ids[i] = id
	}
	// The slots each node holds keys in.
	owned := make([]map[int64]bool, n)
	for i, cl := range clients {
		owned[i] = map[int64]bool{}
		iter := cl.Scan(ctx, 0, "*", 1000).Iterator()
		for iter.Next(ctx) {
			slot, err := cl.ClusterKeySlot(ctx, iter.Val()).Result()
			if err != nil {
				t.Fatalf("CLUSTER KEYSLOT: %v", err)
			}
			owned[i][slot] = true
		}
		if err := iter.Err(); err != nil {
			t.Fatalf("SCAN on %s: %v", c.Nodes[i].Addr, err)
		}
	}
	moved := 0
	for src := range n {
		dst := (src + 1) % n
		for slot := range owned[src] {
			must := func(cl *redis.Client, args ...any) {
				if err := cl.Do(ctx, args...).Err(); err != nil {
					t.Fatalf("%v: %v", args, err)
				}
			}
			must(clients[dst], "CLUSTER", "SETSLOT", slot, "IMPORTING", ids[src])
			must(clients[src], "CLUSTER", "SETSLOT", slot, "MIGRATING", ids[dst])
			for {
				keys, err := clients[src].ClusterGetKeysInSlot(ctx, int(slot), 100).Result()
				if err != nil {
					t.Fatalf("CLUSTER GETKEYSINSLOT %d: %v", slot, err)
				}
				if len(keys) == 0 {
					break
				}
				args := []any{"MIGRATE", "127.0.0.1", c.Nodes[dst].Port, "", 0, 5000, "KEYS"}
				for _, k := range keys {
					args = append(args, k)
				}
				must(clients[src], args...)
			}
			// The target first, then the source, then the rest (the order
			// redis-cli uses, so no node ever points back at the source).
			must(clients[dst], "CLUSTER", "SETSLOT", slot, "NODE", ids[dst])
			must(clients[src], "CLUSTER", "SETSLOT", slot, "NODE", ids[dst])
			for i := range n {
				if i != src && i != dst {
					must(clients[i], "CLUSTER", "SETSLOT", slot, "NODE", ids[dst])
				}
			}
			moved++
		}
	}
	for i, cl := range clients {
		Poll(t, 60*time.Second, "cluster_state:ok on "+c.Nodes[i].Addr+" after the reshard", func() bool {
			info, _ := cl.ClusterInfo(ctx).Result()
			return strings.Contains(info, "cluster_state:ok")
		})
	}
	return moved
}

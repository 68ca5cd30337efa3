package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// RedisMode is the kind of Redis deployment REDIS_URL names.
type RedisMode int

// The deployments Recap runs on.
const (
	// RedisStandalone is one server: redis:// or rediss://, parsed by
	// go-redis and asynq themselves, exactly as before Sentinel and
	// Cluster were supported.
	RedisStandalone RedisMode = iota
	// RedisSentinel is a master and its replicas watched by Sentinel:
	// redis-sentinel://.
	RedisSentinel
	// RedisCluster is a Redis Cluster: redis-cluster://.
	RedisCluster
)

// String names the mode in messages.
func (m RedisMode) String() string {
	switch m {
	case RedisSentinel:
		return "sentinel"
	case RedisCluster:
		return "cluster"
	}
	return "standalone"
}

// Default ports of the addresses of an HA URL that name none.
const (
	defaultSentinelPort = "26379"
	defaultRedisPort    = "6379"
)

// RedisTarget is a parsed REDIS_URL: where Redis is and how to log in.
// Every part of Recap that keeps something in Redis (asynq, the event
// streams, the rate limiter, the readiness check, asynqmon) connects
// through it, so they can never disagree on the deployment.
type RedisTarget struct {
	Mode RedisMode
	// Addrs are the server (standalone), the sentinels, or the cluster
	// nodes to discover the others from.
	Addrs []string
	// MasterName is the master the sentinels watch (sentinel only).
	MasterName string
	// DB is the database number; a cluster has only database 0.
	DB int
	// Username and Password log in to the data nodes (master, replicas,
	// cluster nodes).
	Username, Password string
	// SentinelUsername and SentinelPassword log in to the sentinels.
	SentinelUsername, SentinelPassword string

	// standalone keeps go-redis's own parse of a single-server URL, so
	// every option that URL form accepts keeps working.
	standalone *redis.Options
	asynq      asynq.RedisConnOpt
}

// ParseRedisURL parses REDIS_URL. Three forms are accepted:
//
//	redis://[[user]:password@]host:port[/db][?go-redis options]   (also rediss:// for TLS)
//	redis-sentinel://[[user]:password@]host1:port[,host2:port...][/db]?master=NAME[&password=P][&username=U]
//	redis-cluster://[[user]:password@]host1:port[,host2:port...]
//
// The sentinel form is asynq's: the password before "@" is the
// sentinels' (as asynq and go-redis read it); a password the master and
// its replicas require goes in password= (and username=). Sentinel
// addresses without a port get 26379, cluster nodes 6379. A cluster node
// list needs only some nodes: the client discovers the rest.
func ParseRedisURL(raw string) (RedisTarget, error) {
	scheme, _, ok := strings.Cut(raw, "://")
	if !ok {
		return RedisTarget{}, errors.New("not a URL: want redis://host:port/db, redis-sentinel://host:port,host:port/db?master=NAME or redis-cluster://host:port,host:port")
	}
	switch strings.ToLower(scheme) {
	case "redis", "rediss":
		return parseStandalone(raw)
	case "redis-sentinel":
		return parseHA(raw, RedisSentinel)
	case "redis-cluster":
		return parseHA(raw, RedisCluster)
	}
	return RedisTarget{}, fmt.Errorf("unsupported scheme %q: want redis, rediss, redis-sentinel or redis-cluster", scheme)
}

// parseStandalone is the single-server form, read by go-redis and asynq
// exactly as Recap always did.
func parseStandalone(raw string) (RedisTarget, error) {
	opt, err := redis.ParseURL(raw)
	if err != nil {
		return RedisTarget{}, err
	}
	aopt, err := asynq.ParseRedisURI(raw)
	if err != nil {
		return RedisTarget{}, err
	}
	return RedisTarget{Mode: RedisStandalone, Addrs: []string{opt.Addr}, DB: opt.DB, Username: opt.Username, Password: opt.Password,
		standalone: opt, asynq: aopt}, nil
}

// parseHA reads the sentinel and cluster forms. Their host part is a
// comma-separated list, which net/url does not accept as a host, so the
// list is cut out first and the rest parsed with one placeholder host.
func parseHA(raw string, mode RedisMode) (RedisTarget, error) {
	scheme, rest, _ := strings.Cut(raw, "://")
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	userinfo, hosts := "", authority
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		userinfo, hosts = authority[:i+1], authority[i+1:]
	}
	u, err := url.Parse(scheme + "://" + userinfo + "placeholder" + tail)
	if err != nil {
		return RedisTarget{}, fmt.Errorf("malformed URL: %w", errors.Unwrap(err))
	}
	if u.Fragment != "" {
		return RedisTarget{}, errors.New("a URL fragment (#...) is not allowed")
	}
	t := RedisTarget{Mode: mode}
	defPort := defaultRedisPort
	if mode == RedisSentinel {
		defPort = defaultSentinelPort
	}
	if t.Addrs, err = parseAddrs(hosts, defPort); err != nil {
		return RedisTarget{}, err
	}
	user := u.User.Username()
	pass, _ := u.User.Password()
	if t.DB, err = parseDB(u.Path); err != nil {
		return RedisTarget{}, err
	}
	q := u.Query()
	allowed := []string{}
	if mode == RedisSentinel {
		allowed = []string{"master", "password", "username"}
	}
	for k, v := range q {
		if !slices.Contains(allowed, k) {
			if len(allowed) == 0 {
				return RedisTarget{}, fmt.Errorf("unknown parameter %q: a %s URL takes none", k, mode)
			}
			return RedisTarget{}, fmt.Errorf("unknown parameter %q: a %s URL takes %s", k, mode, strings.Join(allowed, ", "))
		}
		if len(v) > 1 {
			return RedisTarget{}, fmt.Errorf("parameter %q given %d times", k, len(v))
		}
	}
	switch mode {
	case RedisSentinel:
		t.MasterName = q.Get("master")
		if strings.TrimSpace(t.MasterName) == "" {
			return RedisTarget{}, errors.New("master=NAME is required: the name the sentinels monitor (sentinel monitor NAME ...)")
		}
		t.SentinelUsername, t.SentinelPassword = user, pass
		t.Username, t.Password = q.Get("username"), q.Get("password")
		t.asynq = asynq.RedisFailoverClientOpt{MasterName: t.MasterName, SentinelAddrs: t.Addrs,
			SentinelUsername: t.SentinelUsername, SentinelPassword: t.SentinelPassword,
			Username: t.Username, Password: t.Password, DB: t.DB}
	case RedisCluster:
		if t.DB != 0 {
			return RedisTarget{}, fmt.Errorf("database %d: Redis Cluster has only database 0", t.DB)
		}
		t.Username, t.Password = user, pass
		t.asynq = asynq.RedisClusterClientOpt{Addrs: t.Addrs, Username: t.Username, Password: t.Password}
	}
	return t, nil
}

// parseAddrs splits a comma-separated host[:port] list, giving a port
// to the addresses that have none.
func parseAddrs(list, defPort string) ([]string, error) {
	if strings.TrimSpace(list) == "" {
		return nil, errors.New("no host: list at least one as host:port[,host:port...]")
	}
	var out []string
	for _, a := range strings.Split(list, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			return nil, fmt.Errorf("empty address in %q", list)
		}
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			// No port: a name, an IPv4 address or a bracketed IPv6 address.
			if strings.Contains(strings.Trim(a, "[]"), ":") && !strings.HasPrefix(a, "[") {
				return nil, fmt.Errorf("address %q: write an IPv6 address in brackets, [::1]:port", a)
			}
			host, port = strings.TrimSuffix(strings.TrimPrefix(a, "["), "]"), defPort
		}
		if host == "" || strings.ContainsAny(host, "[]/ @?#") {
			return nil, fmt.Errorf("address %q: bad host", a)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("address %q: port must be 1-65535", a)
		}
		addr := net.JoinHostPort(host, port)
		if !slices.Contains(out, addr) {
			out = append(out, addr)
		}
	}
	return out, nil
}

// parseDB reads "", "/" or "/N".
func parseDB(path string) (int, error) {
	p := strings.Trim(path, "/")
	if p == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("database %q: the path must be a database number (/0)", p)
	}
	return n, nil
}

// AsynqOpt returns asynq's connection options for the deployment.
func (t RedisTarget) AsynqOpt() asynq.RedisConnOpt { return t.asynq }

// The pool keeps few idle connections. Its size is large because every
// follower of a job's events may hold a connection while it reads (a
// replay, a follower catching up on its own), but once a burst of them is
// over, go-redis would keep every connection it opened (no idle cap, and
// 30 minutes before an idle one is closed): 300 followers arriving at once
// left some 200 idle connections behind. Connections beyond
// RedisMaxIdleConns are closed as they are returned, and an idle one is
// closed after RedisConnMaxIdleTime.
const (
	// RedisMaxIdleConns is the most idle connections the pool keeps.
	RedisMaxIdleConns = 32
	// RedisConnMaxIdleTime closes a connection idle this long.
	RedisConnMaxIdleTime = time.Minute
)

// Client opens a go-redis client for the deployment: a plain client, a
// failover client that follows the master the sentinels name, or a
// cluster client. poolSize is per server (per node in a cluster), and so
// is the idle cap.
func (t RedisTarget) Client(poolSize int) redis.UniversalClient {
	maxIdle := min(RedisMaxIdleConns, poolSize)
	switch t.Mode {
	case RedisSentinel:
		return redis.NewFailoverClient(&redis.FailoverOptions{MasterName: t.MasterName, SentinelAddrs: t.Addrs,
			SentinelUsername: t.SentinelUsername, SentinelPassword: t.SentinelPassword,
			Username: t.Username, Password: t.Password, DB: t.DB, PoolSize: poolSize,
			MaxIdleConns: maxIdle, ConnMaxIdleTime: RedisConnMaxIdleTime})
	case RedisCluster:
		return redis.NewClusterClient(&redis.ClusterOptions{Addrs: t.Addrs, Username: t.Username, Password: t.Password,
			PoolSize: poolSize, MaxIdleConns: maxIdle, ConnMaxIdleTime: RedisConnMaxIdleTime})
	}
	opt := *t.standalone
	opt.PoolSize = poolSize
	opt.MaxIdleConns, opt.ConnMaxIdleTime = maxIdle, RedisConnMaxIdleTime
	return redis.NewClient(&opt)
}

// String describes where Redis is, without credentials, for messages.
func (t RedisTarget) String() string {
	switch t.Mode {
	case RedisSentinel:
		return fmt.Sprintf("master %q through sentinels %s", t.MasterName, strings.Join(t.Addrs, ","))
	case RedisCluster:
		return "cluster nodes " + strings.Join(t.Addrs, ",")
	}
	return t.Addrs[0]
}

// pingRedis checks that the deployment answers: the server, the master
// the sentinels name, or every master of a cluster whose slots are all
// served (a cluster missing slots fails some keys and not others).
func pingRedis(ctx context.Context, t RedisTarget, rdb redis.UniversalClient) error {
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok || t.Mode != RedisCluster {
		return rdb.Ping(ctx).Err()
	}
	info, err := cc.ClusterInfo(ctx).Result()
	if err != nil {
		return err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "cluster_state:"); ok && v != "ok" {
			return fmt.Errorf("cluster_state is %s: not every hash slot is served", v)
		}
	}
	return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		if err := c.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("%s: %w", c.Options().Addr, err)
		}
		return nil
	})
}

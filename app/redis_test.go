package app_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/recap/recap/app"
)

// TestParseRedisURL: the three REDIS_URL forms, and a clear error for
// each way one can be malformed. No error repeats a password.
func TestParseRedisURL(t *testing.T) {
	t.Parallel()
	ok := []struct {
		url  string
		want app.RedisTarget
	}{
		{"redis://127.0.0.1:6379/0", app.RedisTarget{Mode: app.RedisStandalone, Addrs: []string{"127.0.0.1:6379"}}},
		{"redis://:s3cret@10.0.0.1:6380/3", app.RedisTarget{Mode: app.RedisStandalone, Addrs: []string{"10.0.0.1:6380"}, DB: 3, Password: "s3cret"}},
		{"redis-sentinel://:s3cret@127.0.0.1:26379,127.0.0.2:26380/2?master=mymaster", app.RedisTarget{Mode: app.RedisSentinel,
			Addrs: []string{"127.0.0.1:26379", "127.0.0.2:26380"}, MasterName: "mymaster", DB: 2, SentinelPassword: "s3cret"}},
		{"redis-sentinel://s1,s2:1234?master=m&password=p%40ss&username=app", app.RedisTarget{Mode: app.RedisSentinel,
			Addrs: []string{"s1:26379", "s2:1234"}, MasterName: "m", Username: "app", Password: "p@ss"}},
		{"redis-sentinel://watch:pw@[::1]:26379,[::1]:26380/?master=m", app.RedisTarget{Mode: app.RedisSentinel,
			Addrs: []string{"[::1]:26379", "[::1]:26380"}, MasterName: "m", SentinelUsername: "watch", SentinelPassword: "pw"}},
		{"redis-cluster://:s3cret@n1:7000,n2:7001,n3:7002", app.RedisTarget{Mode: app.RedisCluster,
			Addrs: []string{"n1:7000", "n2:7001", "n3:7002"}, Password: "s3cret"}},
		{"redis-cluster://app:pw@n1/", app.RedisTarget{Mode: app.RedisCluster, Addrs: []string{"n1:6379"}, Username: "app", Password: "pw"}},
		{"REDIS-CLUSTER://n1:7000, n1:7000 ,[fd00::1]/0", app.RedisTarget{Mode: app.RedisCluster, Addrs: []string{"n1:7000", "[fd00::1]:6379"}}},
	}
	for _, c := range ok {
		got, err := app.ParseRedisURL(c.url)
		if err != nil {
			t.Errorf("%s: %v", c.url, err)
			continue
		}
		if got.Mode != c.want.Mode || !reflect.DeepEqual(got.Addrs, c.want.Addrs) || got.MasterName != c.want.MasterName ||
			got.DB != c.want.DB || got.Username != c.want.Username || got.Password != c.want.Password ||
			got.SentinelUsername != c.want.SentinelUsername || got.SentinelPassword != c.want.SentinelPassword {
			t.Errorf("%s:\n got %+v\nwant %+v", c.url, got, c.want)
		}
		if got.AsynqOpt() == nil {
			t.Errorf("%s: no asynq options", c.url)
		}
	}

	bad := []struct{ url, msg string }{
		{"", "not a URL"},
		{"127.0.0.1:6379", "not a URL"},
		{"http://127.0.0.1:6379", `unsupported scheme "http"`},
		{"redis-socket:///tmp/redis.sock", `unsupported scheme "redis-socket"`},
		{"redis://127.0.0.1:6379/x", "invalid database number"},
		{"redis-sentinel://h1:26379/0", "master=NAME is required"},
		{"redis-sentinel://h1:26379/0?master=", "master=NAME is required"},
		{"redis-sentinel:///0?master=m", "no host"},
		{"redis-sentinel://:s3cret@?master=m", "no host"},
		{"redis-sentinel://h1,,h2?master=m", `empty address in "h1,,h2"`},
		{"redis-sentinel://h1:http?master=m", `address "h1:http": port must be 1-65535`},
		{"redis-sentinel://h1:70000?master=m", "port must be 1-65535"},
		{"redis-sentinel://h1:0?master=m", "port must be 1-65535"},
		{"redis-sentinel://:26379?master=m", "bad host"},
		{"redis-sentinel://h1/abc?master=m", `database "abc"`},
		{"redis-sentinel://h1/-1?master=m", `database "-1"`},
		{"redis-sentinel://h1/0/1?master=m", `database "0/1"`},
		{"redis-sentinel://h1?master=m&master=n", `parameter "master" given 2 times`},
		{"redis-sentinel://h1?master=m&sentinel_password=x", `unknown parameter "sentinel_password": a sentinel URL takes master, password, username`},
		{"redis-cluster://h1:7000/1", "database 1: Redis Cluster has only database 0"},
		{"redis-cluster://h1:7000?master=m", `unknown parameter "master": a cluster URL takes none`},
		{"redis-cluster://::1:7000", "IPv6 address in brackets"},
		{"redis-cluster://h1:7000#x", "fragment"},
		{"redis-cluster://:s3cret%zz@h1:7000", "malformed URL"},
		{"redis-cluster://:s3cret@h1:7000/%zz", "malformed URL"},
	}
	for _, c := range bad {
		_, err := app.ParseRedisURL(c.url)
		if err == nil {
			t.Errorf("%q: no error", c.url)
			continue
		}
		if !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%q: error %q, want it to say %q", c.url, err, c.msg)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%q: error %q repeats the password", c.url, err)
		}
	}
}

// TestParseRedisURLStandaloneUnchanged: a single-server URL gives the
// options go-redis and asynq derive from it themselves, as before.
func TestParseRedisURLStandaloneUnchanged(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"redis://127.0.0.1:6379/0", "redis://:pw@127.0.0.1:6390/5?dial_timeout=3s", "rediss://user:pw@cache.internal:6380/1"} {
		target, err := app.ParseRedisURL(u)
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		wantA, err := asynq.ParseRedisURI(u)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(target.AsynqOpt(), wantA) {
			t.Errorf("%s: asynq options %+v, want %+v", u, target.AsynqOpt(), wantA)
		}
		wantR, _ := redis.ParseURL(u)
		rdb := target.Client(1024)
		c, ok := rdb.(*redis.Client)
		if !ok {
			t.Fatalf("%s: client %T, want *redis.Client", u, rdb)
		}
		got := c.Options()
		if got.Addr != wantR.Addr || got.DB != wantR.DB || got.Password != wantR.Password || got.Username != wantR.Username ||
			(wantR.DialTimeout != 0 && got.DialTimeout != wantR.DialTimeout) || (got.TLSConfig == nil) != (wantR.TLSConfig == nil) || got.PoolSize != 1024 {
			t.Errorf("%s: client options %+v, want %+v with pool 1024", u, got, wantR)
		}
		rdb.Close()
	}
}

// TestRedisTargetClients: each form opens the client that follows it —
// a failover client that asks the sentinels for the master, a cluster
// client — and asynq gets the matching options.
func TestRedisTargetClients(t *testing.T) {
	t.Parallel()
	s, err := app.ParseRedisURL("redis-sentinel://:spw@127.0.0.1:1,127.0.0.1:2/4?master=mm&password=mpw")
	if err != nil {
		t.Fatal(err)
	}
	fo, ok := s.AsynqOpt().(asynq.RedisFailoverClientOpt)
	if !ok || fo.MasterName != "mm" || fo.SentinelPassword != "spw" || fo.Password != "mpw" || fo.DB != 4 ||
		!reflect.DeepEqual(fo.SentinelAddrs, []string{"127.0.0.1:1", "127.0.0.1:2"}) {
		t.Errorf("sentinel asynq options %#v", s.AsynqOpt())
	}
	rdb := s.Client(8)
	if c, ok := rdb.(*redis.Client); !ok || c.Options().DB != 4 || c.Options().Password != "mpw" || c.Options().PoolSize != 8 {
		t.Errorf("sentinel client %T", rdb)
	}
	rdb.Close()
	if got := s.String(); got != `master "mm" through sentinels 127.0.0.1:1,127.0.0.1:2` || strings.Contains(got, "pw") {
		t.Errorf("String() = %q", got)
	}

	c, err := app.ParseRedisURL("redis-cluster://:cpw@127.0.0.1:1,127.0.0.1:2")
	if err != nil {
		t.Fatal(err)
	}
	co, ok := c.AsynqOpt().(asynq.RedisClusterClientOpt)
	if !ok || co.Password != "cpw" || !reflect.DeepEqual(co.Addrs, []string{"127.0.0.1:1", "127.0.0.1:2"}) {
		t.Errorf("cluster asynq options %#v", c.AsynqOpt())
	}
	rdb = c.Client(8)
	if cc, ok := rdb.(*redis.ClusterClient); !ok || cc.Options().PoolSize != 8 || cc.Options().Password != "cpw" {
		t.Errorf("cluster client %T", rdb)
	}
	rdb.Close()
}

// TestConnectChecksRedisURLFirst: a malformed REDIS_URL is reported
// before Postgres is even dialed (here it could not be).
func TestConnectChecksRedisURLFirst(t *testing.T) {
	t.Parallel()
	cfg, err := app.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.DatabaseURL = "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=30"
	cfg.RedisURL = "redis-sentinel://127.0.0.1:26379/0"
	_, err = app.Connect(context.Background(), cfg, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "REDIS_URL: master=NAME is required") {
		t.Fatalf("Connect: %v", err)
	}
}

package store

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// listener holds a LISTEN connection for an in-memory cache that must hear
// of every change to what it caches. Announcements carry the changed
// table's schema first (databases holding several Recap schemas, as the
// tests do, announce each to its own listeners), then optionally a space
// and a detail; only this store's schema's are passed on.
type listener struct {
	st *Store
	// name is the connection's application_name, before "/<schema>".
	name     string
	channels []string
	retry    time.Duration
	log      *slog.Logger
	// live is called each time the connection listens (whatever was
	// cached before may have missed an announcement), down each time it
	// is lost, and notify for each announcement of this schema (channel,
	// detail).
	live, down func()
	notify     func(channel, detail string)
}

// run listens until ctx ends, re-opening the connection after a failure.
// ready, if not nil, is closed the first time it listens.
func (l *listener) run(ctx context.Context, ready chan<- struct{}) {
	for ctx.Err() == nil {
		err := l.listen(ctx, ready)
		ready = nil
		l.down()
		if ctx.Err() != nil {
			return
		}
		l.log.Warn(l.name+": listening connection lost; looking up in Postgres until it is back", "err", err)
		t := time.NewTimer(l.retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// listen holds one LISTEN connection until it fails or ctx ends.
func (l *listener) listen(ctx context.Context, ready chan<- struct{}) error {
	conn, err := pgx.ConnectConfig(ctx, l.st.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var schema string
	if err := conn.QueryRow(ctx, `SELECT current_schema(), set_config('application_name', $1 || '/' || current_schema(), false)`, l.name).
		Scan(&schema, nil); err != nil {
		return err
	}
	for _, ch := range l.channels {
		if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{ch}.Sanitize()); err != nil {
			return err
		}
	}
	l.live()
	if ready != nil {
		close(ready)
	}
	for {
		// Wake up now and then to check the connection is still there: a
		// dead peer would otherwise leave the cache serving, deaf.
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			s, detail, _ := strings.Cut(n.Payload, " ")
			if s == schema {
				l.notify(n.Channel, detail)
			}
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return err
			}
		default:
			return err
		}
	}
}

package sqlstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// ListenKeyChanges calls notify each time a key change commits, until ctx
// ends or the listening fails, and returns why; the caller listens again.
// It calls notify once as soon as it listens (changes made while it was
// not listening are then read too).
//
// Changes this process commits are announced on both dialects. On
// PostgreSQL it also holds one dedicated connection LISTENing on the
// pangolin_key_changes channel, which announces the changes of every
// process (core replicas, the admin subcommands). SQLite has no such
// channel: readers poll the log for the changes of other processes.
func (s *Store) ListenKeyChanges(ctx context.Context, notify func()) error {
	stop := s.local.listen(notify)
	defer stop()
	if s.dialect != dialectPostgres {
		notify()
		<-ctx.Done()
		return ctx.Err()
	}
	conn, err := pgx.Connect(ctx, s.url)
	if err != nil {
		return fmt.Errorf("sqlstore: listen: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{keyChangeChannel}.Sanitize()); err != nil {
		return fmt.Errorf("sqlstore: listen: %w", err)
	}
	notify()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("sqlstore: listen: %w", err)
		}
		notify()
	}
}

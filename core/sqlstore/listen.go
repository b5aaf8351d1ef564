package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// ListenKeyChanges calls notify each time another process (a core replica,
// an admin command) commits a key change, as PostgreSQL announces on the
// pangolin_key_changes channel, and once as soon as it listens (changes
// made while it was not listening are then read too). It holds one
// dedicated connection until ctx ends or the connection fails, and returns
// why; the caller reconnects. SQLite has no such channel: it returns
// errors.ErrUnsupported at once and readers keep polling the log.
func (s *Store) ListenKeyChanges(ctx context.Context, notify func()) error {
	if s.dialect != dialectPostgres {
		return errors.ErrUnsupported
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

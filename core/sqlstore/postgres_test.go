package sqlstore

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestPostgresNotifiesKeyChanges checks that a key write announces its log
// entry on the pangolin_key_changes channel, with the seq as payload.
func TestPostgresNotifiesKeyChanges(t *testing.T) {
	url, dir := postgresBackend.newDB(t)
	s := openAt(t, url, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	must(t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "LISTEN "+keyChangeChannel)
	must(t, err)

	mkKey(t, s, "key1", "")
	must(t, s.DeleteAPIKey(ctx, "key1"))
	changes, err := s.KeyChangesAfter(ctx, 0, 0)
	must(t, err)
	if len(changes) != 2 {
		t.Fatalf("logged %+v, want 2 entries", changes)
	}
	for _, c := range changes {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			t.Fatalf("waiting for the notification of seq %d: %v", c.Seq, err)
		}
		if n.Channel != keyChangeChannel || n.Payload != strconv.FormatInt(c.Seq, 10) {
			t.Fatalf("notification %q %q, want %q %d", n.Channel, n.Payload, keyChangeChannel, c.Seq)
		}
	}
}

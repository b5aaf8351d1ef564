package sqlstore

import (
	"context"
	"errors"
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
	must(t, s.DeleteKey(ctx, "key1"))
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

// TestPostgresListenKeyChanges checks the listening side: a store calls
// notify once when it starts listening, then each time another store on the
// same database (another core replica) commits a key change, and returns
// when ctx ends.
func TestPostgresListenKeyChanges(t *testing.T) {
	url, dir := postgresBackend.newDB(t)
	listener := openAt(t, url, dir)
	writer := openAt(t, url, dir) // another replica
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	notified := make(chan struct{}, 16)
	done := make(chan error, 1)
	go func() {
		done <- listener.ListenKeyChanges(ctx, func() { notified <- struct{}{} })
	}()
	wait := func(what string) {
		t.Helper()
		select {
		case <-notified:
		case err := <-done:
			t.Fatalf("ListenKeyChanges returned while waiting for %s: %v", what, err)
		case <-time.After(10 * time.Second):
			t.Fatalf("no notification for %s", what)
		}
	}
	wait("the start of listening")
	mkKey(t, writer, "key1", "")
	wait("a key created by another store")
	must(t, writer.DeleteKey(ctx, "key1"))
	wait("a key deleted by another store")
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("ListenKeyChanges after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ListenKeyChanges did not return after cancel")
	}
}

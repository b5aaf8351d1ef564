package sqlstore

import (
	"bytes"
	"context"
	"database/sql/driver"
	"fmt"
	"io"
	"net"
	neturl "net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// terminateBackends is what an operator (or a failover, or a proxy
// restart) does to the store: every server process serving this database,
// but the one asking, is terminated.
const terminateBackends = `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
	WHERE datname = current_database() AND pid <> pg_backend_pid()`

// killEvery is how often TestPostgresDroppedConnections terminates them,
// each time every connection the store holds (the probe that found the
// 500s dropped a few connections in all). Far enough apart that a call and
// its retries, slow under the race detector on a busy machine, are not all
// caught by successive rounds: two retries cover two drops in a row, not
// a database that keeps dropping every connection.
const killEvery = 400 * time.Millisecond

// TestPostgresDroppedConnections: while another connection terminates the
// store's backends again and again, reads and writes keep running — among
// them revocations (DeleteKey) — and every call succeeds: a dropped
// connection is retried, reads as they are, a write transaction as a whole
// (or, when the connection dropped during its COMMIT, answered from the
// transaction's fate). Every revoked key is gone afterwards. (Before, a
// terminated connection failed the call that was using it: 7 in 1000
// requests answered 500, and a revocation answered 500 without being
// applied.)
//
// go test -run TestPostgresDroppedConnections -v ./core/sqlstore/ prints
// the figures.
func TestPostgresDroppedConnections(t *testing.T) {
	url, dir := postgresBackend.newDB(t)
	s := openAt(t, url, dir)
	ctx := context.Background()
	_, err := s.CreateOrg(ctx, &corev1.Org{OrgId: "acme", Name: "Acme", Subnet: ptr("100.90.128.0/24")})
	must(t, err)
	const revocations = 60
	for i := range revocations {
		mkKey(t, s, fmt.Sprintf("revoke-%03d", i), "acme", "listSites")
	}
	mkKey(t, s, "reader", "acme", "listSites", "getSite")
	site := mkSite(t, s, "acme", "base", nil)

	killer, err := pgx.Connect(ctx, url)
	must(t, err)
	defer killer.Close(ctx)
	stop := make(chan struct{})
	var terminated, rounds atomic.Int64
	var killing sync.WaitGroup
	killing.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(killEvery):
			}
			var n int64
			if err := killer.QueryRow(ctx, terminateBackends).Scan(&n); err != nil {
				t.Errorf("terminating backends: %v", err)
				return
			}
			terminated.Add(n)
			rounds.Add(1)
		}
	})

	var mu sync.Mutex
	failed := map[string][]string{}
	var calls atomic.Int64
	do := func(op string, f func() error) {
		calls.Add(1)
		if err := f(); err != nil {
			mu.Lock()
			failed[op] = append(failed[op], err.Error())
			mu.Unlock()
		}
	}
	reads := map[string]func() error{
		"GetOrg":    func() error { _, err := s.GetOrg(ctx, "acme"); return err },
		"Principal": func() error { _, err := s.Principal(ctx, "reader"); return err },
		"KeyHash":   func() error { _, err := s.KeyHash(ctx, "reader"); return err },
		"ListOrgKeys": func() error {
			_, _, err := s.ListOrgKeys(ctx, "acme", "", nil)
			return err
		},
		"ListSites": func() error { _, _, err := s.ListSites(ctx, "acme", nil); return err },
		"GetSite":   func() error { _, err := s.GetSite(ctx, site.GetSiteId()); return err },
	}
	readNames := slices.Sorted(func(yield func(string) bool) {
		for k := range reads {
			if !yield(k) {
				return
			}
		}
	})

	deadline := time.Now().Add(4 * time.Second)
	var work sync.WaitGroup
	// Readers.
	for w := range 3 {
		work.Go(func() {
			for i := w; time.Now().Before(deadline); i++ {
				op := readNames[i%len(readNames)]
				do(op, reads[op])
			}
		})
	}
	// Writers: sites created, renamed and deleted, actions set, keys created.
	for w := range 2 {
		work.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				niceID := fmt.Sprintf("w%d-%d", w, i)
				var created *corev1.Site
				do("CreateSite", func() error {
					site, err := s.CreateSite(ctx, &corev1.Site{OrgId: "acme", NiceId: niceID, Name: niceID, Type: core.SiteNewt},
						&core.Newt{ID: "newt-" + niceID, SecretHash: "$argon2id$x"})
					if err == nil {
						created = site
					}
					return err
				})
				if created != nil {
					do("UpdateSite", func() error {
						_, err := s.UpdateSite(ctx, &corev1.UpdateSiteRequest{SiteId: created.GetSiteId(), Name: ptr(niceID + "-renamed")})
						return err
					})
					do("DeleteSite", func() error { return s.DeleteSite(ctx, created.GetSiteId()) })
				}
				do("SetKeyActions", func() error {
					return s.SetKeyActions(ctx, "reader", []string{"listSites", "getSite"})
				})
				do("CreateKey", func() error {
					return s.CreateKey(ctx, &corev1.CreatedApiKey{ApiKeyId: "new-" + niceID, Name: niceID, LastChars: "ab12"},
						"$argon2id$x", "acme", []string{"listSites"})
				})
			}
		})
	}
	// Revocations, spread over the run.
	work.Go(func() {
		for i := range revocations {
			do("DeleteKey", func() error { return s.DeleteKey(ctx, fmt.Sprintf("revoke-%03d", i)) })
			time.Sleep(time.Until(deadline) / time.Duration(revocations-i+1))
		}
	})
	work.Wait()
	close(stop)
	killing.Wait()

	nFailed := 0
	var report []string
	for op, errs := range failed {
		nFailed += len(errs)
		report = append(report, fmt.Sprintf("%s: %d (%s)", op, len(errs), errs[0]))
	}
	sort.Strings(report)
	detail := ""
	if len(report) > 0 {
		detail = " (" + strings.Join(report, "; ") + ")"
	}
	t.Logf("%d store calls while %d rounds terminated %d backends: %d failed%s; %d attempts run again, %d commits found committed after the connection dropped",
		calls.Load(), rounds.Load(), terminated.Load(), nFailed, detail, s.writer.retried.Load(), s.writer.committed.Load())
	if terminated.Load() == 0 {
		t.Fatal("no backend was terminated: the test tested nothing")
	}
	if nFailed > 0 {
		t.Errorf("%d of %d calls failed on a dropped connection, want none", nFailed, calls.Load())
	}
	for i := range revocations {
		id := fmt.Sprintf("revoke-%03d", i)
		if _, err := s.Principal(ctx, id); core.ErrorCode(err) != core.CodeNotFound {
			t.Errorf("revoked key %s: Principal = %v, want not found", id, err)
		}
	}
}

// cutProxy forwards TCP connections to a PostgreSQL server and, once armed,
// cuts the connection that sends a COMMIT: before passing it on (the
// transaction cannot commit), or after the server got it (it committed,
// but the client never hears so).
type cutProxy struct {
	addr   string
	target string
	mu     sync.Mutex
	armed  string // "", "before" or "after"
	cuts   int
}

func startCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	t.Cleanup(func() { l.Close() })
	p := &cutProxy{addr: l.Addr().String(), target: target}
	go func() {
		for {
			client, err := l.Accept()
			if err != nil {
				return
			}
			go p.serve(client)
		}
	}()
	return p
}

func (p *cutProxy) arm(when string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed = when
}

func (p *cutProxy) serve(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	var mute atomic.Bool // drop what the server answers
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := server.Read(buf)
			if n > 0 && !mute.Load() {
				if _, err := client.Write(buf[:n]); err != nil {
					return
				}
			}
			if err != nil {
				client.Close()
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := client.Read(buf)
		if err != nil {
			return
		}
		chunk := buf[:n]
		// A simple-protocol COMMIT: 'Q', length, "commit\x00".
		if i := bytes.Index(chunk, []byte("commit\x00")); i >= 5 && chunk[i-5] == 'Q' {
			p.mu.Lock()
			when := p.armed
			if when != "" {
				p.armed = ""
				p.cuts++
			}
			p.mu.Unlock()
			switch when {
			case "before":
				return // the server sees the client go, mid-transaction
			case "after":
				mute.Store(true)
				server.Write(chunk)
				time.Sleep(200 * time.Millisecond) // the server commits
				return
			}
		}
		if _, err := server.Write(chunk); err != nil {
			return
		}
	}
}

// TestPostgresCommitCutOff: when the connection drops while COMMIT is
// under way, the transaction may or may not have committed. The store asks
// the server (txid_status) instead of guessing: committed → the call
// succeeds, once; aborted → the transaction runs again. Either way the
// revocation answers success and is applied exactly once. (Failing the call
// answered 500 for a revocation that had been applied; running it again
// blindly would answer 404.)
func TestPostgresCommitCutOff(t *testing.T) {
	url, dir := postgresBackend.newDB(t)
	u, err := neturl.Parse(url)
	must(t, err)
	proxy := startCutProxy(t, u.Host)
	u.Host = proxy.addr
	s := openAt(t, u.String(), dir)
	ctx := context.Background()
	for _, when := range []string{"before", "after"} {
		t.Run("cut "+when+" the server got COMMIT", func(t *testing.T) {
			id := "key-" + when
			mkKey(t, s, id, "")
			changes, err := s.KeyChangesAfter(ctx, 0, 0)
			must(t, err)
			retried, committed := s.writer.retried.Load(), s.writer.committed.Load()
			proxy.arm(when)
			if err := s.DeleteKey(ctx, id); err != nil {
				t.Fatalf("DeleteKey with the connection cut %s COMMIT: %v", when, err)
			}
			if proxy.cuts == 0 {
				t.Fatal("the proxy cut nothing: the test tested nothing")
			}
			proxy.cuts = 0
			if _, err := s.Principal(ctx, id); core.ErrorCode(err) != core.CodeNotFound {
				t.Fatalf("the revoked key: %v, want not found", err)
			}
			after, err := s.KeyChangesAfter(ctx, 0, 0)
			must(t, err)
			if len(after) != len(changes)+1 {
				t.Fatalf("%d key changes logged by one revocation, want 1", len(after)-len(changes))
			}
			wantRetried, wantCommitted := int64(1), int64(0) // aborted: run again
			if when == "after" {
				wantRetried, wantCommitted = 0, 1 // committed: not again
			}
			if r, c := s.writer.retried.Load()-retried, s.writer.committed.Load()-committed; r != wantRetried || c != wantCommitted {
				t.Fatalf("run again %d times, found committed %d times; want %d, %d", r, c, wantRetried, wantCommitted)
			}
		})
	}
}

// Which errors count as a dropped connection, and so are retried.
func TestConnLost(t *testing.T) {
	for err, want := range map[error]bool{
		&pgconn.PgError{Code: "57P01"}:                                true, // pg_terminate_backend
		&pgconn.PgError{Code: "57P02"}:                                true, // crash shutdown
		&pgconn.PgError{Code: "08006"}:                                true, // connection failure
		fmt.Errorf("create site: %w", &pgconn.PgError{Code: "57P01"}): true,
		driver.ErrBadConn:                                             true,
		io.ErrUnexpectedEOF:                                           true,
		&net.OpError{Op: "read", Err: io.EOF}:                         true,
		&pgconn.PgError{Code: "23505"}:                                false, // unique violation
		&pgconn.PgError{Code: "40001"}:                                false, // serialization failure
		&pgconn.PgError{Code: "57014"}:                                false, // statement cancelled
		core.Errorf(core.CodeNotFound, "x"):                           false,
		context.Canceled:                                              false,
		context.DeadlineExceeded:                                      false,
	} {
		if got := dialectPostgres.connLost(err); got != want {
			t.Errorf("postgres: connLost(%v) = %v, want %v", err, got, want)
		}
		if dialectSQLite.connLost(err) {
			t.Errorf("sqlite: connLost(%v) = true: SQLite has no connection to lose", err)
		}
	}
}

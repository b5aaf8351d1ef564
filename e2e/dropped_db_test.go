package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"pangolin-gateway/internal/testenv"
)

// TestDroppedDatabaseConnections: a pangolin-core process on PostgreSQL
// behind a gateway serves a steady load of reads and writes (about 100
// requests a second, keys revoked among them) while another connection
// terminates every backend of the core's database, again and again. No
// answer is a 5xx, and every revoked key is refused afterwards. (Before, 7
// of 1000 requests at 50 a second answered 500 when connections were
// terminated, and a revocation answered 500 without being applied.)
//
// go test -run TestDroppedDatabaseConnections -v ./e2e/ prints the figures.
func TestDroppedDatabaseConnections(t *testing.T) {
	databaseURL := testenv.PostgresURL(t)
	c := startCore(t, databaseURL, "PGW_LOG__LEVEL=info")
	root := c.createRootKey(t, "root")
	gw := startGateway(t, c.addr, "", "PGW_LOG__LEVEL=info")
	call(t, "PUT", gw.url+"/v1/org", root, map[string]string{"orgId": "acme", "name": "Acme", "subnet": "100.90.128.0/24"}).
		want(t, http.StatusCreated, "")
	workerID, worker := createOrgKey(t, gw.url, root, "acme", "worker")
	call(t, "POST", gw.url+"/v1/org/acme/api-key/"+workerID+"/actions", root, map[string]any{
		"actionIds": []string{"listSites", "createSite", "getSite", "updateSite", "deleteSite"},
	}).want(t, http.StatusOK, "")
	const revocations = 10
	var revoke [revocations][2]string // id, token
	for i := range revoke {
		id, token := createOrgKey(t, gw.url, root, "acme", "revoke-"+strconv.Itoa(i))
		revoke[i] = [2]string{id, token}
	}
	eventually(t, "the worker's actions", func() bool {
		return call(t, "GET", gw.url+"/v1/org/acme/sites", worker, nil).status == http.StatusOK
	})

	ctx := context.Background()
	killer, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer killer.Close(ctx)
	stop := make(chan struct{})
	var terminated atomic.Int64
	var killing sync.WaitGroup
	killing.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(400 * time.Millisecond): // see killEvery in core/sqlstore
			}
			var n int64
			if err := killer.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&n); err != nil {
				t.Errorf("terminating backends: %v", err)
				return
			}
			terminated.Add(n)
		}
	})

	var mu sync.Mutex
	answers := map[string]int{}
	record := func(what string, status int, msg string, want int) {
		mu.Lock()
		defer mu.Unlock()
		key := "ok"
		if status != want {
			key = fmt.Sprintf("%s: %d %s", what, status, msg)
		}
		answers[key]++
	}
	client := floodClient()
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	var work sync.WaitGroup
	// Eight workers, each a request every 80 ms: about 100 a second.
	for w := range 8 {
		work.Go(func() {
			tick := time.NewTicker(80 * time.Millisecond)
			defer tick.Stop()
			for i := 0; time.Now().Before(deadline); i++ {
				<-tick.C
				switch i % 4 {
				case 0, 1:
					status, msg := try(client, "GET", gw.url+"/v1/org/acme/sites", worker, nil)
					record("list sites", status, msg, http.StatusOK)
				case 2:
					name := fmt.Sprintf("w%d-%d", w, i)
					status, msg := try(client, "PUT", gw.url+"/v1/org/acme/site", worker, map[string]any{"name": name, "type": "local"})
					record("create site", status, msg, http.StatusCreated)
				case 3:
					status, msg := try(client, "GET", gw.url+"/v1/org/acme/api-keys", root, nil)
					record("list keys", status, msg, http.StatusOK)
				}
			}
		})
	}
	// Revocations, spread over the run.
	work.Go(func() {
		for i, k := range revoke {
			time.Sleep(time.Until(deadline) / time.Duration(revocations-i+1))
			status, msg := try(client, "DELETE", gw.url+"/v1/org/acme/api-key/"+k[0], root, nil)
			record("revoke", status, msg, http.StatusOK)
		}
	})
	work.Wait()
	close(stop)
	killing.Wait()

	total, failed := 0, []string{}
	for k, n := range answers {
		total += n
		if k != "ok" {
			failed = append(failed, fmt.Sprintf("%d× %s", n, k))
		}
	}
	sort.Strings(failed)
	t.Logf("%d requests while %d backends of the core's database were terminated: %d not answered as expected %v",
		total, terminated.Load(), total-answers["ok"], failed)
	if terminated.Load() == 0 {
		t.Fatal("no backend was terminated: the test tested nothing")
	}
	if len(failed) > 0 {
		t.Errorf("answers other than the expected: %v", failed)
	}
	for _, k := range revoke {
		eventually(t, "revoked key "+k[0]+" refused", func() bool {
			status, _ := try(client, "GET", gw.url+"/v1/org/acme/sites", k[1], nil)
			return status == http.StatusUnauthorized
		})
	}
}

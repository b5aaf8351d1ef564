package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"pangolin-gateway/core"
	"pangolin-gateway/internal/testenv"
)

// createFlood is how many newt sites one org key creates at once in
// TestCreateFloodMemory: the probe that took the core to 2 GB used 80–100.
const createFlood = 100

// hashFloodPeakMiB is the most memory (peak RSS) the core may use while
// createFlood newt sites are created at once, with slots hashing slots (the
// README states it): a base for the process and its stores, plus room for
// each running argon2id (19 MiB) and the garbage the GC has not yet
// collected of the ones before.
func hashFloodPeakMiB(slots int) int { return 128 + 40*slots }

// TestCreateFloodMemory: an org key holding createSite sends createFlood
// newt site creations at once, through a gateway, to a pangolin-core
// process; each needs an argon2id hash of the newt secret. The core's peak
// RSS (VmHWM) stays under hashFloodPeakMiB, every creation answers 201 or
// 429 in the envelope, and meanwhile another tenant's reads are all served.
// (Before, every hash ran at once: the core went from 90 MB to 2 GB on
// SQLite and 1.55 GB on PostgreSQL.)
//
// go test -run TestCreateFloodMemory -v ./e2e/ prints the figures.
func TestCreateFloodMemory(t *testing.T) {
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			url := ""
			if store == "postgres" {
				url = testenv.PostgresURL(t)
			}
			createFloodMemory(t, url)
		})
	}
}

func createFloodMemory(t *testing.T, databaseURL string) {
	c := startCore(t, databaseURL, "PGW_LOG__LEVEL=info")
	root := c.createRootKey(t, "root")
	gw := startGateway(t, c.addr, "", "PGW_LOG__LEVEL=info")
	for _, org := range []map[string]string{
		{"orgId": "acme", "name": "Acme", "subnet": "100.90.128.0/24"},
		{"orgId": "globex", "name": "Globex", "subnet": "100.90.129.0/24"},
	} {
		call(t, "PUT", gw.url+"/v1/org", root, org).want(t, http.StatusCreated, "")
	}
	acmeID, acme := createOrgKey(t, gw.url, root, "acme", "automation")
	call(t, "POST", gw.url+"/v1/org/acme/api-key/"+acmeID+"/actions", root,
		map[string]any{"actionIds": []string{"createSite"}}).want(t, http.StatusOK, "")
	globexID, globex := createOrgKey(t, gw.url, root, "globex", "dashboard")
	call(t, "POST", gw.url+"/v1/org/globex/api-key/"+globexID+"/actions", root,
		map[string]any{"actionIds": []string{"listSites"}}).want(t, http.StatusOK, "")
	eventually(t, "the keys' actions", func() bool {
		return call(t, "GET", gw.url+"/v1/org/globex/sites", globex, nil).status == http.StatusOK &&
			call(t, "PUT", gw.url+"/v1/org/acme/site", acme, map[string]any{"name": "warm-up", "type": "newt"}).status == http.StatusCreated
	})
	before := procStatusKiB(t, c.cmd.Process.Pid, "VmRSS")

	// The other tenant reads in a loop until the flood is over.
	done := make(chan struct{})
	var reads []time.Duration
	var readErrs []string
	var readers sync.WaitGroup
	readers.Go(func() {
		client := &http.Client{}
		for {
			select {
			case <-done:
				return
			default:
			}
			start := time.Now()
			status, msg := try(client, "GET", gw.url+"/v1/org/globex/sites", globex, nil)
			reads = append(reads, time.Since(start))
			if status != http.StatusOK {
				readErrs = append(readErrs, fmt.Sprintf("%d %s", status, msg))
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	client := floodClient()
	defer client.CloseIdleConnections()
	start := make(chan struct{})
	answers := make([]string, createFlood)
	var wg sync.WaitGroup
	for i := range createFlood {
		wg.Go(func() {
			<-start
			status, msg := try(client, "PUT", gw.url+"/v1/org/acme/site", acme,
				map[string]any{"name": "edge-" + strconv.Itoa(i), "type": "newt"})
			answers[i] = strconv.Itoa(status) + " " + msg
		})
	}
	began := time.Now()
	close(start)
	wg.Wait()
	took := time.Since(began)
	close(done)
	readers.Wait()
	peak := procStatusKiB(t, c.cmd.Process.Pid, "VmHWM")

	counts := map[string]int{}
	for _, a := range answers {
		counts[a]++
	}
	created := counts["201 Site created successfully"]
	if busy := counts["429 Too many concurrent requests, retry later"]; created == 0 || created+busy != createFlood {
		t.Errorf("answers to %d parallel creations: %v; want 201 or 429, some 201", createFlood, counts)
	}
	if len(readErrs) > 0 || len(reads) == 0 {
		t.Errorf("another tenant's reads during the flood: %d, failed: %v", len(reads), readErrs)
	}
	slots := core.DefaultHashConcurrency()
	bound := hashFloodPeakMiB(slots)
	slices.Sort(reads)
	t.Logf("%s: %d parallel newt creations in %v (%v); core RSS %d MiB before, peak %d MiB (bound %d MiB, %d hashing slots); "+
		"other tenant: %d reads, median %v, max %v",
		storeName(databaseURL), createFlood, took.Round(time.Millisecond), counts, before>>10, peak>>10, bound, slots,
		len(reads), reads[len(reads)/2].Round(time.Millisecond), reads[len(reads)-1].Round(time.Millisecond))
	if peak>>10 >= bound {
		t.Errorf("core peak RSS %d MiB under %d parallel creations, want under %d MiB", peak>>10, createFlood, bound)
	}
}

// try sends a request with key and a JSON body (nil: none) and returns the
// status and the envelope's message; a transport error or an answer that
// is not the envelope comes back as status 0 and the error. It does not
// fail the test, so goroutines may call it.
func try(client *http.Client, method, url, key string, body any) (int, string) {
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			return 0, err.Error()
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, err.Error()
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, err.Error()
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil || env.Status != res.StatusCode {
		return 0, fmt.Sprintf("%d, not the envelope: %s", res.StatusCode, raw)
	}
	return res.StatusCode, env.Message
}

func storeName(databaseURL string) string {
	if databaseURL == "" {
		return "SQLite"
	}
	return "PostgreSQL"
}

// procStatusKiB reads a kB field (VmRSS, VmHWM) of /proc/<pid>/status.
func procStatusKiB(t *testing.T, pid int, field string) int {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("skipping: no /proc to read the core's memory from: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatalf("%s: %q: %v", field, v, err)
			}
			return n
		}
	}
	t.Fatalf("/proc/%d/status has no %s", pid, field)
	return 0
}

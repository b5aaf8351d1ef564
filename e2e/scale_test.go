package e2e

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"pangolin-gateway/internal/testenv"
)

// coresName is the DNS name of the core replicas in these tests, answered
// by a DNS server the test runs (this host's localhost has one address).
const coresName = "cores.pgw.test."

// startDNS serves A records for name (the given IPv4 addresses) on a UDP
// loopback port until the test ends, and answers anything else (AAAA, the
// gRPC service config TXT lookup) with no records. It returns host:port.
func startDNS(t testing.TB, name string, ips ...string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			rcode := dnsmessage.RCodeNameError
			if strings.EqualFold(q.Name.String(), name) {
				rcode = dnsmessage.RCodeSuccess
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, RCode: rcode})
			b.EnableCompression()
			b.StartQuestions()
			b.Question(q)
			b.StartAnswers()
			if rcode == dnsmessage.RCodeSuccess && q.Type == dnsmessage.TypeA {
				for _, ip := range ips {
					var a [4]byte
					copy(a[:], net.ParseIP(ip).To4())
					b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 1}, dnsmessage.AResource{A: a})
				}
			}
			if msg, err := b.Finish(); err == nil {
				pc.WriteTo(msg, addr)
			}
		}
	}()
	return pc.LocalAddr().String()
}

// sharedPort is a port free on every one of the loopback addresses.
func sharedPort(t testing.TB, ips ...string) int {
	t.Helper()
	for range 50 {
		port := freePort(t)
		ok := true
		for _, ip := range ips {
			l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return port
		}
	}
	t.Fatalf("no port free on all of %v", ips)
	return 0
}

// TestCoreReplicas runs two core processes on one PostgreSQL, at
// 127.0.0.1:P and 127.0.0.2:P, behind one DNS name; a gateway dialing
// dns://…/name:P balances its calls over both (the cores' call logs say
// so), and keeps answering when one core stops.
func TestCoreReplicas(t *testing.T) {
	databaseURL := testenv.PostgresURL(t)
	port := strconv.Itoa(sharedPort(t, "127.0.0.1", "127.0.0.2"))
	coreA := startCoreAt(t, "127.0.0.1:"+port, databaseURL)
	coreB := startCoreAt(t, "127.0.0.2:"+port, databaseURL)
	dns := startDNS(t, coresName, "127.0.0.1", "127.0.0.2")
	root := coreA.createRootKey(t, "replicas-root")
	gw := startGateway(t, "dns://"+dns+"/"+strings.TrimSuffix(coresName, ".")+":"+port, "")

	calls := func(c *coreProc) int { return c.lines(`msg="core: call"`, "ListOrgs", "code=OK") }
	for range 20 {
		call(t, "GET", gw.url+"/v1/orgs", root, nil).want(t, http.StatusOK, "")
	}
	// A core logs a call after answering it: allow a moment.
	waitFor(t, coreB.proc, "the cores' call logs", func() bool { return calls(coreA)+calls(coreB) >= 20 })
	a, b := calls(coreA), calls(coreB)
	if a == 0 || b == 0 || a+b != 20 {
		t.Fatalf("20 calls reached core A %d times and core B %d times: want both, 20 in all", a, b)
	}
	t.Logf("round robin: core A served %d calls, core B %d", a, b)

	coreA.stop(t)
	for range 20 {
		call(t, "GET", gw.url+"/v1/orgs", root, nil).want(t, http.StatusOK, "")
	}
	waitFor(t, coreB.proc, "core B's call log", func() bool { return calls(coreB)-b >= 20 })
	if n := calls(coreB) - b; n != 20 {
		t.Fatalf("with core A stopped, core B served %d of 20 calls", n)
	}
}

// TestKeyChangesReachEveryCore has two core replicas on one PostgreSQL that
// poll the key change log only once an hour, and a gateway on each. A key
// deleted through the gateway on core A, or revoked with the admin command
// (neither core wrote it), is refused by the gateway on core B within a
// second: PostgreSQL's NOTIFY woke core B, which told its gateway.
func TestKeyChangesReachEveryCore(t *testing.T) {
	databaseURL := testenv.PostgresURL(t)
	slowPoll := "PGW_CORE__CHANGE_POLL_INTERVAL=1h"
	coreA := startCore(t, databaseURL, slowPoll)
	coreB := startCore(t, databaseURL, slowPoll)
	root := coreA.createRootKey(t, "listen-root")
	// No Redis: each gateway's cache is its own, so only the change event
	// can make gateway B forget a key.
	gwA := startGateway(t, coreA.addr, "")
	gwB := startGateway(t, coreB.addr, "")

	call(t, "PUT", gwA.url+"/v1/org", root, map[string]string{"orgId": "acme", "name": "Acme", "subnet": "100.90.128.0/24"}).
		want(t, http.StatusCreated, "Organization created")
	orgKeyID, orgKey := createOrgKey(t, gwA.url, root, "acme", "listen")
	call(t, "POST", gwA.url+"/v1/org/acme/api-key/"+orgKeyID+"/actions", root,
		map[string]any{"actionIds": []string{"getOrg"}}).want(t, http.StatusOK, "")

	// The probe never reaches the core, which checks the calling key on
	// every call itself: an unknown query parameter is refused (400) after
	// authentication, so the answer is the gateway's cache alone: 400 while
	// it honours the key, 401 once it has forgotten it.
	probe := func(key string) reply { return call(t, "GET", gwB.url+"/v1/org/acme?probe=1", key, nil) }
	refusedWithin := func(key, what string) {
		t.Helper()
		start := time.Now()
		for probe(key).status != http.StatusUnauthorized {
			if time.Since(start) > revocationDeadline {
				t.Fatalf("%s: gateway B (on core B) still accepts the key after %v", what, revocationDeadline)
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("%s: gateway B refused the key after %v", what, time.Since(start).Round(time.Millisecond))
	}

	// Deleted through core A.
	call(t, "GET", gwB.url+"/v1/org/acme", orgKey, nil).want(t, http.StatusOK, "") // cached on B
	probe(orgKey).want(t, http.StatusBadRequest, "probe")
	call(t, "DELETE", gwA.url+"/v1/org/acme/api-key/"+orgKeyID, root, nil).want(t, http.StatusOK, "")
	refusedWithin(orgKey, "deleted through core A")

	// Revoked by the admin command, straight in the database.
	other := coreA.createRootKey(t, "listen-other")
	call(t, "GET", gwB.url+"/v1/org/acme", other, nil).want(t, http.StatusOK, "")
	probe(other).want(t, http.StatusBadRequest, "probe")
	id, _, _ := strings.Cut(other, ".")
	if err := coreA.admin(t, "keys", "revoke", id); err != nil {
		t.Fatal(err)
	}
	refusedWithin(other, "revoked with pangolin-core keys revoke")
}

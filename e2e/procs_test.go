package e2e

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The binaries under test, built once per test run by TestMain.
var bin struct {
	dir                  string
	core, gate, embedded string
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pgw-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin.dir = dir
	bin.core = filepath.Join(dir, "pangolin-core")
	bin.gate = filepath.Join(dir, "pangolin-gateway")
	bin.embedded = filepath.Join(dir, "pangolin")
	build := exec.Command("go", "build", "-o", dir+string(os.PathSeparator), "../cmd/pangolin-core", "../cmd/pangolin-gateway", "../cmd/pangolin")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building the binaries:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running binary whose output is kept for failure reports.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs path with env (on top of a minimal environment) until the test
// ends; its output is logged if the test fails.
func start(t testing.TB, name, path string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(path, args...), out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("--- output of %s ---\n%s", name, p.out.String())
		}
	})
	return p
}

// stop sends SIGTERM (graceful drain) and waits; SIGKILL after 20s.
func (p *proc) stop(t testing.TB) {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Errorf("%s did not stop on SIGTERM; killing it", p.name)
		p.cmd.Process.Kill()
		<-p.done
	}
}

// freePort returns a loopback port nobody listens on right now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitFor polls cond until it holds or the process dies or 30s pass.
func waitFor(t testing.TB, p *proc, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		select {
		case <-p.done:
			t.Fatalf("%s exited while waiting for %s", p.name, what)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

const testCoreToken = "e2e-core-token-0123456789abcdef0123456789"

// coreProc is a pangolin-core process and how to reach it.
type coreProc struct {
	*proc
	addr string
	env  []string
}

// startCore runs pangolin-core on the given database URL ("" = SQLite in a
// temp dir), plus any extra env.
func startCore(t testing.TB, databaseURL string, extra ...string) *coreProc {
	t.Helper()
	return startCoreAt(t, "127.0.0.1:"+strconv.Itoa(freePort(t)), databaseURL, extra...)
}

// startCoreAt is startCore listening on addr.
func startCoreAt(t testing.TB, addr, databaseURL string, extra ...string) *coreProc {
	t.Helper()
	env := append([]string{
		"PGW_CORE__LISTEN_ADDRESS=" + addr,
		"PGW_CORE__TOKEN=" + testCoreToken,
		"PGW_DATABASE__URL=" + databaseURL,
		"PGW_DATABASE__DATA_DIR=" + t.TempDir(),
		"PGW_LOG__LEVEL=debug",
	}, extra...)
	c := &coreProc{proc: start(t, "pangolin-core "+addr, bin.core, env), addr: addr, env: env}
	waitFor(t, c.proc, "the core to serve gRPC", func() bool {
		return strings.Contains(c.out.String(), "core: serving gRPC")
	})
	if strings.HasPrefix(addr, "127.0.0.1:") {
		// The health subcommand asks 127.0.0.1:<port>.
		waitFor(t, c.proc, "the core's health check", func() bool {
			return c.admin(t, "healthcheck") == nil
		})
	}
	return c
}

// admin runs a pangolin-core subcommand against the core's database.
func (c *coreProc) admin(t testing.TB, args ...string) error {
	t.Helper()
	cmd := exec.Command(bin.core, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, c.env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pangolin-core %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

var rootKeyLine = regexp.MustCompile(`Key \(shown once\): ([a-z0-9]{15}\.[a-z2-7]{40})`)

// createRootKey runs `pangolin-core keys create-root` and returns the key.
func (c *coreProc) createRootKey(t testing.TB, name string) string {
	t.Helper()
	cmd := exec.Command(bin.core, "keys", "create-root", "--name", name)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, c.env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("keys create-root: %v: %s", err, out)
	}
	m := rootKeyLine.FindSubmatch(out)
	if m == nil {
		t.Fatalf("keys create-root printed no key: %s", out)
	}
	return string(m[1])
}

// gatewayProc is a pangolin-gateway process.
type gatewayProc struct {
	*proc
	url  string
	port int
}

// startGateway runs a gateway replica against coreAddr, with Redis at
// redisURL ("" = in-process cache only), plus any extra env (later entries
// win). It stops without a drain delay unless extra sets one.
func startGateway(t testing.TB, coreAddr, redisURL string, extra ...string) *gatewayProc {
	t.Helper()
	port := freePort(t)
	env := append([]string{
		"PGW_SERVER__SHUTDOWN_DELAY=0s",
		"PGW_FLAGS__ENABLE_INTEGRATION_API=true",
		"PGW_SERVER__INTEGRATION_PORT=" + strconv.Itoa(port),
		"PGW_SERVER__HOST=127.0.0.1",
		"PGW_SERVER__SECRET=e2e-server-secret-0123456789abcdef0123",
		"PGW_CORE__ADDRESS=" + coreAddr,
		"PGW_CORE__TOKEN=" + testCoreToken,
		"PGW_REDIS__URL=" + redisURL,
		"PGW_LOG__LEVEL=debug",
	}, extra...)
	g := &gatewayProc{proc: start(t, "pangolin-gateway :"+strconv.Itoa(port), bin.gate, env), url: "http://127.0.0.1:" + strconv.Itoa(port), port: port}
	waitFor(t, g.proc, "the gateway's health route", func() bool {
		res, err := http.Get(g.url + "/v1/")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	// Ready means subscribed to key changes too: ask the gateway's logs.
	waitFor(t, g.proc, "the gateway's key change stream", func() bool {
		return strings.Contains(g.out.String(), "key change stream open")
	})
	return g
}

// lines counts the lines of p's output containing every one of subs.
func (p *proc) lines(subs ...string) int {
	n := 0
	for _, l := range strings.Split(p.out.String(), "\n") {
		all := true
		for _, s := range subs {
			all = all && strings.Contains(l, s)
		}
		if all {
			n++
		}
	}
	return n
}

// exited reports whether p has exited, and whether with status 0.
func (p *proc) exited() (exited, ok bool) {
	select {
	case <-p.done:
		return true, p.cmd.ProcessState.Success()
	default:
		return false, false
	}
}

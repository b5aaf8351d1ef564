package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"pangolin-gateway/internal/testenv"
)

// chromium is the headless browser's binary ($CHROME_BIN, else the first
// of Debian's and others' names on PATH). Missing: skip, or fail under
// CI=true (.ci/run installs Debian's chromium).
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROME_BIN"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testenv.Unavailable(t, "no Chromium on PATH (apt-get install chromium, or set CHROME_BIN)")
	return ""
}

// TestSwaggerUIInABrowser does what a new user does first, in headless
// Chromium: start `make run` on an empty data dir, open /v1/docs/, paste
// the root key exactly as printed into Authorize, and Try it out on GET
// /orgs and PUT /org with the examples the page fills in. Both must
// succeed (200, then 201 with the envelope) on the first Execute, the page
// must load nothing from another origin, and the key must not be stored in
// the browser. With SCREENSHOT_DIR set, it saves what the page showed.
func TestSwaggerUIInABrowser(t *testing.T) {
	chrome := chromium(t)

	// A fresh `make run`.
	port := strconv.Itoa(freePort(t))
	env := []string{"PGW_SERVER__INTEGRATION_PORT=" + port, "PGW_SERVER__HOST=127.0.0.1", "PGW_DATABASE__DATA_DIR=" + t.TempDir()}
	run := start(t, "pangolin", bin.embedded, env)
	keyLine := regexp.MustCompile(`(?m)^Root API key \(shown once\): (\S+)$`)
	base := "http://127.0.0.1:" + port
	waitFor(t, run, "the root key", func() bool { return keyLine.MatchString(run.out.String()) })
	key := keyLine.FindStringSubmatch(run.out.String())[1]
	waitFor(t, run, "the API", func() bool { return strings.Contains(run.out.String(), "API docs: ") })

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		// Without these Chromium reaches for Google's services, and this
		// machine's closed network refuses its connections.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 1800),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	// Every request the page makes, to check none leaves the server.
	var (
		mu       sync.Mutex
		requests []string
	)
	ctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf), chromedp.WithListener(func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requests = append(requests, e.Request.URL)
			mu.Unlock()
		}
	}))
	defer cancelBrowser()
	// The browser lives as long as the context of the first Run: no
	// timeout on it (the steps below have theirs).
	must(t, "start Chromium", chromedp.Do(ctx))
	step := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		must(t, what, chromedp.Do(sctx, steps...))
	}
	text := func(sel string, into *string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) (err error) {
			*into, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
			return err
		})
	}
	shots := os.Getenv("SCREENSHOT_DIR")
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			if shots == "" {
				return nil
			}
			png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644)
		})
	}

	var title, heading string
	step("open /v1/docs/",
		chromedp.Navigate(base+"/v1/docs/"),
		chromedp.WaitVisible(chromedp.CSS(`.swagger-ui .info .title`)),
		chromedp.WaitVisible(chromedp.CSS(`#operations-Organization-listOrgs`)),
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) (err error) {
			title, err = chromedp.Run(ctx, chromedp.Title())
			return err
		}),
		text(`.swagger-ui .info .title`, &heading),
		shot("1-loaded"),
	)
	if title != "Pangolin Integration API" || !strings.Contains(heading, "Pangolin Integration API") || !strings.Contains(heading, "OAS3") {
		t.Fatalf("page title %q, heading %q: want Pangolin Integration API, from the OpenAPI 3 spec", title, heading)
	}

	// Authorize with the key as printed: no "Bearer ".
	var stored string
	step("authorize",
		chromedp.Click(chromedp.CSS(`.swagger-ui .auth-wrapper .authorize`)),
		chromedp.WaitVisible(chromedp.CSS(`input[aria-label="auth-bearer-value"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[aria-label="auth-bearer-value"]`), key),
		shot("2-authorize-dialog"),
		chromedp.Click(chromedp.CSS(`.modal-ux button.modal-btn.auth.authorize`)),
		chromedp.WaitVisible(chromedp.CSS(`.modal-ux button.modal-btn.auth.btn-done`)),
		shot("3-authorized"),
		chromedp.Click(chromedp.CSS(`.modal-ux button.modal-btn.auth.btn-done`)),
		chromedp.WaitNotPresent(chromedp.CSS(`.modal-ux`)),
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) (err error) {
			stored, err = chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(Object.assign({}, window.localStorage))`))
			return err
		}),
	)
	if strings.Contains(stored, key[:15]) || strings.Contains(stored, "authorized") {
		t.Fatalf("the key is kept in the browser's localStorage: %s", stored)
	}

	// Try it out: the page's own values, one Execute each.
	execute := func(opID, name string) (status, body, curl string) {
		t.Helper()
		op := `#operations-Organization-` + opID
		step("execute "+opID,
			chromedp.Click(chromedp.CSS(op+` .opblock-summary`)),
			chromedp.WaitVisible(chromedp.CSS(op+` .try-out__btn`)),
			chromedp.Click(chromedp.CSS(op+` .try-out__btn`)),
			chromedp.WaitVisible(chromedp.CSS(op+` .execute`)),
			chromedp.Click(chromedp.CSS(op+` .execute`)),
			chromedp.WaitVisible(chromedp.CSS(op+` .live-responses-table .response .response-col_status`)),
			chromedp.ScrollIntoView(chromedp.CSS(op+` .live-responses-table`)),
			text(op+` .live-responses-table .response .response-col_status`, &status),
			text(op+` .live-responses-table .response .response-col_description pre`, &body),
			text(op+` .curl-command pre`, &curl),
			shot(name),
		)
		return strings.TrimSpace(status), body, curl
	}
	status, body, curl := execute("listOrgs", "4-get-orgs")
	if status != "200" || !strings.Contains(body, `"success": true`) || !strings.Contains(body, `"orgs": []`) ||
		!strings.Contains(body, `"message": "Organizations retrieved successfully"`) {
		t.Fatalf("GET /orgs from the page: %s %s", status, body)
	}
	if !strings.Contains(curl, "Authorization: Bearer "+key) {
		t.Fatalf("the page did not send the key as a bearer token: %s", curl)
	}
	status, body, _ = execute("createOrg", "5-put-org")
	if status != "201" || !strings.Contains(body, `"success": true`) || !strings.Contains(body, `"status": 201`) ||
		!strings.Contains(body, `"message": "Organization created successfully"`) || !strings.Contains(body, `"orgId": "acme"`) {
		t.Fatalf("PUT /org from the page: %s %s", status, body)
	}

	mu.Lock()
	defer mu.Unlock()
	for _, u := range requests {
		if !strings.HasPrefix(u, base+"/") && !strings.HasPrefix(u, "data:") {
			t.Errorf("the page loaded %s: not from the server", u)
		}
	}
	if len(requests) == 0 {
		t.Error("no request of the page was seen")
	}
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

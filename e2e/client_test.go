package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// envelope is Pangolin's answer shape, with data left raw.
type envelope struct {
	Data    json.RawMessage `json:"data"`
	Success bool            `json:"success"`
	Error   bool            `json:"error"`
	Message string          `json:"message"`
	Status  int             `json:"status"`
}

// reply is one HTTP answer.
type reply struct {
	status int
	env    envelope
	body   []byte
	header http.Header
}

// decode unmarshals the envelope's data into v.
func (r reply) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.env.Data, v); err != nil {
		t.Fatalf("decoding data %s: %v", r.env.Data, err)
	}
}

// call sends method url with the key (empty: no Authorization header) and
// body (string: sent as is; nil: none; else JSON-encoded). Every answer must
// be the envelope with a matching status, whatever it says.
func call(t *testing.T, method, url, key string, body any) reply {
	t.Helper()
	header := ""
	if key != "" {
		header = "Bearer " + key
	}
	return callWithHeader(t, method, url, header, body)
}

// callWithHeader is call with the whole Authorization header ("" for none).
func callWithHeader(t *testing.T, method, url, header string, body any) reply {
	t.Helper()
	return send(t, http.DefaultClient, method, url, header, body)
}

// callVia is call through client (e.g. one that reaches Traefik over TLS).
func callVia(t testing.TB, client *http.Client, method, url, key string, body any) reply {
	t.Helper()
	header := ""
	if key != "" {
		header = "Bearer " + key
	}
	return send(t, client, method, url, header, body)
}

// send is callWithHeader through client.
func send(t testing.TB, client *http.Client, method, url, header string, body any) reply {
	t.Helper()
	return sendWith(t, client, method, url, header, body, nil)
}

// sendWith is send with extra request headers.
func sendWith(t testing.TB, client *http.Client, method, url, header string, body any, extra http.Header) reply {
	t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		raw = j
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if header != "" {
		req.Header.Set("Authorization", header)
	}
	for k, v := range extra {
		req.Header[k] = v
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := reply{status: res.StatusCode, body: answer, header: res.Header}
	if err := json.Unmarshal(answer, &r.env); err != nil {
		t.Fatalf("%s %s: answer is not JSON (%d): %s", method, url, res.StatusCode, answer)
	}
	if !strings.HasSuffix(strings.TrimSuffix(url, "/"), "/v1") && r.env.Status != res.StatusCode {
		t.Fatalf("%s %s: envelope status %d != HTTP status %d: %s", method, url, r.env.Status, res.StatusCode, answer)
	}
	checkAgainstSpec(t, req, raw, res, answer)
	return r
}

// want fails unless the reply has the status and its message contains msg.
func (r reply) want(t *testing.T, status int, msg string) reply {
	t.Helper()
	if r.status != status || !strings.Contains(r.env.Message, msg) {
		t.Fatalf("want %d %q, got %d: %s", status, msg, r.status, r.body)
	}
	if status >= 400 && (r.env.Success || !r.env.Error || string(r.env.Data) != "null") {
		t.Fatalf("error answer is not the error envelope: %s", r.body)
	}
	return r
}

// createOrgKey has the root key create an org key (no actions yet) through
// the gateway at baseURL; it returns the key's id and bearer token.
func createOrgKey(t *testing.T, baseURL, root, org, name string) (id, token string) {
	t.Helper()
	var created struct {
		APIKeyID string `json:"apiKeyId"`
		APIKey   string `json:"apiKey"`
	}
	call(t, "PUT", baseURL+"/v1/org/"+org+"/api-key", root, map[string]string{"name": name}).
		want(t, http.StatusCreated, "API key created").decode(t, &created)
	return created.APIKeyID, created.APIKeyID + "." + created.APIKey
}

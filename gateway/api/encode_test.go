package api

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// Strings are written byte for byte as encoding/json writes them (gin's
// c.JSON wrote every answer before): HTML-escaped, invalid UTF-8 as
// \ufffd, U+2028/2029 escaped.
func FuzzAppendString(f *testing.F) {
	for _, s := range trickyStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); string(got) != string(want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	})
}

var trickyStrings = []string{
	"", "a", "<script>alert('x')</script>", "a&b", "\"quoted\" \\ back", "\t\n\r\b\f", "\x00\x01\x1f\x7f",
	"é ü 日本", "\U0001F600", "\u2028\u2029", "\xff", "a\xc3", "\xed\xa0\x80", "\uFFFD",
}

func TestAppendFloat(t *testing.T) {
	for _, f := range []float64{0, math.Copysign(0, -1), 1, -1.5, 0.1, 1e20, 1e21, 1e-6, 1e-7, 123456789.125, 1.7976931348623157e308,
		5e-324, -2.5e-10, 3.14159, 1e100, 100} {
		want, _ := json.Marshal(f)
		if got := appendFloat(nil, f, 64); string(got) != string(want) {
			t.Errorf("%v: got %s, want %s", f, got, want)
		}
		if math.IsInf(float64(float32(f)), 0) {
			continue
		}
		want, _ = json.Marshal(float32(f))
		if got := appendFloat(nil, float64(float32(f)), 32); string(got) != string(want) {
			t.Errorf("float32 %v: got %s, want %s", f, got, want)
		}
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if got := appendFloat(nil, f, 64); string(got) != "null" {
			t.Errorf("%v: %s", f, got)
		}
	}
}

// Pangolin's conventions: unset optional → null, unset message → null,
// empty list → [], 64-bit integers as numbers, declaration order.
func TestEncodeConventions(t *testing.T) {
	encs := encoders{}
	for _, c := range []struct {
		m    proto.Message
		want string
	}{
		{&corev1.GetOrgResponse{}, `{"org":null}`},
		{&corev1.Org{OrgId: "a"}, `{"orgId":"a","name":"","subnet":null,"utilitySubnet":null,"createdAt":""}`},
		{&corev1.Org{UtilitySubnet: ptr("")}, `{"orgId":"","name":"","subnet":null,"utilitySubnet":"","createdAt":""}`},
		{&corev1.ListKeyActionsResponse{}, `{"actions":[],"total":0}`},
		{&corev1.ListKeyActionsResponse{Actions: []*corev1.KeyAction{{ActionId: "a"}, {}}, Total: 2},
			`{"actions":[{"actionId":"a"},{"actionId":""}],"total":2}`},
		{&corev1.Principal{OrgIds: []string{"a", "<b>"}}, `{"apiKeyId":"","isRoot":false,"orgIds":["a","\u003cb\u003e"],"actionIds":[],"expiresAt":null,"allowedIps":[],"rateLimit":null,"previousSecretExpiresAt":null,"previousSecret":false}`},
		{&corev1.SiteDefaults{ExitNodeId: ptr(int64(math.MaxInt64)), ListenPort: ptr(int32(-1))},
			`{"exitNodeId":9223372036854775807,"address":null,"publicKey":null,"name":null,"listenPort":-1,"endpoint":null,` +
				`"subnet":null,"clientAddress":null,"newtId":"","newtSecret":""}`},
		// An unset inline message writes its fields' zero values: the shape
		// stays the same.
		{&corev1.CreatedSite{Secret: ptr("s")}, `{"siteId":0,"orgId":"","niceId":"","exitNodeId":null,"name":"","pubKey":null,` +
			`"subnet":null,"megabytesIn":0,"megabytesOut":0,"lastBandwidthUpdate":null,"type":"","online":false,"address":null,` +
			`"endpoint":null,"publicKey":null,"lastHolePunch":null,"listenPort":null,"dockerSocketEnabled":false,"remoteSubnets":null,"secret":"s"}`},
	} {
		e, err := encs.of(c.m.ProtoReflect().Descriptor())
		if err != nil {
			t.Fatal(err)
		}
		if got := string(e.append(nil, c.m.ProtoReflect(), nil)); got != c.want {
			t.Errorf("%T\n got %s\nwant %s", c.m, got, c.want)
		}
	}
}

// The answers are what the hand-written DTOs wrote through gin's c.JSON
// before the gateway became generic, for any values: the DTOs below are
// copies of those, the mappings those of the old handlers.
func TestEncodeMatchesTheOldAnswers(t *testing.T) {
	encs := encoders{}
	r := rand.New(rand.NewPCG(1, 2))
	check := func(m proto.Message, old any) {
		t.Helper()
		e, err := encs.of(m.ProtoReflect().Descriptor())
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(old)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.append(nil, m.ProtoReflect(), nil); string(got) != string(want) {
			t.Fatalf("%T\n got %s\nwant %s", m, got, want)
		}
	}
	for range 300 {
		site := &corev1.Site{}
		fill(r, site.ProtoReflect())
		check(site, oldSiteJSON(site))
		created := &corev1.CreatedSite{Site: site}
		fill(r, created.ProtoReflect())
		created.Site = site
		check(created, oldCreatedSite{oldSiteJSON(site), created.NewtId, created.Secret})
		item := &corev1.SiteListItem{}
		fill(r, item.ProtoReflect())
		check(item, oldSiteListItem{item.SiteId, item.NiceId, item.Name, item.PubKey, item.Subnet, item.MegabytesIn, item.MegabytesOut,
			item.OrgName, item.Type, item.Online, item.Address, item.ExitNodeId, item.NewtVersion, item.NewtUpdateAvailable})
		org := &corev1.Org{}
		fill(r, org.ProtoReflect())
		check(&corev1.GetOrgResponse{Org: org}, struct {
			Org oldOrg `json:"org"`
		}{oldOrg{org.OrgId, org.Name, org.Subnet, org.UtilitySubnet, org.CreatedAt}})
		d := &corev1.SiteDefaults{}
		fill(r, d.ProtoReflect())
		check(d, oldSiteDefaults{d.ExitNodeId, d.Address, d.PublicKey, d.Name, d.ListenPort, d.Endpoint, d.Subnet, d.ClientAddress, d.NewtId, d.NewtSecret})
		k := &corev1.CreatedApiKey{}
		fill(r, k.ProtoReflect())
		check(k, oldCreatedKey{k.ApiKeyId, k.ApiKey, k.Name, k.LastChars, k.CreatedAt, k.ExpiresAt, []string{}, nil, k.PreviousSecretExpiresAt})
	}
}

// fill sets each scalar field of m to a random value, or leaves it unset.
func fill(r *rand.Rand, m protoreflect.Message) {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.IsList() || fd.Kind() == protoreflect.MessageKind || r.IntN(4) == 0 {
			continue
		}
		var v protoreflect.Value
		switch fd.Kind() {
		case protoreflect.StringKind:
			v = protoreflect.ValueOfString(trickyStrings[r.IntN(len(trickyStrings))] + strings.Repeat("x", r.IntN(3)))
		case protoreflect.BoolKind:
			v = protoreflect.ValueOfBool(r.IntN(2) == 0)
		case protoreflect.Int64Kind:
			v = protoreflect.ValueOfInt64(int64(r.Uint64()))
		case protoreflect.Int32Kind:
			v = protoreflect.ValueOfInt32(int32(r.Uint32()))
		case protoreflect.DoubleKind:
			v = protoreflect.ValueOfFloat64([]float64{0, 0.5, 1e21, 1e-7, 123.456, r.Float64() * 1e6, r.NormFloat64()}[r.IntN(7)])
		default:
			panic(fd.Kind().String())
		}
		m.Set(fd, v)
	}
}

type oldSite struct {
	SiteID              int64   `json:"siteId"`
	OrgID               string  `json:"orgId"`
	NiceID              string  `json:"niceId"`
	ExitNodeID          *int64  `json:"exitNodeId"`
	Name                string  `json:"name"`
	PubKey              *string `json:"pubKey"`
	Subnet              *string `json:"subnet"`
	MegabytesIn         float64 `json:"megabytesIn"`
	MegabytesOut        float64 `json:"megabytesOut"`
	LastBandwidthUpdate *string `json:"lastBandwidthUpdate"`
	Type                string  `json:"type"`
	Online              bool    `json:"online"`
	Address             *string `json:"address"`
	Endpoint            *string `json:"endpoint"`
	PublicKey           *string `json:"publicKey"`
	LastHolePunch       *int64  `json:"lastHolePunch"`
	ListenPort          *int32  `json:"listenPort"`
	DockerSocketEnabled bool    `json:"dockerSocketEnabled"`
	RemoteSubnets       *string `json:"remoteSubnets"`
}

func oldSiteJSON(s *corev1.Site) oldSite {
	return oldSite{
		SiteID: s.GetSiteId(), OrgID: s.GetOrgId(), NiceID: s.GetNiceId(), ExitNodeID: s.ExitNodeId, Name: s.GetName(),
		PubKey: s.PubKey, Subnet: s.Subnet, MegabytesIn: s.GetMegabytesIn(), MegabytesOut: s.GetMegabytesOut(),
		LastBandwidthUpdate: s.LastBandwidthUpdate, Type: s.GetType(), Online: s.GetOnline(), Address: s.Address,
		Endpoint: s.Endpoint, PublicKey: s.PublicKey, LastHolePunch: s.LastHolePunch, ListenPort: s.ListenPort,
		DockerSocketEnabled: s.GetDockerSocketEnabled(), RemoteSubnets: s.RemoteSubnets,
	}
}

type oldCreatedSite struct {
	oldSite
	NewtID *string `json:"newtId,omitempty"`
	Secret *string `json:"secret,omitempty"`
}

type oldSiteListItem struct {
	SiteID              int64   `json:"siteId"`
	NiceID              string  `json:"niceId"`
	Name                string  `json:"name"`
	PubKey              *string `json:"pubKey"`
	Subnet              *string `json:"subnet"`
	MegabytesIn         float64 `json:"megabytesIn"`
	MegabytesOut        float64 `json:"megabytesOut"`
	OrgName             string  `json:"orgName"`
	Type                string  `json:"type"`
	Online              bool    `json:"online"`
	Address             *string `json:"address"`
	ExitNodeID          *int64  `json:"exitNodeId"`
	NewtVersion         *string `json:"newtVersion"`
	NewtUpdateAvailable bool    `json:"newtUpdateAvailable"`
}

type oldOrg struct {
	OrgID         string  `json:"orgId"`
	Name          string  `json:"name"`
	Subnet        *string `json:"subnet"`
	UtilitySubnet *string `json:"utilitySubnet"`
	CreatedAt     string  `json:"createdAt"`
}

type oldSiteDefaults struct {
	ExitNodeID    *int64  `json:"exitNodeId"`
	Address       *string `json:"address"`
	PublicKey     *string `json:"publicKey"`
	Name          *string `json:"name"`
	ListenPort    *int32  `json:"listenPort"`
	Endpoint      *string `json:"endpoint"`
	Subnet        *string `json:"subnet"`
	ClientAddress *string `json:"clientAddress"`
	NewtID        string  `json:"newtId"`
	NewtSecret    string  `json:"newtSecret"`
}

type oldCreatedKey struct {
	APIKeyID  string `json:"apiKeyId"`
	APIKey    string `json:"apiKey"`
	Name      string `json:"name"`
	LastChars string `json:"lastChars"`
	CreatedAt string `json:"createdAt"`
	// Not in the old answers: added with key expiry, null when unset.
	ExpiresAt *string `json:"expiresAt"`
	// Added with the key's own limits: [] and null when unset.
	AllowedIPs              []string          `json:"allowedIps"`
	RateLimit               *corev1.RateLimit `json:"rateLimit"`
	PreviousSecretExpiresAt *string           `json:"previousSecretExpiresAt"`
}

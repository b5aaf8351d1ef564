package api

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// bodyTarget is the decoder the gateway builds for a request message, and
// that message's type.
type bodyTarget struct {
	d    *decoder
	zero proto.Message
}

func bodyDecoderOf(t *testing.T, m proto.Message, lenient bool) bodyTarget {
	t.Helper()
	d, err := newBodyDecoder(m.ProtoReflect().Descriptor(), lenient)
	if err != nil {
		t.Fatal(err)
	}
	return bodyTarget{d, m}
}

func sameMessage(t *testing.T, want, got proto.Message) {
	t.Helper()
	if !proto.Equal(want, got) {
		t.Fatalf("decoded\n got %v\nwant %v", got, want)
	}
}

// The body decoder on the generated request messages: what it accepts,
// and what it refuses with which message. Each refusal names the field.
func TestDecodeBody(t *testing.T) {
	site := bodyDecoderOf(t, &corev1.CreateSiteRequest{}, false)
	actions := bodyDecoderOf(t, &corev1.SetKeyActionsRequest{}, false)
	key := bodyDecoderOf(t, &corev1.CreateOrgKeyRequest{}, true)
	siteRes := bodyDecoderOf(t, &corev1.CreateSiteResourceRequest{}, false)
	delRole := bodyDecoderOf(t, &corev1.DeleteRoleRequest{}, false)
	for _, c := range []struct {
		name string
		d    bodyTarget
		body string
		want proto.Message // nil: the body is refused with msg
		msg  string
	}{
		{"all fields", site, `{"name":"s","type":"newt","exitNodeId":9007199254740993,"pubKey":"k","subnet":"n","newtId":"i",` +
			`"secret":"x","address":"a","niceId":"c","dockerSocketEnabled":false}`,
			&corev1.CreateSiteRequest{Name: "s", Type: "newt", ExitNodeId: ptr(int64(9007199254740993)), PubKey: ptr("k"),
				Subnet: ptr("n"), NewtId: ptr("i"), Secret: ptr("x"), Address: ptr("a"), NiceId: ptr("c"), DockerSocketEnabled: ptr(false)}, ""},
		{"null leaves an optional field unset", site, `{"name":"s","type":"local","exitNodeId":null,"subnet":null}`,
			&corev1.CreateSiteRequest{Name: "s", Type: "local"}, ""},
		{"whitespace and unicode", site, " {\n\"name\" : \"caf\\u00e9 \U0001F600 \\ud83d\\ude00 \uFFFD \\ufffd\", \"type\":\"local\"}\n",
			&corev1.CreateSiteRequest{Name: "café \U0001F600 \U0001F600 \uFFFD \uFFFD", Type: "local"}, ""},
		{"empty list", actions, `{"actionIds":[]}`, &corev1.SetKeyActionsRequest{}, ""},
		{"list", actions, `{"actionIds":["getOrg","listSites"]}`, &corev1.SetKeyActionsRequest{ActionIds: []string{"getOrg", "listSites"}}, ""},
		{"a path parameter the body may repeat is ignored", siteRes, `{"name":"w","siteId":99}`,
			&corev1.CreateSiteResourceRequest{Name: "w"}, ""},
		{"repeated twice it is a duplicate", siteRes, `{"name":"w","siteId":1,"siteId":1}`, nil, "Duplicate key 'siteId'"},
		{"other path parameters stay unknown", siteRes, `{"name":"w","orgId":"x"}`, nil, "Unrecognized key(s) in object: 'orgId'"},
		// body_key: the replacement role is read from roleId; digits: as a
		// string of digits or a non-negative integer, kept as its text.
		{"body_key, digits as a string", delRole, `{"roleId":"2"}`, &corev1.DeleteRoleRequest{ReplacementRoleId: "2"}, ""},
		{"digits as a number", delRole, `{"roleId":12}`, &corev1.DeleteRoleRequest{ReplacementRoleId: "12"}, ""},
		{"digits: not a negative number", delRole, `{"roleId":-2}`, nil, `Expected string of digits or integer, received number at "roleId"`},
		{"digits: not a fraction", delRole, `{"roleId":1.5}`, nil, `Expected string of digits or integer, received number at "roleId"`},
		{"body_key: the field's own JSON name is unknown", delRole, `{"roleId":"2","replacementRoleId":"3"}`, nil,
			"Unrecognized key(s) in object: 'replacementRoleId'"},
		{"body_key: required", delRole, `{}`, nil, `Required at "roleId"`},
		{"lenient: unknown keys ignored", key, `{"x":{"y":[1,{"z":null}]},"name":"ci","w":"v"}`, &corev1.CreateOrgKeyRequest{Name: "ci"}, ""},

		// Names match exactly; only BODY fields are keys of the body.
		{"case-mismatched name", site, `{"NAME":"s","type":"local"}`, nil, "Validation error: Unrecognized key(s) in object: 'NAME'"},
		{"every unknown key", site, `{"name":"s","type":"local","a":1,"b":2}`, nil, "Unrecognized key(s) in object: 'a', 'b'"},
		{"a path field", site, `{"name":"s","type":"local","orgId":"globex"}`, nil, "Unrecognized key(s) in object: 'orgId'"},
		// Duplicates.
		{"duplicate key", site, `{"name":"a","type":"local","name":"b"}`, nil, "Validation error: Duplicate key 'name' in object"},
		{"duplicate null", site, `{"subnet":null,"name":"a","type":"local","subnet":"x"}`, nil, "Duplicate key 'subnet'"},
		{"duplicate unknown key", key, `{"name":"a","x":1,"x":2}`, nil, "Duplicate key 'x'"},
		{"duplicate after an unknown key", key, `{"name":"a","x":1,"name":"b"}`, nil, "Duplicate key 'name'"},
		// Types.
		{"number for string", site, `{"name":1,"type":"local"}`, nil, `Validation error: Expected string, received number at "name"`},
		{"bool for string", site, `{"name":true,"type":"local"}`, nil, `Expected string, received bool at "name"`},
		{"array for string", site, `{"name":["x"],"type":"local"}`, nil, `Expected string, received array at "name"`},
		{"object for string", site, `{"name":{},"type":"local"}`, nil, `Expected string, received object at "name"`},
		{"string for integer", site, `{"name":"s","type":"local","exitNodeId":"1"}`, nil, `Expected integer, received string at "exitNodeId"`},
		{"fraction for integer", site, `{"name":"s","type":"local","exitNodeId":1.5}`, nil, `Expected integer, received number at "exitNodeId"`},
		{"exponent for integer", site, `{"name":"s","type":"local","exitNodeId":1e3}`, nil, `Expected integer, received number at "exitNodeId"`},
		{"integer overflow", site, `{"name":"s","type":"local","exitNodeId":9223372036854775808}`, nil,
			`Number out of range (integer from -9223372036854775808 to 9223372036854775807) at "exitNodeId"`},
		{"number for bool", site, `{"name":"s","type":"local","dockerSocketEnabled":1}`, nil, `Expected boolean, received number at "dockerSocketEnabled"`},
		{"string for bool", site, `{"name":"s","type":"local","dockerSocketEnabled":"true"}`, nil, `Expected boolean, received string`},
		{"string for array", actions, `{"actionIds":"getOrg"}`, nil, `Expected array, received string at "actionIds"`},
		{"object for array", actions, `{"actionIds":{"a":1}}`, nil, `Expected array, received object at "actionIds"`},
		{"number in array", actions, `{"actionIds":["getOrg",1]}`, nil, `Expected string, received number at "actionIds[1]"`},
		{"null in array", actions, `{"actionIds":[null]}`, nil, `Expected string, received null at "actionIds[0]"`},
		// Required.
		{"required absent", site, `{"type":"local"}`, nil, `Validation error: Required at "name"`},
		{"required null", site, `{"name":null,"type":"local"}`, nil, `Required at "name"`},
		{"required list null", actions, `{"actionIds":null}`, nil, `Required at "actionIds"`},
		{"required list absent", actions, `{}`, nil, `Required at "actionIds"`},
		{"empty body is {}", site, "", nil, `Required at "name"`},
		{"blank body is {}", site, " \n\t", nil, `Required at "name"`},
		// Strings.
		{"NUL", site, `{"name":"a\u0000b","type":"local"}`, nil, `Invalid string: not UTF-8 or holds NUL at "name"`},
		{"invalid UTF-8", site, "{\"name\":\"a\xffb\",\"type\":\"local\"}", nil, `Invalid string: not UTF-8 or holds NUL at "name"`},
		{"lone low surrogate", site, `{"name":"a\udc00","type":"local"}`, nil, `Invalid string`},
		{"lone high surrogate", site, `{"name":"a\ud800b","type":"local"}`, nil, `Invalid string`},
		{"high surrogate at the end", site, `{"name":"a\ud800","type":"local"}`, nil, `Invalid string`},
		{"two high surrogates", site, `{"name":"\ud800\ud800\udc00","type":"local"}`, nil, `Invalid string`},
		{"NUL in an array", actions, `{"actionIds":["a\u0000"]}`, nil, `at "actionIds[0]"`},
		// Shape.
		{"array", site, `[]`, nil, "Validation error: Expected object, received array"},
		{"string", site, `"text"`, nil, "Expected object, received string"},
		{"number", site, `12`, nil, "Expected object, received number"},
		{"null", site, `null`, nil, "Expected object, received null"},
		{"trailing data", site, `{"name":"s","type":"local"} trailing`, nil, "Malformed JSON body: unexpected data after the JSON object"},
		{"two objects", site, `{"name":"s","type":"local"}{"b":2}`, nil, "unexpected data after the JSON object"},
		{"truncated", site, `{"name":`, nil, "Malformed JSON body: unexpected end of JSON input"},
		{"truncated in an array", actions, `{"actionIds":["a"`, nil, "Malformed JSON body"},
		{"missing colon", site, `{"name" "s"}`, nil, "Malformed JSON body: invalid character"},
		{"bad escape", site, `{"name":"\x"}`, nil, "Malformed JSON body"},
		{"lenient: malformed ignored value", key, `{"name":"a","x":[1,}`, nil, "Malformed JSON body"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := c.d.zero.ProtoReflect().New().Interface()
			err := c.d.d.decodeBody([]byte(c.body), m.ProtoReflect())
			if c.want == nil {
				if err == nil || !strings.Contains(err.Error(), c.msg) {
					t.Fatalf("want error %q, got %v (%v)", c.msg, err, m)
				}
				if e := httpError(err); e.Status != 400 {
					t.Fatalf("status %d", e.Status)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sameMessage(t, c.want, m)
		})
	}
}

// Nested messages follow the same rules, and errors give the field's
// path. No request has a nested body today; the response messages, decoded
// with every field settable, stand in.
func TestDecodeNested(t *testing.T) {
	d, err := decoders{}.of((&corev1.ListSitesResponse{}).ProtoReflect().Descriptor())
	if err != nil {
		t.Fatal(err)
	}
	created, err := decoders{}.of((&corev1.CreatedSite{}).ProtoReflect().Descriptor())
	if err != nil {
		t.Fatal(err)
	}
	m := &corev1.ListSitesResponse{}
	if err := d.decodeBody([]byte(`{"sites":[{"siteId":1,"address":null},{"siteId":2,"name":"b","megabytesIn":1.5e3}],"total":2}`), m.ProtoReflect()); err != nil {
		t.Fatal(err)
	}
	want := &corev1.ListSitesResponse{Sites: []*corev1.SiteListItem{{SiteId: 1}, {SiteId: 2, Name: "b", MegabytesIn: 1500}}, Total: 2}
	sameMessage(t, want, m)
	for body, msg := range map[string]string{
		`{"sites":[{"siteId":1},{"siteId":"x"}]}`:    `Expected integer, received string at "sites[1].siteId"`,
		`{"sites":[{"siteId":1,"siteId":2}]}`:        `Duplicate key 'siteId' in object at "sites[0]"`,
		`{"sites":[{"bogus":1}]}`:                    `Unrecognized key(s) in object: 'bogus' at "sites[0]"`,
		`{"sites":[[]]}`:                             `Expected object, received array at "sites[0]"`,
		`{"sites":{}}`:                               `Expected array, received object at "sites"`,
		`{"total":2147483648}`:                       `Number out of range (integer from -2147483648 to 2147483647) at "total"`,
		`{"sites":[{"megabytesIn":1e400}]}`:          `Number out of range (a finite number) at "sites[0].megabytesIn"`,
		`{"sites":[{"megabytesIn":"1"}]}`:            `Expected number, received string at "sites[0].megabytesIn"`,
		`{"sites":[{"name":"\u0000"}]}`:              `Invalid string: not UTF-8 or holds NUL at "sites[0].name"`,
		`{"total":-2147483649}`:                      `Number out of range`,
		`{"sites":[{"newtUpdateAvailable":"yes"}]}`:  `Expected boolean, received string at "sites[0].newtUpdateAvailable"`,
		`{"sites":[{"newtVersion":{"a":1}}]}`:        `Expected string, received object at "sites[0].newtVersion"`,
		`{"sites":[{"siteId":1}],"sites":[]}`:        `Duplicate key 'sites' in object`,
		`{"sites":[{"siteId":1}]}{"sites":[]}`:       `unexpected data after the JSON object`,
		`{"sites":[{"siteId":1}]`:                    `Malformed JSON body`,
		`{"sites":[{"siteId":9223372036854775807}]}`: "",
	} {
		err := d.decodeBody([]byte(body), (&corev1.ListSitesResponse{}).ProtoReflect())
		if msg == "" {
			if err != nil {
				t.Errorf("%s: %v", body, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: want %q, got %v", body, msg, err)
		}
	}
	c := &corev1.CreatedSite{}
	if err := created.decodeBody([]byte(`{"site":{"siteId":5,"type":"newt"},"newtId":"n"}`), c.ProtoReflect()); err != nil {
		t.Fatal(err)
	}
	if c.GetSite().GetSiteId() != 5 || c.GetNewtId() != "n" || c.Secret != nil {
		t.Fatalf("created site: %v", c)
	}
	if err := created.decodeBody([]byte(`{"site":{"siteId":5,"x":1}}`), (&corev1.CreatedSite{}).ProtoReflect()); err == nil ||
		!strings.Contains(err.Error(), `'x' at "site"`) {
		t.Fatalf("nested unknown key: %v", err)
	}
}

func TestLoneSurrogate(t *testing.T) {
	for raw, want := range map[string]bool{
		`"a"`: false, `"\ud83d\ude00"`: false, `"\\ud800"`: false, `"\u00e9\n"`: false,
		`"\ud83d"`: true, `"\ude00"`: true, `"\ud83dx"`: true, `"\ud83d\n"`: true, `"\ud83d\u0041"`: true,
	} {
		if got := loneSurrogate([]byte(raw)); got != want {
			t.Errorf("%s: %v", raw, got)
		}
	}
}

// Whatever the body, the decoder answers a 400 or fills the message; it
// never panics.
func FuzzDecodeBody(f *testing.F) {
	for _, s := range []string{`{"name":"s","type":"local"}`, `{1:2}`, `{"a":1,}`, `{"name":"s",,}`, `[`, `{"actionIds":[1,}`,
		`{"exitNodeId":1e999}`, `{"name":"\ud800"}`, `{"x":{"y":[[[{}]]]}}`, `{"name":"a"}}`, "\xef\xbb\xbf{}"} {
		f.Add(s)
	}
	var targets []bodyTarget
	for _, c := range []struct {
		m       proto.Message
		lenient bool
	}{{&corev1.CreateSiteRequest{}, false}, {&corev1.CreateOrgKeyRequest{}, true}} {
		d, err := newBodyDecoder(c.m.ProtoReflect().Descriptor(), c.lenient)
		if err != nil {
			f.Fatal(err)
		}
		targets = append(targets, bodyTarget{d, c.m})
	}
	list, err := decoders{}.of((&corev1.ListSitesResponse{}).ProtoReflect().Descriptor())
	if err != nil {
		f.Fatal(err)
	}
	targets = append(targets, bodyTarget{list, &corev1.ListSitesResponse{}})
	f.Fuzz(func(t *testing.T, body string) {
		for _, target := range targets {
			err := target.d.decodeBody([]byte(body), target.zero.ProtoReflect().New())
			if e := httpError(err); err != nil && e.Status != 400 {
				t.Fatalf("%q: %d %s", body, e.Status, e.Message)
			}
		}
	})
}

// An update's body keys list what the body held, null and [] included:
// the core tells a limit cleared from one left alone by them.
func TestDecodeBodyKeys(t *testing.T) {
	for body, want := range map[string][]string{
		`{"name":"n"}`: {"name"},
		`{"expiresAt":null,"allowedIps":[],"rateLimit":null}`: {"expiresAt", "allowedIps", "rateLimit"},
		`{}`: nil,
		``:   nil,
	} {
		m := &corev1.UpdateOrgKeyRequest{}
		if err := bodyDecoderOf(t, m, false).d.decodeBody([]byte(body), m.ProtoReflect()); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if !slices.Equal(m.GetBodyKeys(), want) || m.ExpiresAt != nil || m.RateLimit != nil {
			t.Errorf("%s: body keys %v, want %v (message %v)", body, m.GetBodyKeys(), want, m)
		}
	}
	m := &corev1.UpdateOrgKeyRequest{}
	if err := bodyDecoderOf(t, m, false).d.decodeBody([]byte(`{"bodyKeys":["name"]}`), m.ProtoReflect()); err == nil {
		t.Fatal("a client set the body keys")
	}
}

package e2e

import (
	"strconv"
	"testing"
)

// The target routes as Pangolin 1.8 answered them (observed-1.8.md
// #38-#43, #78), and the newer fields.
func TestTargets(t *testing.T) {
	f := newFixture(t)
	url := f.url + "/v1"
	res := f.acme["resourceId"]

	// #38
	var tg map[string]any
	call(t, "PUT", url+"/resource/"+res+"/target", f.root, `{"ip":"10.0.0.5","method":"http","port":8080}`).
		want(t, 201, "Target created successfully").decode(t, &tg)
	wantJSON(t, "#38", tg, `{"resourceId":`+res+`,"ip":"10.0.0.5","method":"http","port":8080,"internalPort":null,"enabled":true,
		"siteId":`+f.acme["siteId"]+`,"priority":100,"mode":"http","hcEnabled":false,"hcHealth":"unknown","hcHeaders":[],"path":null}`)
	id := strconv.Itoa(int(tg["targetId"].(float64)))
	// #39
	call(t, "PUT", url+"/resource/"+res+"/target", f.root, `{"ip":"10.0.0.5","method":"http","port":70000}`).want(t, 400, `"port"`)
	// #40 (the fixture's target first)
	var list struct {
		Targets    []map[string]any `json:"targets"`
		Pagination map[string]int   `json:"pagination"`
	}
	call(t, "GET", url+"/resource/"+res+"/targets", f.root, nil).want(t, 200, "Targets retrieved successfully").decode(t, &list)
	if len(list.Targets) != 2 || list.Pagination["total"] != 2 || list.Pagination["limit"] != 1000 {
		t.Fatalf("#40 %+v", list)
	}
	wantJSON(t, "#40 item", list.Targets[1], `{"targetId":`+id+`,"ip":"10.0.0.5","method":"http","port":8080,"enabled":true,
		"resourceId":`+res+`,"siteName":"acme-site","siteType":"local"}`)
	call(t, "GET", url+"/public-resource/"+res+"/targets?limit=1&offset=1", f.root, nil).want(t, 200, "").decode(t, &list)
	if len(list.Targets) != 1 || list.Targets[0]["targetId"] != tg["targetId"] {
		t.Fatalf("page %+v", list)
	}
	// #41
	var got map[string]any
	call(t, "GET", url+"/target/"+id, f.root, nil).want(t, 200, "Target retrieved successfully").decode(t, &got)
	wantJSON(t, "#41", got, `{"targetId":`+id+`,"resourceId":`+res+`,"ip":"10.0.0.5","method":"http","port":8080,"internalPort":null,"enabled":true}`)
	// #42: ip is required.
	call(t, "POST", url+"/target/"+id, f.root, `{"port":8081}`).want(t, 400, `Required at "ip"`)
	// #43
	call(t, "POST", url+"/target/"+id, f.root, `{"ip":"10.0.0.6","method":"http","port":8081}`).
		want(t, 200, "Target updated successfully").decode(t, &got)
	wantJSON(t, "#43", got, `{"targetId":`+id+`,"ip":"10.0.0.6","method":"http","port":8081,"enabled":true,"priority":100}`)
	// Partial: what is left out stays; the newer fields.
	call(t, "POST", url+"/target/"+id, f.root, `{"ip":"app.internal","path":"/api","pathMatchType":"prefix","rewritePath":"/",
		"rewritePathType":"stripPrefix","priority":10,"hcEnabled":true,"hcHostname":"app.internal","hcPort":8081,"hcPath":"/health",
		"hcHeaders":[{"name":"Host","value":"app"}],"hcInterval":30,"hcStatus":200,"hcMethod":"GET","hcScheme":"http"}`).
		want(t, 200, "").decode(t, &got)
	wantJSON(t, "newer fields", got, `{"ip":"app.internal","port":8081,"method":"http","path":"/api","pathMatchType":"prefix",
		"rewritePath":"/","rewritePathType":"stripPrefix","priority":10,"hcEnabled":true,"hcHostname":"app.internal","hcPort":8081,
		"hcPath":"/health","hcHeaders":[{"name":"Host","value":"app"}],"hcInterval":30,"hcStatus":200,"hcHealth":"unhealthy"}`)
	call(t, "GET", url+"/target/"+id, f.root, nil).want(t, 200, "").decode(t, &got)
	wantJSON(t, "read back", got, `{"ip":"app.internal","hcHeaders":[{"name":"Host","value":"app"}],"priority":10}`)

	for body, msg := range map[string]string{
		`{"ip":"not a host","port":80}`:                                        `"ip"`,
		`{"ip":"10.0.0.1","port":0}`:                                           `"port"`,
		`{"ip":"10.0.0.1","port":80,"priority":0}`:                             `"priority"`,
		`{"ip":"10.0.0.1","port":80,"priority":1001}`:                          `"priority"`,
		`{"ip":"10.0.0.1","port":80,"mode":"ftp"}`:                             `"mode"`,
		`{"ip":"10.0.0.1","port":80,"pathMatchType":"glob"}`:                   `"pathMatchType"`,
		`{"ip":"10.0.0.1","port":80,"rewritePathType":"x"}`:                    `"rewritePathType"`,
		`{"ip":"10.0.0.1","port":80,"hcEnabled":true}`:                         `"hcHostname"`,
		`{"ip":"10.0.0.1","port":80,"hcStatus":700}`:                           `"hcStatus"`,
		`{"ip":"10.0.0.1","port":80,"hcHeaders":[{"name":"a:b","value":"x"}]}`: `hcHeaders[0].name`,
		`{"ip":"10.0.0.1","port":80,"hcHeaders":[{"name":"a"}]}`:               `Required at "hcHeaders[0].value"`,
		`{"ip":"10.0.0.1","port":80,"method":"averyverylongmethod"}`:           `"method"`,
	} {
		call(t, "PUT", url+"/resource/"+res+"/target", f.root, body).want(t, 400, msg)
	}
	// The site must be in the resource's org: another org's answers like a missing one.
	call(t, "PUT", url+"/resource/"+res+"/target", f.root, `{"ip":"10.0.0.1","port":80,"siteId":`+f.globex["siteId"]+`}`).
		want(t, 404, "Site with ID "+f.globex["siteId"]+" not found")
	call(t, "POST", url+"/target/"+id, f.root, `{"ip":"10.0.0.1","siteId":999999}`).want(t, 404, "Site with ID 999999 not found")
	// A newt site's targets get an internal port of their own.
	var newt struct {
		SiteID int `json:"siteId"`
	}
	call(t, "PUT", url+"/org/acme/site", f.root, `{"name":"edge","type":"newt"}`).want(t, 201, "").decode(t, &newt)
	call(t, "PUT", url+"/public-resource/"+res+"/target", f.root, `{"ip":"10.0.0.9","port":80,"siteId":`+strconv.Itoa(newt.SiteID)+`}`).
		want(t, 201, "").decode(t, &got)
	if p, ok := got["internalPort"].(float64); !ok || p < 40000 || p > 65534 || int(got["siteId"].(float64)) != newt.SiteID {
		t.Fatalf("target on a newt site: %v", got)
	}
	// A resource without a site of its own needs siteId.
	var apex struct {
		ResourceID int `json:"resourceId"`
	}
	call(t, "PUT", url+"/org/acme/resource", f.root, `{"name":"apex","http":true,"domainId":"`+f.acme["domainId"]+`"}`).
		want(t, 201, "").decode(t, &apex)
	call(t, "PUT", url+"/resource/"+strconv.Itoa(apex.ResourceID)+"/target", f.root, `{"ip":"10.0.0.1","port":80}`).want(t, 400, `"siteId"`)

	// #78
	r := call(t, "DELETE", url+"/target/"+id, f.root, nil).want(t, 200, "Target deleted successfully")
	if string(r.env.Data) != "null" {
		t.Fatalf("delete data %s", r.env.Data)
	}
	call(t, "GET", url+"/target/"+id, f.root, nil).want(t, 404, "Target with ID "+id+" not found")
}

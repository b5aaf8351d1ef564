package api

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"
	"google.golang.org/protobuf/reflect/protoreflect"

	apiv1 "pangolin-gateway/proto/pangolin/api/v1"
)

// hooks are the Pangolin quirks a route's options cannot say, each named by
// the route that needs it (Route.hook). This is the one place that lists
// them; every other route is served by the generic path alone.
var hooks = map[apiv1.Hook]hook{
	apiv1.Hook_HOOK_NONE: {},

	// GET /v1/: {"message":"Healthy"} without the envelope, answered by
	// the gateway itself: no key, no core call. While the gateway drains,
	// gateway.drainAware answers 503 before this is reached.
	apiv1.Hook_HOOK_HEALTH: {
		serve: func(_ *operation, c *gin.Context) {
			writeJSON(c, http.StatusOK, healthy)
		},
		document: func(s *spec, o *operation, responses map[string]any) {
			answer := s.answerRef(o.resp.Descriptor(), nil)
			responses["200"] = map[string]any{"description": "Healthy", "content": map[string]any{
				"application/json": map[string]any{"schema": answer, "example": map[string]any{"message": "Healthy"}}}}
			responses["503"] = map[string]any{"description": "The gateway is shutting down (draining)", "content": map[string]any{
				"application/json": map[string]any{"schema": answer, "example": map[string]any{"message": "Shutting down"}}}}
		},
	},

	// GET /org/checkId: 200 with the declared message when the id is
	// taken, 404 "Organization ID is available" when it is free; both are
	// successful answers with data {}.
	apiv1.Hook_HOOK_CHECK_ORG_ID: {
		check: func(o *operation) error {
			if fd := o.resp.Descriptor().Fields().ByName("exists"); fd == nil || fd.Kind() != protoreflect.BoolKind {
				return errors.New("the response needs a bool field exists")
			}
			if o.data != dataMessage {
				return errors.New("the response must be a message")
			}
			return nil
		},
		answer: func(o *operation, resp protoreflect.Message) answer {
			if resp.Get(resp.Descriptor().Fields().ByName("exists")).Bool() {
				return answer{status: o.status, tail: o.tail, data: dataEmpty}
			}
			return answer{status: http.StatusNotFound, tail: orgIDAvailable, data: dataEmpty}
		},
		document: func(s *spec, o *operation, responses map[string]any) {
			responses["200"] = s.success(o.Route.GetMessage(), o.status, s.empty())
			responses["404"] = s.success("Organization ID is available", http.StatusNotFound, s.empty())
		},
	},
}

var (
	healthy        = []byte(`{"message":"Healthy"}`)
	orgIDAvailable = successTail(http.StatusNotFound, "Organization ID is available")
)

// hook changes one step of serving a route; nil steps are the generic ones.
type hook struct {
	// check refuses, at start, a route the hook cannot serve.
	check func(*operation) error
	// serve answers in the gateway itself instead of calling the core.
	serve func(*operation, *gin.Context)
	// answer chooses the status, envelope and data of the core's answer.
	answer func(*operation, protoreflect.Message) answer
	// document writes the route's documented success answers.
	document func(*spec, *operation, map[string]any)
}

// answer is how a core answer is written: the status, the envelope after
// its data (tail), and the data's shape.
type answer struct {
	status int
	tail   []byte
	data   dataShape
}

package auth

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// source is where an authentication was answered from.
type source int

const (
	fromNone source = iota // refused before any cache or the core
	fromL1
	fromL2
	fromCore
)

// Every label value is created at start, so each series is scraped (at 0)
// before it first moves.
var (
	authTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "pangolin_gateway_auth_total",
		Help: "Authentications by outcome: l1_hit, l2_hit and core_verify authenticated from the in-process cache, Redis or a core Verify; rejected is a 401 (malformed, unknown, wrong secret), limited a 429 (wrong-secret budget spent), unavailable a 503.",
	}, []string{"outcome"})
	authL1          = authTotal.WithLabelValues("l1_hit")
	authL2          = authTotal.WithLabelValues("l2_hit")
	authCore        = authTotal.WithLabelValues("core_verify")
	authRejected    = authTotal.WithLabelValues("rejected")
	authLimited     = authTotal.WithLabelValues("limited")
	authUnavailable = authTotal.WithLabelValues("unavailable")

	verifyQueue = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "pangolin_gateway_auth_verify_queue_depth",
		Help: "Core Verify calls this gateway is waiting on (one per key id and secret at a time; requests for the same key share one).",
	})

	redisErrors = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "pangolin_gateway_redis_errors_total",
		Help: "Failed Redis operations of the key cache, by operation (get, set, del, purge of the key cache; rate of a key's rate limit); each one fell back to the in-process cache and the core, or to the per-replica rate limit.",
	}, []string{"op"})
)

func init() {
	for _, op := range []string{"get", "set", "del", "purge", "rate"} {
		redisErrors.WithLabelValues(op)
	}
}

// countAuth records one Authenticate answer.
func countAuth(from source, err error) {
	switch {
	case err == nil && from == fromL1:
		authL1.Inc()
	case err == nil && from == fromL2:
		authL2.Inc()
	case err == nil:
		authCore.Inc()
	case errors.Is(err, ErrBusy):
		authLimited.Inc()
	case errors.Is(err, ErrUnavailable):
		authUnavailable.Inc()
	default:
		authRejected.Inc()
	}
}

package core

import (
	"context"
	"log/slog"
	"runtime"
	"time"
)

// Service is the core's domain logic over a Store: validation, id and
// secret generation, and tenancy. Transports call it with the Caller they
// authenticated.
type Service struct {
	store Store
	log   *slog.Logger
	// verifySlots bounds concurrent argon2id verifications so that a flood of
	// bad keys cannot take every CPU; verifyQueue bounds how many wait.
	verifySlots chan struct{}
	verifyQueue chan struct{}
	now         func() time.Time
}

// NewService returns a Service; verifyConcurrency 0 means one slot per CPU.
func NewService(store Store, verifyConcurrency int, log *slog.Logger) *Service {
	if verifyConcurrency <= 0 {
		verifyConcurrency = runtime.GOMAXPROCS(0)
	}
	if log == nil {
		log = slog.Default()
	}
	return &Service{
		store:       store,
		log:         log,
		verifySlots: make(chan struct{}, verifyConcurrency),
		verifyQueue: make(chan struct{}, verifyConcurrency*64),
		now:         func() time.Time { return time.Now().UTC() },
	}
}

// Store returns the service's store, for the change feed and admin commands.
func (s *Service) Store() Store { return s.store }

// internal logs an unexpected error and returns one that says nothing of
// its cause: SQL and driver text never reach clients.
func (s *Service) internal(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if ErrorCode(err) != CodeInternal {
		return err
	}
	if ctx.Err() != nil {
		return Errorf(CodeUnavailable, "Request cancelled")
	}
	s.log.ErrorContext(ctx, "core operation failed", "op", op, "err", err)
	return Errorf(CodeInternal, "An error occurred")
}

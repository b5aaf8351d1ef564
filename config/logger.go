package config

import (
	"io"
	"log/slog"

	"pangolin-gateway/internal/requestid"
)

// Logger returns the slog logger the log.* keys describe. Lines logged
// with a request's context carry its request_id.
func (l Log) Logger(w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(l.Level))
	opts := &slog.HandlerOptions{Level: level}
	if l.Format == "json" {
		return slog.New(requestid.Handler{Handler: slog.NewJSONHandler(w, opts)})
	}
	return slog.New(requestid.Handler{Handler: slog.NewTextHandler(w, opts)})
}

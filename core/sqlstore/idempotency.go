package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// ClaimIdempotency takes or reports the claim on (key, digest), in one
// transaction: of two replicas claiming at once, one gets it and the other
// sees it running.
func (s *Store) ClaimIdempotency(ctx context.Context, c core.IdempotencyClaim) (state corev1.ClaimResponse_State, answer []byte, err error) {
	err = s.write(ctx, func(tx *tx) error {
		state, answer = corev1.ClaimResponse_STATE_CLAIMED, nil
		res, err := tx.ExecContext(ctx, `INSERT INTO idempotency_keys (api_key_id, key_digest, fingerprint, lease_until, created_at)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (api_key_id, key_digest) DO NOTHING`,
			c.KeyID, c.Digest, c.Fingerprint, c.LeaseUntil, c.Now)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		var fingerprint string
		var lapsed, expired bool
		err = tx.QueryRowContext(ctx, `SELECT fingerprint, answer, lease_until < $3, created_at < $4
			FROM idempotency_keys WHERE api_key_id = $1 AND key_digest = $2`+s.dialect.forUpdate(),
			c.KeyID, c.Digest, c.Now, c.Expired).Scan(&fingerprint, &answer, &lapsed, &expired)
		if errors.Is(err, sql.ErrNoRows) {
			return core.Errorf(core.CodeUnavailable, "idempotency record removed concurrently, retry")
		}
		if err != nil {
			return err
		}
		switch {
		case expired:
			// Older than the window: as if absent.
			_, err = tx.ExecContext(ctx, `UPDATE idempotency_keys SET fingerprint = $3, answer = NULL, lease_until = $4, created_at = $5
				WHERE api_key_id = $1 AND key_digest = $2`, c.KeyID, c.Digest, c.Fingerprint, c.LeaseUntil, c.Now)
			answer = nil
			return err
		case fingerprint != c.Fingerprint:
			state, answer = corev1.ClaimResponse_STATE_MISMATCH, nil
		case answer != nil:
			state = corev1.ClaimResponse_STATE_DONE
		case !lapsed:
			state = corev1.ClaimResponse_STATE_RUNNING
		default:
			// Its gateway never completed it: take it over.
			_, err = tx.ExecContext(ctx, `UPDATE idempotency_keys SET lease_until = $3 WHERE api_key_id = $1 AND key_digest = $2`,
				c.KeyID, c.Digest, c.LeaseUntil)
		}
		return err
	})
	return state, answer, internal("claim idempotency key", err)
}

// CompleteIdempotency stores the answer of a claimed request.
func (s *Store) CompleteIdempotency(ctx context.Context, keyID, digest string, answer []byte) error {
	err := s.write(ctx, func(tx *tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE idempotency_keys SET answer = $3 WHERE api_key_id = $1 AND key_digest = $2`,
			keyID, digest, answer)
		return err
	})
	return internal("complete idempotency key", err)
}

// ReleaseIdempotency forgets a claim that holds no answer.
func (s *Store) ReleaseIdempotency(ctx context.Context, keyID, digest string) error {
	err := s.write(ctx, func(tx *tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE api_key_id = $1 AND key_digest = $2 AND answer IS NULL`,
			keyID, digest)
		return err
	})
	return internal("release idempotency key", err)
}

// PruneIdempotency deletes the records created before before.
func (s *Store) PruneIdempotency(ctx context.Context, before time.Time) error {
	return internal("prune idempotency keys", s.deleteBefore(ctx, "idempotency_keys", "created_at", before))
}

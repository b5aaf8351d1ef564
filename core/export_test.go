package core

import "context"

// HoldHashSlot takes a slot of h as party "test" until release is called,
// so that tests can fill the bound without computing hashes.
func HoldHashSlot(ctx context.Context, h *Hasher) (release func(), err error) {
	return h.acquire(ctx, "test")
}

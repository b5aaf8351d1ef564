package auth

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"
)

// BenchmarkAuthenticate measures the three paths of a request: a cold key
// (core Verify with production argon2id over real gRPC, then the fills), a
// key served from Redis, and one served from the process.
func BenchmarkAuthenticate(b *testing.B) {
	rdb := testRedis(b)
	core := newFakeCore(realArgon)
	client := serve(b, core)
	keyID, _, header := core.addKey(b, false, []string{"org1"}, []string{"listSites", "createSite", "getSite"})
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	newAuth := func(prefix string) *Authenticator {
		return New(Options{
			Verifier: CoreVerifier{Client: client}, Redis: rdb, RedisPrefix: prefix,
			Secret: testSecretKey, TTL: time.Minute, Size: 1000, Logger: quiet,
		})
	}
	ctx := context.Background()
	run := func(b *testing.B, a *Authenticator, before func()) {
		for b.Loop() {
			if before != nil {
				before()
			}
			if _, err := a.Authenticate(ctx, header); err != nil {
				b.Fatal(err)
			}
		}
	}

	b.Run("cold", func(b *testing.B) {
		base := testPrefix(b, rdb)
		calls := core.verifyCalls.Load()
		i := 0
		for b.Loop() {
			i++
			// Fresh caches and a fresh L2 prefix: every op pays the core.
			a := newAuth(fmt.Sprintf("%s%d:", base, i))
			if _, err := a.Authenticate(ctx, header); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(core.verifyCalls.Load()-calls)/float64(b.N), "verify/op")
	})

	b.Run("l2_hit", func(b *testing.B) {
		a := newAuth(testPrefix(b, rdb))
		if _, err := a.Authenticate(ctx, header); err != nil {
			b.Fatal(err)
		}
		calls := core.verifyCalls.Load()
		run(b, a, func() { a.l1.Remove(keyID) }) // every op misses L1 and reads Redis
		if a.Stats().L2Hits == 0 || core.verifyCalls.Load() != calls {
			b.Fatalf("not served from L2: %+v", a.Stats())
		}
	})

	b.Run("l1_hit", func(b *testing.B) {
		a := newAuth(testPrefix(b, rdb))
		if _, err := a.Authenticate(ctx, header); err != nil {
			b.Fatal(err)
		}
		run(b, a, nil)
	})

	b.Run("l1_hit_parallel", func(b *testing.B) {
		a := newAuth(testPrefix(b, rdb))
		if _, err := a.Authenticate(ctx, header); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := a.Authenticate(ctx, header); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkParseBearer(b *testing.B) {
	header := "Bearer " + newKeyID() + "." + newSecret()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParseBearer(header); err != nil {
			b.Fatal(err)
		}
	}
}

# pangolin-gateway — the two set-up commands are `make run` and `make test`.

GO ?= go
# Pinned generator versions: `make proto` output is byte-identical to the
# committed code.
BUF_VERSION                := v1.75.0
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
STATICCHECK_VERSION        := v0.6.1
TOOLS := $(CURDIR)/build/tools

.PHONY: run test bench build proto docs lint traefik tools clean

## run: build and start core + gateway in one process on SQLite (./data)
run:
	$(GO) build -o bin/pangolin ./cmd/pangolin
	./bin/pangolin $(if $(CONFIG),--config $(CONFIG))

## test: every test, with the race detector (PostgreSQL and Redis from DATABASE_URL / REDIS_URL)
test:
	$(GO) test -race -count=1 -timeout 45m ./...

## bench: the benchmarks (auth cold / L2 hit / L1 hit, …), side by side in one run, then
## the load table (bare Gin, embedded, production shape; BENCH_LOAD_ARGS="-load.duration 5s")
bench:
	$(GO) test -run '^$$' -bench . -skip '^BenchmarkLoad$$' -benchmem -benchtime 2s ./...
	$(GO) test -run '^$$' -bench '^BenchmarkLoad$$' -benchtime 1x ./e2e/ $(if $(BENCH_LOAD_ARGS),-args $(BENCH_LOAD_ARGS))

## build: the binaries into bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/ ./cmd/pangolin ./cmd/pangolin-core ./cmd/pangolin-gateway

## proto: regenerate proto/ Go code and the contract's descriptor set (with comments) with the pinned generators
proto: tools
	cd proto && PATH="$(TOOLS):$$PATH" $(TOOLS)/buf generate
	cd proto && $(TOOLS)/buf build --exclude-imports --as-file-descriptor-set -o contract/contract.binpb

## docs: regenerate docs/openapi.json and the README routes table from the contract
docs:
	$(GO) run ./gateway/docs/gen

## lint: formatting, vet and staticcheck
lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

## traefik: build the Traefik binary the end-to-end tests run (cached in build/)
traefik:
	bash scripts/traefik.sh

tools: $(TOOLS)/buf $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc

$(TOOLS)/buf:
	GOBIN=$(TOOLS) $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
$(TOOLS)/protoc-gen-go:
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
$(TOOLS)/protoc-gen-go-grpc:
	GOBIN=$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

clean:
	rm -rf bin

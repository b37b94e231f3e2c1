# The one test command: what CI runs and what a user runs.
.PHONY: test run build bench

test:
	go vet ./...
	go test -race -count=1 -timeout 20m ./...
	cd bench && go vet ./... && go test -count=1 -timeout 10m ./...

# loom beside River and Asynq on this machine's servers (see bench/).
# BENCH_FLAGS passes flags, e.g. make bench BENCH_FLAGS='-n 200000 -only loom-sqlite,river'.
bench:
	cd bench && go run . $(BENCH_FLAGS)

# VERSION and COMMIT default to git's answers; loom reads the build's own
# information when they are empty.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)

build:
	go build -ldflags "-X main.version=$(VERSION) -X main.commit=$(COMMIT)" -o bin/loom ./cmd/loom

run:
	go run ./cmd/loom server

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

build:
	go build -o bin/loom ./cmd/loom

run:
	go run ./cmd/loom server

# The one test command: what CI runs and what a user runs.
.PHONY: test run build

test:
	go vet ./...
	go test -race -count=1 -timeout 20m ./...

build:
	go build -o bin/loom ./cmd/loom

run:
	go run ./cmd/loom server

GO ?= go

.PHONY: build test lint lab lab-serve bench

build:
	$(GO) build -o ferry .

test:
	$(GO) vet ./...
	$(GO) test -count=1 ./...

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1)
	$(GO) vet ./...

lab:
	$(GO) run . lab

lab-serve:
	$(GO) run . lab serve

bench:
	$(GO) test -run '^$$' -bench . -benchtime 3x ./...

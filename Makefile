GO ?= go

.PHONY: build test lint lab lab-serve bench peer-test

build:
	$(GO) build -o ferry .

# Run under the race detector (only): the concurrent replication engine,
# the probe monitor, the TUI (feeds, commands), the Cloud Director simulator
# (an HTTPS server with shared state), the lab vCenters' call wrappers (added
# while clients call), the accept loop, the session (store, clients) and
# the engine (socket clients, subscriptions). Their tests are not run a
# second time without it: CI's budget (well under 15 minutes in all) is
# spent on the rest. steps/ is left out of the race run: its race
# run took 17.6 minutes on 2026-12-02 (load average 3-6; no race found); see
# README "Development".
RACE_PKGS = replication probe tui lab/vcdsim lab/simwrap accept session engine

test:
	$(GO) vet ./...
	# -parallel 4: the root package's parallel tests (ferry serve journeys)
	# mostly wait for passes of a 1-minute RPO, so four of them at once
	# share the 2 cores' waiting, not their CPU.
	$(GO) test -count=1 -timeout 30m -parallel 4 $$($(GO) list ./... | grep -v -x $(foreach p,$(RACE_PKGS),-e '.*/$(p)'))
	$(GO) test -race -count=1 -timeout 30m $(foreach p,$(RACE_PKGS),./$(p)/)

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1)
	$(GO) vet ./...

lab:
	$(GO) run . lab

lab-serve:
	$(GO) run . lab serve

bench:
	$(GO) test -run '^$$' -bench . -benchtime 3x ./...

# go-vcloud-director's own functional tests against the lab's Cloud Director
# simulator, group by group (slow; not part of `make test`)
peer-test:
	GO=$(GO) scripts/peer-test.sh

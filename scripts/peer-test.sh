#!/usr/bin/env bash
# peer-test: run go-vcloud-director's own functional tests (the version in
# ferry's go.mod, unmodified) against the lab's Cloud Director simulator,
# group by group, and print ran/passed/failed/skipped per group.
#
#   make peer-test                       all groups
#   scripts/peer-test.sh rights query    some groups
#   PEER_KEEP=1 scripts/peer-test.sh     keep the work directory (logs, config)
#   PEER_CHECK_F='^Test_NsxtOrgVdcNetworkRouted$' scripts/peer-test.sh org-vdc-networks
#                                        run only the tests of the group(s)
#                                        that this -check.f expression selects
#
# Nothing is fetched at run time beyond the Go module cache: the client's
# module is copied out of the cache (its test files write logs into their own
# directory, which the cache keeps read-only) and its test dependencies are
# the exact versions pinned by its go.mod/go.sum, taken from the module proxy
# into the cache. No downloaded source is kept in this repository.
#
# The suite's client skips TLS verification (it offers no CA setting); that
# is the suite's choice, not ferry's.
set -euo pipefail

GO=${GO:-go}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-peer.XXXXXX")
labpid=""
cleanup() {
	if [ -n "$labpid" ]; then kill "$labpid" 2>/dev/null || true; wait "$labpid" 2>/dev/null || true; fi
	if [ -z "${PEER_KEEP:-}" ]; then rm -rf "$work"; else echo "work directory kept: $work"; fi
}
trap cleanup EXIT

# The groups: name and the -check.f regular expression selecting their tests.
groups=(
	"rights|^Test_(Rights|RoleTenantContext)$"
	"rights-bundles|^Test_RightsBundle$"
	"global-roles|^Test_GlobalRoles$"
	"tenant-roles|^Test_(Roles|OpenApiInlineStructCRUDRoles|GetRoleReference|TenantContext)$"
	"org-vdc-networks|^Test_NsxtOrgVdcNetwork(Isolated|Routed|RoutedNonDistributed|ImportedNsxtLogicalSwitch|ImportedDistributedVirtualPortGroup)$"
	"l2vpn-tunnel|^Test_NsxtL2VpnTunnel$"
	"vapp-vm|^Test_(GetVApp|FindVApp|GetVM|FindVMByHREF|VmGetParentvAppAndVdc|QueryVM|QueryVmList|QueryVMList|PowerOn|PowerOff|Deploy|Undeploy|BlockWhileStatus|VMPowerOnPowerOff|GetNetworkConnectionSection|PowerOnAndForceCustomization|BlockWhileGuestCustomizationStatus|RemoveAllNetworks|AddRawVm)$"
	"query|^Test_(Query|QueryAllOrgs|QueryOrgByName|QueryOrgById|QueryNsxtManagerByName|QueryProviderVdcEntities|QueryProviderVdcByName|QueryOrgVdcNetworkByName|QueryOrgVdcNetworkByNameWithSpace|QueryTaskList|QueryVmList)$"
	"versions-sessions-vcenters|^Test_(APIVCDMaxVersionIs_Unauthenticated|APIClientVersionIs_Unauthenticated|APIVCDMaxVersionIs|APIClientVersionIs|GetVcdVersion|GetSessionInfo|GetExtendedSessionInfo|GetVcenters|SystemGetOrg|SystemGetAdminOrg)$"
)
if [ $# -gt 0 ]; then
	sel=()
	for want in "$@"; do
		found=""
		for g in "${groups[@]}"; do
			if [ "${g%%|*}" = "$want" ]; then sel+=("$g"); found=1; fi
		done
		if [ -z "$found" ]; then
			echo "peer-test: unknown group $want; groups: $(for g in "${groups[@]}"; do printf '%s ' "${g%%|*}"; done)" >&2
			exit 2
		fi
	done
	groups=("${sel[@]}")
fi

# 1. The client module, as ferry uses it, copied out of the module cache.
cd "$root"
mod=github.com/vmware/go-vcloud-director/v2
$GO mod download "$mod"
src=$($GO list -m -f '{{.Dir}}' "$mod")
ver=$($GO list -m -f '{{.Version}}' "$mod")
[ -d "$src/govcd" ] || { echo "peer-test: $mod not in the module cache" >&2; exit 1; }
cp -R "$src" "$work/gvcd"
chmod -R u+w "$work/gvcd"
echo "go-vcloud-director $ver (functional tests, unmodified) from $src"

# 2. Its test build: dependencies at the versions its go.mod pins.
(cd "$work/gvcd" && $GO mod download && $GO test -tags functional -c -o "$work/govcd.test" ./govcd)

# 3. The lab.
$GO build -o "$work/ferry" .
mkdir -p "$work/lab"
"$work/ferry" lab serve --dir "$work/lab" >"$work/lab.log" 2>&1 &
labpid=$!
for _ in $(seq 1 240); do
	grep -q '^lab ready' "$work/lab.log" && break
	kill -0 "$labpid" 2>/dev/null || { cat "$work/lab.log" >&2; echo "peer-test: the lab exited" >&2; exit 1; }
	sleep 0.5
done
grep -q '^lab ready' "$work/lab.log" || { echo "peer-test: the lab did not become ready" >&2; exit 1; }
# shellcheck disable=SC1091
. "$work/lab/lab.env"

# The routed org VDC network the suite's tunnel and vApp tests name, created
# as ferry's step 2 creates it (OpenAPI, as the provider), TLS verified
# against the lab's CA.
api=${VCD_URL%/api}
token=$(curl -sS --cacert "$FERRY_CA_FILE" -u "$VCD_USER@$VCD_ORG:$VCD_PASSWORD" -X POST \
	-H 'Accept: application/json;version=37.0' -D - -o /dev/null "$api/cloudapi/1.0.0/sessions/provider" |
	tr -d '\r' | sed -n 's/^[Xx]-[Vv][Mm][Ww][Aa][Rr][Ee]-[Vv][Cc][Ll][Oo][Uu][Dd]-[Aa][Cc][Cc][Ee][Ss][Ss]-[Tt][Oo][Kk][Ee][Nn]: //p')
[ -n "$token" ] || { echo "peer-test: cannot log in to the lab's Cloud Director" >&2; exit 1; }
oapi() { curl -sS --fail-with-body --cacert "$FERRY_CA_FILE" -H "Authorization: Bearer $token" \
	-H 'Accept: application/json;version=37.0' -H 'Content-Type: application/json' "$@"; }
edge=$(oapi "$api/cloudapi/1.0.0/edgeGateways/?filter=name==company-edge")
edgeid=$(printf '%s' "$edge" | grep -o '"id":"urn:vcloud:gateway:[^"]*"' | head -1 | cut -d'"' -f4)
vdcid=$(printf '%s' "$edge" | grep -o '"id":"urn:vcloud:vdc:[^"]*"' | head -1 | cut -d'"' -f4)
[ -n "$edgeid" ] && [ -n "$vdcid" ] || { echo "peer-test: edge gateway company-edge not found: $edge" >&2; exit 1; }
oapi -X POST "$api/cloudapi/1.0.0/orgVdcNetworks" -o /dev/null -d "{\"name\":\"company-network\",
	\"ownerRef\":{\"id\":\"$vdcid\"},\"networkType\":\"NAT_ROUTED\",
	\"connection\":{\"routerRef\":{\"id\":\"$edgeid\"},\"connectionType\":\"INTERNAL\"},
	\"subnets\":{\"values\":[{\"gateway\":\"172.16.10.1\",\"prefixLength\":24}]}}"
# The suite's own vApp (deployed at set-up from the lab's catalog) takes a
# POOL address on its network1: a second routed network with a static IP
# pool, since company-network (as step 2 makes it) has none, and vCD refuses
# POOL allocation on a network without a pool.
oapi -X POST "$api/cloudapi/1.0.0/orgVdcNetworks" -o /dev/null -d "{\"name\":\"suite-network\",
	\"ownerRef\":{\"id\":\"$vdcid\"},\"networkType\":\"NAT_ROUTED\",
	\"connection\":{\"routerRef\":{\"id\":\"$edgeid\"},\"connectionType\":\"INTERNAL\"},
	\"subnets\":{\"values\":[{\"gateway\":\"172.16.20.1\",\"prefixLength\":24,
	\"ipRanges\":{\"values\":[{\"startAddress\":\"172.16.20.100\",\"endAddress\":\"172.16.20.199\"}]}}]}}"
# The NSX-T external network the suite's own edge gateways uplink to (its
# tests ask for the subnet 10.10.10.10/24), created as a provider creates
# one: backed by the NSX-T tier-0 VRF that no external network uses yet.
mgr=$(printf '%s' "$edge" | grep -o '"id":"urn:vcloud:nsxtmanager:[^"]*"' | head -1 | cut -d'"' -f4)
t0=$(oapi "$api/cloudapi/1.0.0/nsxTResources/importableTier0Routers?filter=_context==$mgr" |
	grep -o '"id":"[^"]*","description":"[^"]*","displayName":"tier-0-router-vrf"' | cut -d'"' -f4)
[ -n "$t0" ] || { echo "peer-test: no importable tier-0 VRF tier-0-router-vrf" >&2; exit 1; }
oapi -X POST "$api/cloudapi/1.0.0/externalNetworks" -o /dev/null -d "{\"name\":\"suite-external\",\"description\":\"\",
	\"networkBackings\":{\"values\":[{\"backingId\":\"$t0\",\"backingTypeValue\":\"NSXT_VRF_TIER0\",
	\"networkProvider\":{\"id\":\"$mgr\"}}]},
	\"subnets\":{\"values\":[{\"gateway\":\"10.10.10.10\",\"prefixLength\":24,\"enabled\":true,
	\"ipRanges\":{\"values\":[{\"startAddress\":\"10.10.10.100\",\"endAddress\":\"10.10.10.150\"}]}}]}}"
for n in company-network suite-network; do
	for _ in $(seq 1 40); do
		oapi "$api/cloudapi/1.0.0/orgVdcNetworks/?filter=name==$n" | grep -q "\"name\":\"$n\"" && break
		sleep 0.5
	done
done

# 4. The suite's configuration (govcd/sample_govcd_test_config.yaml), naming
# the lab's objects: the tenant's catalog lab-catalog with the vApp template
# photon-5 (one VM) and the VDC's storage profile "*", from which the suite
# deploys its own vApp at set-up. What the lab lacks (an unused NSX-T
# segment) makes the tests needing it fail for that environment reason.
cat >"$work/govcd_test_config.yaml" <<EOF
provider:
  user: "$VCD_USER"
  password: "$VCD_PASSWORD"
  url: "$VCD_URL"
  sysOrg: "$VCD_ORG"
tenants:
  - user: "$FERRY_TENANT_USER"
    password: "$FERRY_TENANT_PASSWORD"
    sysOrg: "$FERRY_TENANT_ORG"
vcd:
  org: "$FERRY_TENANT_ORG"
  vdc: Company-VDC
  # named so that the NSX-T tests run (their pre-check wants every name):
  # the lab's provider VDC, network pool, NSX-T manager, tier-0 gateway and
  # VRF, edge cluster and NSX-T's default segment profiles; it has no NSX-T
  # segment left to import (nsxtImportSegment names none of its own)
  provider_vdc:
    name: Provider-PVDC
    network_pool: "NSX-T Overlay 1"
    storage_profile: "*"
  nsxt_provider_vdc:
    name: Provider-PVDC
    storage_profile: "*"
    network_pool: "NSX-T Overlay 1"
  nsxt:
    manager: nsxt-manager
    tier0router: tier-0-router
    tier0routerVrf: tier-0-router-vrf
    vdc: Company-VDC
    edgeGateway: company-edge
    externalNetwork: suite-external
    nsxtEdgeCluster: edge-cluster-01
    routedNetwork: company-network
    nsxtImportSegment: vcd-org-vdc-imported-network-backing
    nsxtDvpg: vcd-company-network
    # NSX-T's default segment profiles
    ipDiscoveryProfile: default-ip-discovery-profile
    macDiscoveryProfile: default-mac-discovery-profile
    spoofGuardProfile: default-spoofguard-profile
    qosProfile: default-qos-profile
    segmentSecurityProfile: default-segment-security-profile
  catalog:
    name: lab-catalog
    catalogItem: photon-5
    nsxtBackedCatalogName: lab-catalog
    nsxtCatalogItem: photon-5
  storageProfile:
    storageProfile1: "*"
  network:
    network1: suite-network
  edgeGateway: company-edge
  externalNetwork: provider-external
  vimServer: provider-vc
logging:
  enabled: true
  logFileName: "$work/go-vcloud-director.log"
  logHttpRequests: true
  logHttpResponses: true
EOF

# 5. The groups, one test process each.
printf '\n%-28s %4s %6s %6s %7s %7s\n' group ran passed failed skipped panics
summary="$work/summary.txt"
: >"$summary"
for g in "${groups[@]}"; do
	name=${g%%|*}
	re=${PEER_CHECK_F:-${g#*|}}
	out="$work/$name.out"
	(cd "$work/gvcd/govcd" && GOVCD_CONFIG="$work/govcd_test_config.yaml" \
		timeout 900 "$work/govcd.test" -test.run '^Test$' -test.timeout 15m -check.f "$re" -check.vv) >"$out" 2>&1 || true
	# gocheck prints one line per test (and per fixture: SetUpSuite...,
	# counted only through the tests it makes MISS)
	pass=$(grep -c -E '^PASS: .*\.Test_' "$out" || true)
	fail=$(grep -c -E '^(FAIL|PANIC|MISS): .*\.Test_' "$out" || true)
	skip=$(grep -c -E '^SKIP: .*\.Test_' "$out" || true)
	panics=$(grep -c -E '^PANIC: .*\.Test_' "$out" || true)
	ran=$((pass + fail))
	printf '%-28s %4d %6d %6d %7d %7d\n' "$name" "$ran" "$pass" "$fail" "$skip" "$panics" | tee -a "$summary"
	grep -E '^(FAIL|PANIC|MISS): ' "$out" | sed 's/^/    /' || true
	grep -q -E '^(PASS|FAIL|PANIC|MISS|SKIP): ' "$out" || { echo "    no test ran:"; tail -5 "$out" | sed 's/^/    /'; }
done
echo
echo "per-test output: $work/<group>.out (PEER_KEEP=1 keeps it)"

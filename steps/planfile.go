package steps

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/ferry-migrate/ferry/internal/yamlstrict"
	"github.com/ferry-migrate/ferry/replication"
)

// PlanFile holds the operator's answers (`ferry run --plan plan.yaml`, or
// what the wizard has collected). Secrets are never part of it: passwords
// come from the environment or a prompt (Env.Secret), the L2VPN pre-shared
// key from FERRY_L2VPN_PSK or is generated.
//
//	org: Company
//	vdc: Company-VDC
//	edge_gateway: company-edge
//	network: {name: company-network, gateway_cidr: 172.16.10.1/24}
//	tunnel: {name: ferry-l2vpn, local_endpoint_ip: 203.0.113.10}
//	appliance:
//	  stretched_portgroup: company-network
//	  ip: 172.16.10.250
//	  prefix: 24
//	  gateway: 172.16.10.1
//	  egress_gateway: 172.16.10.1
//	extension: {timeout: 2m}
//	vms:
//	  - {name: WebApp2, power_on: true}
//	rpo: 5m
//	skip: [rights]
type PlanFile struct {
	// Cloud Director side (steps 1, 2, 4).
	Rights      RightsPlan  `yaml:"rights,omitempty"`
	Org         string      `yaml:"org,omitempty"`
	VDC         string      `yaml:"vdc,omitempty"`
	EdgeGateway string      `yaml:"edge_gateway,omitempty"`
	Network     NetworkPlan `yaml:"network,omitempty"`
	Tunnel      TunnelPlan  `yaml:"tunnel,omitempty"`
	// On-prem L2 appliance (step 3) and the DC extension (step 4).
	Appliance AppliancePlan `yaml:"appliance,omitempty"`
	Extension ExtensionPlan `yaml:"extension,omitempty"`
	// Migration (steps 5 to 8).
	VMs []VMPlan `yaml:"vms,omitempty"`
	RPO string   `yaml:"rpo,omitempty"` // default for every VM
	// Job names the migration job ("WebApp2-Migration"), for people.
	Job string `yaml:"job,omitempty"`
	// Skip lists step IDs the operator does not want run (e.g. rights,
	// when a provider administrator has already published them).
	Skip []string `yaml:"skip,omitempty"`
	// Provider placement, probes and cutover settings (steps 5 to 8).
	MigrationPlan `yaml:",inline"`

	path string
	// lines are the lines of the file's keys as parsed (yamlstrict.Lines),
	// for Locate.
	lines map[string]int
}

// NetworkPlan is the routed org VDC network that gets stretched.
type NetworkPlan struct {
	Name        string `yaml:"name,omitempty"`
	GatewayCIDR string `yaml:"gateway_cidr,omitempty"`
	// OtherSubnetOK acknowledges that on-prem VMs on the stretched port
	// group use addresses outside GatewayCIDR (step 2 refuses otherwise).
	OtherSubnetOK bool `yaml:"other_subnet_ok,omitempty"`
}

// TunnelPlan is the L2VPN server session on the edge gateway. Its
// pre-shared key comes from FERRY_L2VPN_PSK, or is generated.
type TunnelPlan struct {
	Name string `yaml:"name,omitempty"`
	// LocalEndpointIP is the edge gateway IP the server session listens on.
	LocalEndpointIP string `yaml:"local_endpoint_ip,omitempty"`
	// RemoteEndpointIP is the address the on-prem client connects from
	// (default: appliance.ip; set it when the appliance is behind NAT).
	RemoteEndpointIP string `yaml:"remote_endpoint_ip,omitempty"`
}

// AppliancePlan is the on-prem side of the stretch: the sink (trunk) port
// group and the standalone L2VPN client appliance.
type AppliancePlan struct {
	Name string `yaml:"name,omitempty"`
	// OVF is the vendor's appliance to deploy (.ovf or .ova path or URL; the
	// NSX autonomous edge). `ferry run --appliance-ovf` overrides.
	OVF string `yaml:"ovf,omitempty"`
	// OVFNetworks and OVFProperties override ferry's table of the vendor
	// OVF (ApplianceOVFMap) for other versions: OVF network -> uplink|sink,
	// OVF property -> source (ip, netmask, ...) or =text; "" removes an entry.
	OVFNetworks   map[string]string `yaml:"ovf_networks,omitempty"`
	OVFProperties map[string]string `yaml:"ovf_properties,omitempty"`
	// Properties are values of further OVF properties (never passwords).
	Properties map[string]string `yaml:"properties,omitempty"`
	// SinkVLANs is the sink port group's VLAN trunk range (default
	// 0-4094); it must include the stretched port group's VLAN.
	SinkVLANs string `yaml:"sink_vlans,omitempty"`
	// MACLearning: the sink port group learns MACs (with forged transmits)
	// instead of promiscuous mode: auto (default; on for a VDS of 6.6 or
	// later), true or false.
	MACLearning string `yaml:"mac_learning,omitempty"`
	Datacenter  string `yaml:"datacenter,omitempty"`
	// StretchedPortgroup is the on-prem port group whose L2 segment is
	// stretched ("company-network").
	StretchedPortgroup string `yaml:"stretched_portgroup,omitempty"`
	// DVS holds the sink port group; default: the DVS of StretchedPortgroup.
	DVS           string `yaml:"dvs,omitempty"`
	SinkPortgroup string `yaml:"sink_portgroup,omitempty"`
	// UplinkPortgroup carries the appliance's own address (default:
	// the stretched port group, as in the Extender walkthrough).
	UplinkPortgroup string `yaml:"uplink_portgroup,omitempty"`
	IP              string `yaml:"ip,omitempty"`
	Prefix          string `yaml:"prefix,omitempty"`
	Gateway         string `yaml:"gateway,omitempty"`
	// EgressGateway is the local egress optimization gateway: traffic to it
	// is routed on-prem instead of over the tunnel.
	EgressGateway string `yaml:"egress_gateway,omitempty"`
	Datastore     string `yaml:"datastore,omitempty"`
}

// VMPlan is one VM to migrate.
type VMPlan struct {
	Name           string `yaml:"name"`
	TargetVApp     string `yaml:"target_vapp,omitempty"`    // default: the VM's name
	TargetNetwork  string `yaml:"target_network,omitempty"` // default: network.name
	StorageProfile string `yaml:"storage_profile,omitempty"`
	// RPO is read and range-checked once, when the plan loads ("5m" in
	// the file); default: the plan's rpo (ApplyDefaults).
	RPO     replication.RPO `yaml:"rpo,omitempty"`
	PowerOn *bool           `yaml:"power_on,omitempty"`
	// KeepBIOSUUID gives the target the source's BIOS (SMBIOS) UUID, for
	// software licensed to it. Off by default: vCenter makes a new one, as
	// for any new VM.
	KeepBIOSUUID bool `yaml:"keep_bios_uuid,omitempty"`
	// Mode is "warm" or "cold" (ModeWarm, ModeCold); empty: warm for a
	// running VM, cold for a powered-off one.
	Mode string `yaml:"mode,omitempty"`
}

// DefaultRPO is used when neither the VM nor the plan sets one: ferry's
// aim (Extender's best was 5 minutes).
const DefaultRPO = "1m"

// RPOOrDefault is the RPO a job or plan gets from rpo as written: rpo, or
// DefaultRPO when it is empty.
func RPOOrDefault(rpo string) string { return cmp.Or(rpo, DefaultRPO) }

// defaultRPO is the RPO of a VM whose plan entry sets none: the plan's rpo,
// else DefaultRPO. A bad plan rpo gives 0 (no RPO): Validate and the plan
// load report it, and no job starts without a valid RPO.
func (pf *PlanFile) defaultRPO() replication.RPO {
	rpo, err := replication.ParseRPO(RPOOrDefault(pf.RPO))
	if err != nil {
		return 0
	}
	return rpo
}

// Path is the file the plan was loaded from ("" for a plan built in the TUI).
func (pf *PlanFile) Path() string { return pf.path }

// secretKey matches keys that look like they hold a secret.
var secretKey = regexp.MustCompile(`(?i)(pass(word|wd|phrase)?$|secret|psk|pre_?shared|token|api_?key|private_?key|credential)`)

// ErrSecretInPlan is returned for a plan file that holds a secret.
var ErrSecretInPlan = errors.New("secrets are never read from the plan file")

// LoadPlanFile reads a plan file. It rejects keys that look like secrets and
// keys ferry does not know (a typo would otherwise be silently ignored). It
// does not validate the answers: see Validate.
func LoadPlanFile(path string) (*PlanFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read plan file: %w", err)
	}
	pf, err := ParsePlanFile(b)
	if err != nil {
		return nil, fmt.Errorf("plan file %s: %w", path, err)
	}
	pf.path = path
	return pf, nil
}

// ParsePlanFile parses plan YAML (see LoadPlanFile).
func ParsePlanFile(b []byte) (*PlanFile, error) {
	root, err := yamlstrict.Parse(b)
	if err != nil {
		return nil, err
	}
	if err := rejectSecrets(root, ""); err != nil {
		return nil, err
	}
	if err := checkRPOs(root); err != nil {
		return nil, err
	}
	pf := &PlanFile{}
	if err := yamlstrict.Decode(b, root, pf); err != nil {
		return nil, err
	}
	pf.lines = yamlstrict.Lines(root)
	return pf, nil
}

// Locate gives each problem of err, a ValidationError of this plan just as
// it was parsed (ParsePlanFile, LoadPlanFile; not edited since), the line of
// the plan file its key is on ("line 6: network.gateway_cidr: ..."), as the
// problems found while the file is read have (QA h3: a /33 gateway had
// none). A problem of a key the file does not have (a required answer) has
// none. Other errors are returned as they are.
func (pf *PlanFile) Locate(err error) error {
	var ve *ValidationError
	if !errors.As(err, &ve) || pf.lines == nil {
		return err
	}
	for i, e := range ve.Errs {
		fe, ok := errors.AsType[*FieldError](e)
		if !ok {
			continue
		}
		key, _, _ := strings.Cut(fe.Key, " (") // probes[0] (its label)
		if line, ok := pf.lines[key]; ok {
			ve.Errs[i] = &lineError{line, e}
		}
	}
	return err
}

// lineError is a problem of the plan file at a line.
type lineError struct {
	line int
	err  error
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %v", e.line, e.err) }
func (e *lineError) Unwrap() error { return e.err }

func rejectSecrets(n *yaml.Node, prefix string) error {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for i, c := range n.Content {
			p := prefix
			if n.Kind == yaml.SequenceNode {
				p = fmt.Sprintf("%s[%d]", prefix, i)
			}
			if err := rejectSecrets(c, p); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			key := k.Value
			if prefix != "" {
				key = prefix + "." + k.Value
			}
			if secretKey.MatchString(k.Value) {
				return fmt.Errorf("line %d: key %q looks like a secret: %w; remove it and %s", k.Line, key, ErrSecretInPlan, secretHint(k.Value))
			}
			if err := rejectSecrets(n.Content[i+1], key); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkRPOs refuses a plan whose rpo or vms[].rpo is not an RPO
// (replication.ParseRPO), naming the line, the key, the value and the valid
// range; decoding would refuse it too, without saying where.
func checkRPOs(doc *yaml.Node) error {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil // not a plan: decoding says so
	}
	check := func(m *yaml.Node, prefix string) error {
		for i := 0; i+1 < len(m.Content); i += 2 {
			if k, v := m.Content[i], m.Content[i+1]; k.Value == "rpo" && v.Kind == yaml.ScalarNode {
				if _, err := replication.ParseRPO(v.Value); err != nil {
					return fmt.Errorf("line %d: %s: %w", v.Line, prefix+"rpo", err)
				}
			}
		}
		return nil
	}
	top := doc.Content[0]
	if err := check(top, ""); err != nil {
		return err
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value != "vms" || top.Content[i+1].Kind != yaml.SequenceNode {
			continue
		}
		for j, vm := range top.Content[i+1].Content {
			if vm.Kind != yaml.MappingNode {
				continue
			}
			if err := check(vm, fmt.Sprintf("vms[%d].", j)); err != nil {
				return err
			}
		}
	}
	return nil
}

func secretHint(key string) string {
	k := strings.ToLower(key)
	if strings.Contains(k, "psk") || strings.Contains(k, "shared") {
		return "set " + EnvL2VPNPSK + " in the environment (or leave it unset: ferry generates one)"
	}
	return "set it in the environment (GOVC_PASSWORD, VCD_PASSWORD, FERRY_TENANT_PASSWORD, ...) or answer the prompt"
}

// ApplyDefaults fills empty answers that have a default, for the fields of
// every step in it. Call it after Validate: a default derived from a bad
// answer would repeat its error.
func (pf *PlanFile) ApplyDefaults(it Itinerary) {
	for _, st := range it {
		fillDefaults(pf, st.Step.Fields())
	}
	pf.ApplyVMDefaults()
}

// ApplyVMDefaults fills what each VM of the plan leaves to a default: its
// vApp, its network and its RPO.
func (pf *PlanFile) ApplyVMDefaults() {
	for i := range pf.VMs {
		vm := &pf.VMs[i]
		if vm.TargetVApp == "" {
			vm.TargetVApp = vm.Name
		}
		if vm.TargetNetwork == "" {
			vm.TargetNetwork = pf.Network.Name
		}
		if vm.RPO == 0 {
			vm.RPO = pf.defaultRPO()
		}
	}
}

// Validate checks the answers of every step of it that will run (skipped
// steps are not checked). It returns all problems at once, each naming the
// field and what would be valid.
func (pf *PlanFile) Validate(it Itinerary) error {
	var errs []error
	known := map[string]bool{}
	var ids []string
	for _, st := range it {
		known[st.Step.ID()] = true
		ids = append(ids, st.Step.ID())
	}
	for i, id := range pf.Skip {
		if !known[id] {
			errs = append(errs, &FieldError{fmt.Sprintf("skip[%d]", i), fmt.Errorf("%q is not a step (steps: %s)", id, strings.Join(ids, ", "))})
		}
	}
	seen := map[string]bool{}
	for _, st := range it {
		if reason := st.SkipReason(pf); reason != "" {
			continue
		}
		for _, f := range st.Step.Fields() {
			if seen[f.Key] {
				continue // shared by several steps (e.g. network.name)
			}
			seen[f.Key] = true
			if err := f.Check(pf); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if pf.RPO != "" && !seen["rpo"] { // checked above when a step reads it
		if err := ValidRPO(pf.RPO, pf); err != nil {
			errs = append(errs, &FieldError{"rpo", err})
		}
	}
	if pf.VerifyEvery != "" {
		if err := ValidVerifyEvery(pf.VerifyEvery, pf); err != nil {
			errs = append(errs, &FieldError{"verify_every", err})
		}
	}
	if _, err := concurrentPasses(pf); err != nil {
		errs = append(errs, err)
	}
	if _, err := snapshotReserve(pf); err != nil {
		errs = append(errs, err)
	}
	names := map[string]bool{}
	for i, vm := range pf.VMs {
		key := fmt.Sprintf("vms[%d]", i)
		if vm.Name == "" {
			errs = append(errs, &FieldError{key + ".name", errors.New("is required: the on-prem VM to migrate")})
			continue
		}
		if names[vm.Name] {
			errs = append(errs, &FieldError{key + ".name", fmt.Errorf("%q is listed twice", vm.Name)})
		}
		names[vm.Name] = true
		check := func(sub, v string, f func(string, *PlanFile) error) {
			if v == "" {
				return
			}
			if err := f(v, pf); err != nil {
				errs = append(errs, &FieldError{key + "." + sub, err})
			}
		}
		check("name", vm.Name, ValidName)
		check("target_vapp", vm.TargetVApp, ValidName)
		check("mode", vm.Mode, ValidMode)
		check("target_network", vm.TargetNetwork, ValidName)
		if vm.RPO != 0 {
			if err := vm.RPO.Validate(); err != nil {
				errs = append(errs, &FieldError{key + ".rpo", err})
			}
		}
	}
	if _, err := cutoverParallel(pf.Cutover); err != nil {
		errs = append(errs, err)
	}
	if _, _, _, err := cutoverTimings(pf.Cutover); err != nil {
		errs = append(errs, err)
	}
	if pf.BandwidthMbit < 0 || pf.BandwidthMbit > maxBandwidthMbit {
		errs = append(errs, &FieldError{"bandwidth_mbit", bandwidthErr(pf.BandwidthMbit)})
	}
	if !seen["provider.receiver_kind"] { // checked above when VM selection runs
		if err := validReceiverKind(pf.Provider.ReceiverKind, pf); err != nil {
			errs = append(errs, &FieldError{"provider.receiver_kind", err})
		}
	}
	for i, p := range pf.Probes {
		if err := p.check(); err != nil {
			errs = append(errs, &FieldError{fmt.Sprintf("probes[%d] (%s)", i, p.label(i)), err})
		}
		for j, n := range p.VMs {
			if n == "" || !names[n] {
				errs = append(errs, &FieldError{fmt.Sprintf("probes[%d].vms[%d]", i, j), fmt.Errorf("%q is not a VM of the plan (vms: %s)", n, strings.Join(slices.Sorted(maps.Keys(names)), ", "))})
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &ValidationError{Path: pf.path, Errs: errs}
}

// ValidationError lists every bad answer in a plan.
type ValidationError struct {
	Path string
	Errs []error
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	if e.Path != "" {
		fmt.Fprintf(&b, "plan file %s: ", e.Path)
	} else {
		b.WriteString("plan: ")
	}
	if len(e.Errs) == 1 {
		b.WriteString(e.Errs[0].Error())
		return b.String()
	}
	fmt.Fprintf(&b, "%d problems:", len(e.Errs))
	for _, err := range e.Errs {
		b.WriteString("\n  ")
		b.WriteString(err.Error())
	}
	return b.String()
}

func (e *ValidationError) Unwrap() []error { return e.Errs }

// Save writes the plan file (the wizard saves what it collected, so the same
// answers can be replayed headless), keeping the comments and indentation
// of the file it replaces (marshalKeeping). Plans hold no secrets; 0600
// anyway because they describe infrastructure.
func (pf *PlanFile) Save(path string) error {
	b, err := marshalKeeping(pf, readIfThere(path))
	if err != nil {
		return err
	}
	if err := writeFileAtomic(path, b, 0o600); err != nil {
		return err
	}
	pf.path = path
	return nil
}

// PlanKeys lists every key a plan file may hold, as dotted paths in file
// order ("appliance.ip", "vms[].name", "networks"), read from PlanFile's
// yaml tags so that a reference built from it cannot miss a key.
func PlanKeys() []string {
	var out []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("yaml")
			if !f.IsExported() || tag == "-" || tag == "" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if strings.Contains(opts, "inline") {
				walk(ft, prefix)
				continue
			}
			key := prefix + name
			switch {
			case ft.Kind() == reflect.Struct:
				out = append(out, key)
				walk(ft, key+".")
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				out = append(out, key)
				walk(ft.Elem(), key+"[].")
			default:
				out = append(out, key)
			}
		}
	}
	walk(reflect.TypeOf(PlanFile{}), "")
	return out
}

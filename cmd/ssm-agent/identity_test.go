package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestIdentityConfigDefaults(t *testing.T) {
	cfg, warnings, err := parseConfig([]byte(`{}`))
	if err != nil || len(warnings) != 0 {
		t.Fatal(err, warnings)
	}
	if !slices.Equal(cfg.Identity.ConsumptionOrder, []string{"OnPrem", "EC2", "CustomIdentity"}) || cfg.Identity.CustomIdentities != nil {
		t.Errorf("default Identity = %+v", cfg.Identity)
	}
	// Container mode with the default order is ECS alone, as in SSM.
	for _, in := range []string{`{"Agent": {"ContainerMode": true}}`, `{"agent": {"containermode": true}, "Identity": {"ConsumptionOrder": ["OnPrem", "EC2", "CustomIdentity"]}}`} {
		cfg, _, err = parseConfig([]byte(in))
		if err != nil || !slices.Equal(cfg.Identity.ConsumptionOrder, []string{"ECS"}) {
			t.Errorf("%s: order %v, %v", in, cfg.Identity.ConsumptionOrder, err)
		}
	}
	cfg, _, err = parseConfig([]byte(`{"Agent": {"ContainerMode": true}, "Identity": {"ConsumptionOrder": ["EC2", "ECS"]}}`))
	if err != nil || !slices.Equal(cfg.Identity.ConsumptionOrder, []string{"EC2", "ECS"}) {
		t.Errorf("container mode with an order of its own: %v, %v", cfg.Identity.ConsumptionOrder, err)
	}
}

func TestIdentityConfigParse(t *testing.T) {
	cfg, warnings, err := parseConfig([]byte(`{"identity": {"consumptionorder": ["ec2", "CustomIdentity", "Bogus"],
		"CUSTOMIDENTITIES": [{"instanceid": "i-0123456789abcdef0", "Region": "eu-west-1", "availabilityZoneId": "euw1-az1", "CredentialsProvider": "ENV", "Extra": 1},
		{"InstanceID": "mi-2", "CredentialsProvider": "DEFAULT"}], "Ec2SystemInfoDetectionResponse": "maybe", "Other": true}}`))
	if err != nil {
		t.Fatal(err)
	}
	id := cfg.Identity
	if !slices.Equal(id.ConsumptionOrder, []string{"CustomIdentity"}) || len(id.CustomIdentities) != 2 {
		t.Fatalf("Identity = %+v", id)
	}
	want := CustomIdentity{InstanceID: "i-0123456789abcdef0", Region: "eu-west-1", AvailabilityZoneId: "euw1-az1", CredentialsProvider: "DEFAULT"}
	if id.CustomIdentities[0] != want || id.CustomIdentities[1].InstanceID != "mi-2" || id.Ec2SystemInfoDetectionResponse != "" {
		t.Errorf("Identity = %+v", id)
	}
	for _, w := range []string{
		`identity.consumptionorder[0] is "ec2": not an identity type (OnPrem, EC2, ECS, CustomIdentity; case matters), dropped as SSM drops it (did you mean EC2?)`,
		`identity.consumptionorder[2] is "Bogus"`,
		`identity.CUSTOMIDENTITIES[0].CredentialsProvider is "ENV": only DEFAULT`,
		`identity.CUSTOMIDENTITIES[0].Extra is not a known key`,
		`identity.Ec2SystemInfoDetectionResponse is "maybe"`,
		`identity.Other is not a known key and is ignored`,
	} {
		if !slices.ContainsFunc(warnings, func(s string) bool { return strings.HasPrefix(s, w) }) {
			t.Errorf("no warning %q in:\n%s", w, strings.Join(warnings, "\n"))
		}
	}
	// An order of nothing known is the default.
	cfg, warnings, err = parseConfig([]byte(`{"Identity": {"ConsumptionOrder": ["onprem"]}}`))
	if err != nil || !slices.Equal(cfg.Identity.ConsumptionOrder, defaultConsumptionOrder) || !strings.Contains(strings.Join(warnings, "\n"), "names no identity type: using the default") {
		t.Errorf("order of unknown types: %v, %q, %v", cfg.Identity.ConsumptionOrder, warnings, err)
	}
	// SSM's template's section, and null, are accepted.
	for _, in := range []string{`{"Identity": null}`, `{"Identity": {"ConsumptionOrder": null, "CustomIdentities": []}}`} {
		if cfg, warnings, err := parseConfig([]byte(in)); err != nil || len(warnings) != 0 || len(cfg.Identity.ConsumptionOrder) != 3 {
			t.Errorf("%s: %+v, %q, %v", in, cfg.Identity, warnings, err)
		}
	}
}

func TestIdentityConfigErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"Identity": {"ConsumptionOrder": ["EC2"], "consumptionOrder": ["CustomIdentity"]}}`, `keys "ConsumptionOrder" and "consumptionOrder" of "Identity" differ only in case`},
		{`{"Identity": {"ConsumptionOrder": ["EC2"], "ConsumptionOrder": ["EC2"]}}`, `key "Identity.ConsumptionOrder" appears twice`},
		{`{"Identity": {}, "identity": {}}`, `keys "Identity" and "identity" of the configuration differ only in case`},
		{`{"Identity": {"CustomIdentities": [{"InstanceID": "a", "instanceId": "b"}]}}`, `keys "InstanceID" and "instanceId" of "Identity.CustomIdentities[0]" differ only in case`},
		{`{"Identity": {"CustomIdentities": [{"Region": "us-east-1"}]}}`, `Identity.CustomIdentities[0].InstanceID is empty`},
		{`{"Identity": {"CustomIdentities": [{"InstanceID": 7}]}}`, `Identity.CustomIdentities[0].InstanceID: want a string, got number`},
		{`{"Identity": {"CustomIdentities": {"InstanceID": "a"}}}`, `Identity.CustomIdentities: want a list of objects, got object`},
		{`{"Identity": {"CustomIdentities": ["a"]}}`, `Identity.CustomIdentities[0]: want an object, got a string`},
		{`{"Identity": {"ConsumptionOrder": "EC2"}}`, `Identity.ConsumptionOrder: want a list of strings, got string`},
		{`{"Identity": []}`, `Identity: want an object, got a list`},
		{`{"Agent": {"ContainerMode": "yes"}}`, `Agent.ContainerMode: want a bool, got "yes"`},
	}
	for _, tt := range tests {
		_, _, err := parseConfig([]byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseConfig(%s) = %v, want %q", tt.in, err, tt.want)
		}
	}
}

// fakeEnv is a host where EC2 answers with ec2 (if set), ECS with ecs, and
// an OnPrem registration exists if registered.
func fakeEnv(ec2, ecs string, registered bool) identityEnv {
	answer := func(v, what string) func(context.Context) (string, error) {
		return func(context.Context) (string, error) {
			if v == "" {
				return "", errors.New(what + " is absent")
			}
			return v, nil
		}
	}
	return identityEnv{ec2: answer(ec2, "IMDS"), ecs: answer(ecs, "ECS"),
		registration: func() (string, bool) { return "/data/Vault/Store/RegistrationKey", registered }}
}

func TestSelectIdentity(t *testing.T) {
	custom := []CustomIdentity{{InstanceID: "i-custom", Region: "us-east-1"}, {InstanceID: "i-second"}}
	tests := []struct {
		name       string
		order      []string
		custom     []CustomIdentity
		env        identityEnv
		typ, id    string
		wantErrors []string
	}{
		{"default order on EC2", defaultConsumptionOrder, custom, fakeEnv("i-ec2", "", false), "EC2", "i-ec2", nil},
		{"default order off EC2", defaultConsumptionOrder, custom, fakeEnv("", "", false), "CustomIdentity", "i-custom", nil},
		{"custom first", []string{"CustomIdentity", "EC2"}, custom, fakeEnv("i-ec2", "", false), "CustomIdentity", "i-custom", nil},
		{"ECS", []string{"ECS"}, nil, fakeEnv("i-ec2", "ecs:c_t_d", false), "ECS", "ecs:c_t_d", nil},
		{"OnPrem absent, EC2 next", defaultConsumptionOrder, nil, fakeEnv("i-ec2", "", false), "EC2", "i-ec2", nil},
		{"OnPrem registered", defaultConsumptionOrder, custom, fakeEnv("i-ec2", "", true), "", "",
			[]string{"Identity.ConsumptionOrder", "OnPrem registration is not supported by this build", "/data/Vault/Store/RegistrationKey"}},
		{"OnPrem only", []string{"OnPrem"}, nil, fakeEnv("", "", false), "", "",
			[]string{"Identity: no identity of Identity.ConsumptionOrder [OnPrem]", "OnPrem registration is not supported by this build"}},
		{"nothing", defaultConsumptionOrder, nil, fakeEnv("", "", false), "", "",
			[]string{"Identity: no identity", "EC2: the metadata service did not answer: IMDS is absent", "CustomIdentity: Identity.CustomIdentities is empty"}},
	}
	for _, tt := range tests {
		id, err := selectIdentity(context.Background(), IdentityConfig{ConsumptionOrder: tt.order, CustomIdentities: tt.custom}, tt.env)
		if tt.wantErrors != nil {
			for _, w := range tt.wantErrors {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("%s: err = %v, want %q", tt.name, err, w)
				}
			}
			continue
		}
		if err != nil || id.IdentityType != tt.typ || id.InstanceId != tt.id || id.SchemaVersion != "1.1" {
			t.Errorf("%s: %+v, %v; want %s %s", tt.name, id, err, tt.typ, tt.id)
		}
	}
}

// fakeIMDS serves the EC2 metadata service's token and identity document
// on loopback, for instance id.
func fakeIMDS(t *testing.T, id string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token":
			w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", "21600")
			io.WriteString(w, "token")
		case r.URL.Path == "/latest/dynamic/instance-identity/document":
			fmt.Fprintf(w, `{"instanceId": %q, "region": "eu-west-1", "availabilityZone": "eu-west-1a", "instanceType": "t3.micro", "accountId": "123456789012"}`, id)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestIdentityEC2FromMetadataService(t *testing.T) {
	srv := fakeIMDS(t, "i-0feedfacefeedface")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "false")
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", srv.URL)
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	data := t.TempDir()
	cfg, _, _ := parseConfig([]byte(`{"Identity": {"CustomIdentities": [{"InstanceID": "i-custom"}]}}`))
	c := &core{g: &globals{dataDir: data}, cfg: cfg, log: slog.New(slog.DiscardHandler)}
	if err := c.writeIdentity(); err != nil {
		t.Fatal(err)
	}
	var got runtimeIdentity
	b, _ := os.ReadFile(identityFile(data))
	if err := json.Unmarshal(b, &got); err != nil || got.IdentityType != "EC2" || got.InstanceId != "i-0feedfacefeedface" {
		t.Errorf("identity file %s, %v", b, err)
	}
	// Without the metadata service, the custom identity after EC2.
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	if err := c.writeIdentity(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(identityFile(data)); !strings.Contains(string(b), `"InstanceId":"i-custom","IdentityType":"CustomIdentity"`) {
		t.Errorf("identity file off EC2: %s", b)
	}
}

func TestIdentityECSFromTaskMetadata(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v3/abc/task":
			io.WriteString(w, `{"Cluster": "arn:aws:ecs:us-west-2:123456789012:cluster/default", "TaskARN": "arn:aws:ecs:us-west-2:123456789012:task/default/158d1c8083dd49d6b527399fd6414f5c"}`)
		case "/v3/abc":
			io.WriteString(w, `{"DockerId": "ea32192c8553fbff06c9340478a2ff089b2bb5646fb718b4ee206641c9086d66"}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	id, err := ecsInstanceID(context.Background(), srv.URL+"/v3/abc")
	if want := "ecs:default_158d1c8083dd49d6b527399fd6414f5c_ea32192c8553fbff06c9340478a2ff089b2bb5646fb718b4ee206641c9086d66"; err != nil || id != want {
		t.Errorf("ECS id %q, %v; want %q", id, err, want)
	}
	if _, err := ecsInstanceID(context.Background(), srv.URL+"/nothing"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("no task metadata: %v", err)
	}
	if _, err := ecsInstanceID(context.Background(), ""); err == nil || !strings.Contains(err.Error(), "ECS_CONTAINER_METADATA_URI is not set") {
		t.Errorf("no endpoint: %v", err)
	}
}

func TestArgsForName(t *testing.T) {
	tests := []struct {
		argv []string
		want []string
	}{
		{[]string{"/usr/bin/ssm-agent-worker"}, []string{"worker", "--protocol", "ssm-v3"}},
		{[]string{"ssm-agent-worker.exe"}, []string{"worker", "--protocol", "ssm-v3"}},
		{[]string{"./ssm-agent-worker", "--health-socket", "/h"}, []string{"worker", "--protocol", "ssm-v3", "--health-socket", "/h"}},
		{[]string{"/usr/bin/amazon-ssm-agent"}, []string{}},
		{[]string{"amazon-ssm-agent.EXE", "status"}, []string{"status"}},
		{[]string{"/opt/ssm-agent/current/ssm-agent", "worker"}, []string{"worker"}},
		{[]string{"/x/ssm-agent-worker-old"}, []string{}},
	}
	for _, tt := range tests {
		if got := argsFor(tt.argv); !slices.Equal(got, tt.want) {
			t.Errorf("argsFor(%q) = %q, want %q", tt.argv, got, tt.want)
		}
	}
}

func FuzzIdentitySection(f *testing.F) {
	f.Add([]byte(`{"ConsumptionOrder": ["CustomIdentity"], "CustomIdentities": [{"InstanceID": "i-1", "Region": "us-east-1"}]}`))
	f.Add([]byte(`{"consumptionorder": ["EC2"], "ConsumptionOrder": []}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, section []byte) {
		cfg, _, err := parseConfig([]byte(`{"Identity": ` + string(section) + `}`))
		if err != nil {
			return
		}
		if len(cfg.Identity.ConsumptionOrder) == 0 {
			t.Fatalf("an accepted section left no order: %s", section)
		}
		for _, typ := range cfg.Identity.ConsumptionOrder {
			if !slices.Contains(identityTypes, typ) {
				t.Fatalf("unknown type %q kept from %s", typ, section)
			}
		}
		for _, ci := range cfg.Identity.CustomIdentities {
			if ci.InstanceID == "" || ci.CredentialsProvider != "DEFAULT" {
				t.Fatalf("custom identity %+v accepted from %s", ci, section)
			}
		}
	})
}

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// SSM's Identity section says which identity the agent takes: the v3 core
// picks one and writes it to the runtime identity file, and the v3 worker
// accepts the file only if the same section of its own configuration lets
// it reach the same identity (facts sheet §9).

// Identity types, as SSM spells them (compared case-sensitively, as SSM
// does).
const (
	identityOnPrem = "OnPrem"
	identityEC2    = "EC2"
	identityCustom = "CustomIdentity"
	identityECS    = "ECS"
)

// defaultConsumptionOrder is SSM's default Identity.ConsumptionOrder; in
// container mode it means ECS only.
var defaultConsumptionOrder = []string{identityOnPrem, identityEC2, identityCustom}

// identityTypes are the types SSM knows; others are dropped from the order.
var identityTypes = []string{identityOnPrem, identityECS, identityEC2, identityCustom}

// defaultCredentialsProvider is the only CustomIdentity credentials
// provider: the SDK's default chain.
const defaultCredentialsProvider = "DEFAULT"

// IdentityConfig is SSM's Identity section, with SSM's defaults filled in.
type IdentityConfig struct {
	// ConsumptionOrder is the identity types to try, first match wins:
	// OnPrem, EC2, ECS, CustomIdentity. Default OnPrem, EC2,
	// CustomIdentity; ECS alone when Agent.ContainerMode is true and the
	// order is the default. Unknown types are dropped, as SSM drops them.
	ConsumptionOrder []string
	// CustomIdentities are the identities of type CustomIdentity; the
	// first is taken when CustomIdentity's turn comes.
	CustomIdentities []CustomIdentity
	// Ec2SystemInfoDetectionResponse is SSM's override of its EC2
	// detection, "true", "false" or "" (accepted, not used by this core).
	Ec2SystemInfoDetectionResponse string
}

// CustomIdentity is one entry of Identity.CustomIdentities.
type CustomIdentity struct {
	InstanceID          string // required: the id the worker must find
	Region              string
	AvailabilityZone    string
	AvailabilityZoneId  string
	InstanceType        string
	CredentialsProvider string // DEFAULT (the default, and the only one)
}

var identityKeys = []string{"ConsumptionOrder", "CustomIdentities", "Ec2SystemInfoDetectionResponse"}

var customIdentityKeys = []string{"InstanceID", "Region", "AvailabilityZone", "AvailabilityZoneId", "InstanceType", "CredentialsProvider"}

// checkIdentity reads SSM's Identity section out of a configuration's
// sections (keys case-insensitive, as SSM's loader reads them) into id,
// with Agent.ContainerMode, and returns the warnings about it.
func checkIdentity(sections map[string]json.RawMessage, id *IdentityConfig) ([]string, error) {
	identity, name, err := sectionNamed(sections, "Identity")
	if err != nil {
		return nil, err
	}
	var warnings []string
	if identity != nil {
		w, err := parseIdentity(name, identity, id)
		if err != nil {
			return nil, err
		}
		warnings = w
	}
	if len(id.ConsumptionOrder) == 0 {
		id.ConsumptionOrder = slices.Clone(defaultConsumptionOrder)
	}
	container, err := containerMode(sections)
	if err != nil {
		return nil, err
	}
	if container && slices.Equal(id.ConsumptionOrder, defaultConsumptionOrder) {
		id.ConsumptionOrder = []string{identityECS}
	}
	return warnings, nil
}

// sectionNamed returns the section whose name equals want but for case,
// and its name as spelled; nil if there is none. Two such sections are an
// error.
func sectionNamed(sections map[string]json.RawMessage, want string) (json.RawMessage, string, error) {
	var found []string
	for name := range sections {
		if strings.EqualFold(name, want) {
			found = append(found, name)
		}
	}
	switch len(found) {
	case 0:
		return nil, "", nil
	case 1:
		return sections[found[0]], found[0], nil
	}
	slices.Sort(found)
	return nil, "", fmt.Errorf("sections %q and %q are the same section (SSM reads names case-insensitively): keep one", found[0], found[1])
}

// containerMode reads Agent.ContainerMode.
func containerMode(sections map[string]json.RawMessage) (bool, error) {
	agent, _, err := sectionNamed(sections, "Agent")
	if err != nil || agent == nil {
		return false, err
	}
	fields, err := objectFields("Agent", agent)
	if err != nil {
		return false, nil // the Agent section's own parser reports it
	}
	for _, f := range fields {
		if strings.EqualFold(f.key, "ContainerMode") {
			var on bool
			if err := json.Unmarshal(f.value, &on); err != nil {
				return false, fmt.Errorf("Agent.%s: want a bool, got %s", f.key, f.value)
			}
			return on, nil
		}
	}
	return false, nil
}

// parseIdentity parses the Identity section, called name in the file.
func parseIdentity(name string, raw json.RawMessage, id *IdentityConfig) ([]string, error) {
	fields, err := objectFields(name, raw)
	if err != nil {
		return nil, err
	}
	var warnings []string
	for _, f := range fields {
		path := name + "." + f.key
		switch strings.ToLower(f.key) {
		case "consumptionorder":
			w, err := parseConsumptionOrder(path, f.value, id)
			if err != nil {
				return nil, err
			}
			warnings = append(warnings, w...)
		case "customidentities":
			w, err := parseCustomIdentities(path, f.value, id)
			if err != nil {
				return nil, err
			}
			warnings = append(warnings, w...)
		case "ec2systeminfodetectionresponse":
			var s string
			if err := decodeValue(path, f.value, &s); err != nil {
				return nil, err
			}
			if s != "" && s != "true" && s != "false" {
				warnings = append(warnings, fmt.Sprintf("%s is %q: want \"true\" or \"false\"; ignored, as SSM does", path, s))
				s = ""
			}
			id.Ec2SystemInfoDetectionResponse = s
		default:
			warnings = append(warnings, fmt.Sprintf("%s is not a known key and is ignored%s", path, suggest(f.key, identityKeys)))
		}
	}
	return warnings, nil
}

// parseConsumptionOrder reads the order, dropping the types SSM does not
// know as SSM drops them, with a warning each.
func parseConsumptionOrder(path string, raw json.RawMessage, id *IdentityConfig) ([]string, error) {
	var order []string
	if err := decodeValue(path, raw, &order); err != nil {
		return nil, err
	}
	var warnings []string
	id.ConsumptionOrder = nil
	for i, t := range order {
		if !slices.Contains(identityTypes, t) {
			warnings = append(warnings, fmt.Sprintf("%s[%d] is %q: not an identity type (OnPrem, EC2, ECS, CustomIdentity; case matters), dropped as SSM drops it%s",
				path, i, t, suggest(t, identityTypes)))
			continue
		}
		id.ConsumptionOrder = append(id.ConsumptionOrder, t)
	}
	if len(order) > 0 && len(id.ConsumptionOrder) == 0 {
		warnings = append(warnings, fmt.Sprintf("%s names no identity type: using the default, %s", path, strings.Join(defaultConsumptionOrder, ", ")))
	}
	return warnings, nil
}

// parseCustomIdentities reads the custom identities.
func parseCustomIdentities(path string, raw json.RawMessage, id *IdentityConfig) ([]string, error) {
	var entries []json.RawMessage
	if err := decodeValue(path, raw, &entries); err != nil {
		return nil, err
	}
	var warnings []string
	id.CustomIdentities = nil
	for i, e := range entries {
		at := fmt.Sprintf("%s[%d]", path, i)
		fields, err := objectFields(at, e)
		if err != nil {
			return nil, err
		}
		var ci CustomIdentity
		for _, f := range fields {
			k := slices.IndexFunc(customIdentityKeys, func(known string) bool { return strings.EqualFold(known, f.key) })
			if k < 0 {
				warnings = append(warnings, fmt.Sprintf("%s.%s is not a known key and is ignored%s", at, f.key, suggest(f.key, customIdentityKeys)))
				continue
			}
			dst := []*string{&ci.InstanceID, &ci.Region, &ci.AvailabilityZone, &ci.AvailabilityZoneId, &ci.InstanceType, &ci.CredentialsProvider}[k]
			if err := decodeValue(at+"."+f.key, f.value, dst); err != nil {
				return nil, err
			}
		}
		if ci.InstanceID == "" {
			return nil, fmt.Errorf("%s.InstanceID is empty: a custom identity needs the instance id the worker is to find", at)
		}
		if ci.CredentialsProvider != defaultCredentialsProvider {
			if ci.CredentialsProvider != "" {
				warnings = append(warnings, fmt.Sprintf("%s.CredentialsProvider is %q: only DEFAULT (the SDK's default chain) exists; using it", at, ci.CredentialsProvider))
			}
			ci.CredentialsProvider = defaultCredentialsProvider
		}
		id.CustomIdentities = append(id.CustomIdentities, ci)
	}
	return warnings, nil
}

// decodeValue decodes one value, naming path and the types on a mismatch.
func decodeValue(path string, raw json.RawMessage, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("%s: want %s, got %s", path, jsonTypeName(v), te.Value)
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func jsonTypeName(v any) string {
	switch v.(type) {
	case *string:
		return "a string"
	case *[]string:
		return "a list of strings"
	}
	return "a list of objects"
}

// A field is one key and value of a JSON object, in the file's order.
type field struct {
	key   string
	value json.RawMessage
}

// objectFields returns the fields of the JSON object raw, called path. A
// key present twice, or twice but for case (SSM's loader, Go's
// encoding/json, would silently take one), is an error naming both.
func objectFields(path string, raw json.RawMessage) ([]field, error) {
	if string(bytes.TrimSpace(raw)) == "null" {
		return nil, nil // as SSM's loader: nothing set
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("%s: want an object, got %s", path, jsonKind(raw))
	}
	var fields []field
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		key, ok := tok.(string) // inside an object, a token before a value is a key
		if !ok {
			return nil, fmt.Errorf("%s: want a key, got %v", path, tok)
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, fmt.Errorf("%s.%s: %w", path, key, err)
		}
		for _, f := range fields {
			if f.key == key {
				return nil, fmt.Errorf("%s: key %q twice: keep one", path, key)
			}
			if strings.EqualFold(f.key, key) {
				return nil, fmt.Errorf("%s: keys %q and %q are the same key (SSM reads keys case-insensitively): keep one", path, f.key, key)
			}
		}
		fields = append(fields, field{key, value})
	}
	if _, err := dec.Token(); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return fields, nil
}

// jsonKind names the kind of a JSON value, for an error.
func jsonKind(raw json.RawMessage) string {
	b := bytes.TrimSpace(raw)
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '[':
		return "a list"
	case '"':
		return "a string"
	case 't', 'f':
		return "a bool"
	case 'n':
		return "null"
	case '{':
		return "an object"
	}
	return "a number"
}

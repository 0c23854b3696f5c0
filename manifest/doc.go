// Package manifest reads the SSM agent release manifest
// (ssm-agent-manifest.json) and answers the question an agent asks of it:
// is my version deprecated, and what should I update to?
//
// Parse reads a manifest with a size limit, validates every field, and
// reports any problem with the JSON path of the offending value, such as
//
//	manifest: Packages[0].Files[2].AvailableVersions[5].Version: invalid version "1.x.0": …
//
// Keys match case-insensitively, as in the SSM Agent (real manifests spell
// CheckSum). Versions compare as the SSM Agent compares them (see Version).
// DetectPlatform finds the host's manifest platform from os-release, mapping
// an unknown Linux to linux, never to windows. Manifest.Decide applies the
// update rule: act only on a Deprecated version, target the latest Active
// release, and never downgrade unless asked to.
//
// The smallest use:
//
//	m, err := manifest.Parse(r)
//	if err != nil { … }
//	platform, err := manifest.DetectPlatform("")
//	if err != nil { … }
//	d, err := m.Decide(manifest.Query{
//		Package:  "amazon-ssm-agent",
//		Platform: platform,
//		Current:  manifest.MustParseVersion("3.0.151.0"),
//	})
//	if err != nil { … }
//	if d.Action == manifest.ActionUpdate { … install d.Target … }
//
// The package imports only the standard library. A Manifest is safe for
// concurrent queries once parsed.
package manifest

package manifest

import (
	"errors"
	"strings"
	"testing"
)

func TestDecide(t *testing.T) {
	rel := func(v, status string) string {
		return `{"Version":"` + v + `","CheckSum":"` + sumA + `","Status":"` + status + `"}`
	}
	linux := Platform{PlatformLinux, "amd64"}
	tests := []struct {
		name      string
		releases  string
		current   string
		downgrade bool
		action    Action
		target    string
		reason    string
		err       error
	}{
		{"deprecated to the numeric maximum", rel("3.0.151.0", "Deprecated") + "," + rel("3.0.999.0", "Active") + "," + rel("3.0.1000.0", "Active") + "," + rel("3.0.1001.0", "Inactive"),
			"3.0.151.0", false, ActionUpdate, "3.0.1000.0", "current version 3.0.151.0 is Deprecated; 3.0.1000.0 is the latest Active release", nil},
		{"active stays", rel("3.0.151.0", "Active") + "," + rel("3.1.0.0", "Active"),
			"3.0.151.0", false, ActionNone, "", "current version 3.0.151.0 is Active; only a Deprecated version is updated", nil},
		{"empty status is active", rel("3.0.151.0", "") + "," + rel("3.1.0.0", "Active"),
			"3.0.151.0", false, ActionNone, "", "is Active", nil},
		{"inactive stays", rel("3.0.151.0", "Inactive") + "," + rel("3.1.0.0", "Active"),
			"3.0.151.0", false, ActionNone, "", "is Inactive", nil},
		{"deprecated without active", rel("3.0.151.0", "Deprecated") + "," + rel("3.1.0.0", "Inactive") + "," + rel("3.2", "Foo"),
			"3.0.151.0", false, ActionNone, "", "has no Active release to update to", nil},
		{"unknown statuses are not targets", rel("3.0.151.0", "Deprecated") + "," + rel("3.1", "Active") + "," + rel("3.2", "active") + "," + rel("3.3", "Foo"),
			"3.0.151.0", false, ActionUpdate, "3.1", "", nil},
		{"no downgrade by default", rel("3.1.0.0", "Deprecated") + "," + rel("3.0.0.0", "Active"),
			"3.1.0.0", false, ActionNone, "", "the latest Active release 3.0.0.0 is older and downgrades are not allowed", nil},
		{"downgrade when allowed", rel("3.1.0.0", "Deprecated") + "," + rel("3.0.0.0", "Active"),
			"3.1.0.0", true, ActionUpdate, "3.0.0.0", "(a downgrade, allowed by the query)", nil},
		{"current matches with leading zeros", rel("3.0.151.0", "Deprecated") + "," + rel("3.1", "Active"),
			"03.00.0151.0", false, ActionUpdate, "3.1", "current version 3.0.151.0 is Deprecated", nil},
		{"current absent", rel("3.0.151.0", "Deprecated"),
			"3.0.151", false, "", "", `version not found: "3.0.151" in file "amazon-ssm-agent-linux-amd64.tar.gz"`, ErrVersionNotFound},
		{"current status unknown", rel("3.0.151.0", "deprecated") + "," + rel("3.1", "Active"),
			"3.0.151.0", false, "", "", `unknown status "deprecated" for version 3.0.151.0 of amazon-ssm-agent-linux-amd64.tar.gz`, ErrUnknownStatus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustParse(t, doc(tt.releases))
			d, err := m.Decide(Query{Package: "amazon-ssm-agent", Platform: linux, Current: MustParseVersion(tt.current), AllowDowngrade: tt.downgrade})
			if tt.err != nil {
				if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.reason) {
					t.Fatalf("Decide error = %v, want %v saying %q", err, tt.err, tt.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != tt.action {
				t.Errorf("Action = %q, want %q (%s)", d.Action, tt.action, d.Reason)
			}
			if (d.Target != nil) != (d.Action == ActionUpdate) {
				t.Errorf("Target %v with Action %q: a target must be set exactly for an update", d.Target, d.Action)
			}
			if d.Target != nil && d.Target.Version.String() != tt.target {
				t.Errorf("Target = %s, want %s", d.Target.Version, tt.target)
			}
			if !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("Reason = %q, want it to contain %q", d.Reason, tt.reason)
			}
		})
	}
}

func TestDecideBadQuery(t *testing.T) {
	m := mustParse(t, doc(`{"Version":"1.0","CheckSum":"`+sumA+`"}`))
	if _, err := m.Decide(Query{Package: "amazon-ssm-agent", Platform: Platform{PlatformLinux, "amd64"}}); !errors.Is(err, ErrInvalidVersion) {
		t.Errorf("zero current version: error %v, want ErrInvalidVersion", err)
	}
	_, err := m.Decide(Query{Package: "amazon-ssm-agent", Platform: Platform{"windows", "amd64"}, Current: MustParseVersion("1.0")})
	if !errors.Is(err, ErrFileNotFound) ||
		!strings.Contains(err.Error(), `"amazon-ssm-agent-windows-amd64.zip"`) ||
		!strings.Contains(err.Error(), "amazon-ssm-agent-linux-amd64.tar.gz") {
		t.Errorf("missing platform: error %v, want ErrFileNotFound naming the wanted and the present files", err)
	}
	_, err = m.Decide(Query{Package: "amazon-ssm-agent-updater", Platform: Platform{"linux", "amd64"}, Current: MustParseVersion("1.0")})
	if !errors.Is(err, ErrPackageNotFound) || !strings.Contains(err.Error(), `"amazon-ssm-agent-updater" (the manifest has amazon-ssm-agent)`) {
		t.Errorf("missing package: error %v", err)
	}
}

// The returned target is a copy: changing it does not change the manifest.
func TestDecideTargetIsACopy(t *testing.T) {
	m := mustParse(t, doc(`{"Version":"1.0","CheckSum":"`+sumA+`","Status":"Deprecated"},{"Version":"2.0","CheckSum":"`+sumB+`"}`))
	q := Query{Package: "amazon-ssm-agent", Platform: Platform{PlatformLinux, "amd64"}, Current: MustParseVersion("1.0")}
	d, err := m.Decide(q)
	if err != nil || d.Target == nil {
		t.Fatalf("Decide = %+v, %v", d, err)
	}
	d.Target.Checksum = "changed"
	d2, _ := m.Decide(q)
	if d2.Target.Checksum != sumB {
		t.Errorf("changing a decision's target changed the manifest: checksum %q", d2.Target.Checksum)
	}
}

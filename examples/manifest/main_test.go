package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	var out bytes.Buffer
	err := run(&out, []string{"-platform", "linux", "-version", "3.0.151.0", "-region", "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	want := "download https://s3.eu-west-1.amazonaws.com/amazon-ssm-eu-west-1/amazon-ssm-agent/3.3.987.0/amazon-ssm-agent-linux-"
	if !strings.Contains(out.String(), "update: current version 3.0.151.0 is Deprecated") || !strings.Contains(out.String(), want) {
		t.Errorf("output:\n%s", out.String())
	}
	if err := run(&out, []string{"-platform", "freebsd"}); err == nil || !strings.Contains(err.Error(), "file not found") {
		t.Errorf("a platform absent from the sample: error %v", err)
	}
}

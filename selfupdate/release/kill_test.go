package release

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestMain lets the test binary play a publisher that a test kills.
func TestMain(m *testing.M) {
	if os.Getenv("RELEASE_TEST_PUBLISHER") == "1" {
		os.Exit(publisherChild())
	}
	os.Exit(m.Run())
}

// publisherChild publishes the sealed manifest in $DIR to the S3 endpoint
// $ENDPOINT (or the directory $TO_DIR), and at the step $STOP says so on
// stdout and waits to be killed.
func publisherChild() int {
	dir, stop := os.Getenv("DIR"), os.Getenv("STOP")
	data, err1 := os.ReadFile(filepath.Join(dir, DefaultManifestName))
	sig, err2 := os.ReadFile(filepath.Join(dir, DefaultManifestName+".sig"))
	if err := errors.Join(err1, err2); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	var tgt Target = &DirTarget{Dir: os.Getenv("TO_DIR")}
	if os.Getenv("TO_DIR") == "" {
		tgt = s3Target(s3ClientFor(os.Getenv("ENDPOINT")))
	}
	var keys []ed25519.PublicKey
	if k := os.Getenv("PUBLIC_KEY"); k != "" {
		raw, _ := hex.DecodeString(k)
		keys = append(keys, ed25519.PublicKey(raw))
	}
	p := &Publisher{Target: tgt, Packages: filepath.Join(dir, "packages"), PublicKeys: keys,
		OnStep: func(s Step) {
			if s.Kind == stop {
				fmt.Println("at", s.Kind)
				select {} // until killed
			}
		}}
	if _, err := p.Publish(context.Background(), data, sig); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("done")
	return 0
}

// A publisher killed with SIGKILL right after a package's upload, or right
// after the signature's, leaves agents on the old manifest, which still
// verifies (the .sig holds both signatures); in both cases publishing again
// finishes the release.
func TestPublishKilled(t *testing.T) {
	key, pub := testKey(t)
	ctx := context.Background()
	for _, tc := range []struct {
		stop string
	}{{StepPackageUploaded}, {StepSignature}, {StepManifest}} {
		t.Run(tc.stop, func(t *testing.T) {
			endpoint := fakeS3URL(t)
			c := s3Client(t, endpoint)
			m := New(testFormat)
			d1, s1, dir1 := addRelease(t, m, key, "1.0.0", nil)
			if _, err := (&Publisher{Target: s3Target(c), Packages: dir1}).Publish(ctx, d1, s1); err != nil {
				t.Fatal(err)
			}
			d2, s2, dir2 := addRelease(t, m, key, "2.0.0", nil)
			work := t.TempDir()
			os.WriteFile(filepath.Join(work, DefaultManifestName), d2, 0o644)
			os.WriteFile(filepath.Join(work, DefaultManifestName+".sig"), s2, 0o644)
			os.Rename(dir2, filepath.Join(work, "packages"))

			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "RELEASE_TEST_PUBLISHER=1", "DIR="+work, "STOP="+tc.stop, "ENDPOINT="+endpoint)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			line, _ := bufio.NewReader(out).ReadString('\n')
			cmd.Process.Kill()
			cmd.Wait()
			if line != "at "+tc.stop+"\n" {
				t.Fatalf("the publisher said %q", line)
			}
			want := uint64(1)
			if tc.stop == StepManifest {
				want = 2 // the manifest is out; its .sig still holds both
			}
			if v, err := seen(t, c, pub); err != nil || v != want {
				t.Fatalf("after a kill at %s the agent sees %d, %v; want %d", tc.stop, v, err, want)
			}
			if _, err := (&Publisher{Target: s3Target(c), Packages: filepath.Join(work, "packages")}).Publish(ctx, d2, s2); err != nil {
				t.Fatal(err)
			}
			if v, err := seen(t, c, pub); err != nil || v != 2 {
				t.Fatalf("after publishing again the agent sees %d, %v", v, err)
			}
		})
	}
}

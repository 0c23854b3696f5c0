package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/ssmkit/ssmkit/internal/atomicfile"
)

// runtimeIdentity is the v3 worker's runtime identity file,
// <data dir>/runtimeconfig/identity_config.json (facts sheet §9): its
// fields in SSM's order, zero times as Go writes them
// ("0001-01-01T00:00:00Z").
type runtimeIdentity struct {
	SchemaVersion          string
	InstanceId             string
	IdentityType           string
	ShareFile              string
	ShareProfile           string
	CredentialsExpiresAt   time.Time
	CredentialsRetrievedAt time.Time
	CredentialSource       string
}

// identitySchemaVersion is the file's SchemaVersion, as the v3 core writes it.
const identitySchemaVersion = "1.1"

// sameIdentity says whether two identity files name the same identity, by
// the fields whose change makes the v3 core rewrite the file.
func sameIdentity(a, b runtimeIdentity) bool {
	return a.InstanceId == b.InstanceId && a.IdentityType == b.IdentityType &&
		a.ShareFile == b.ShareFile && a.ShareProfile == b.ShareProfile
}

// identityEnv is what the selection asks of the host, one question per
// identity type whose environment must be present.
type identityEnv struct {
	ec2          func(ctx context.Context) (instanceID string, err error) // the metadata service
	ecs          func(ctx context.Context) (instanceID string, err error) // the ECS task metadata
	registration func() (path string, ok bool)                            // an OnPrem registration
}

// onPremUnsupported is what this build says of OnPrem.
const onPremUnsupported = "OnPrem registration is not supported by this build (it keeps no registration vault and runs no credential refresher)"

// selectIdentity picks the identity as the v3 core does: the first type of
// Identity.ConsumptionOrder whose environment is present. OnPrem, when it
// would be picked, is refused; nothing picked is an error that says why
// each type was not.
func selectIdentity(ctx context.Context, cfg IdentityConfig, env identityEnv) (runtimeIdentity, error) {
	id := runtimeIdentity{SchemaVersion: identitySchemaVersion}
	var why []string
	for _, t := range cfg.ConsumptionOrder {
		var err error
		switch t {
		case identityCustom:
			if len(cfg.CustomIdentities) > 0 {
				id.IdentityType, id.InstanceId = t, cfg.CustomIdentities[0].InstanceID
				return id, nil
			}
			err = errors.New("Identity.CustomIdentities is empty")
		case identityEC2:
			if id.InstanceId, err = env.ec2(ctx); err == nil {
				id.IdentityType = t
				return id, nil
			}
			err = fmt.Errorf("the metadata service did not answer: %w", err)
		case identityECS:
			if id.InstanceId, err = env.ecs(ctx); err == nil {
				id.IdentityType = t
				return id, nil
			}
		case identityOnPrem:
			if path, ok := env.registration(); ok {
				return runtimeIdentity{}, fmt.Errorf("Identity.ConsumptionOrder: OnPrem is the first identity present (a registration is at %s), and %s: "+
					"put the identity to use (CustomIdentity, EC2) before OnPrem in Identity.ConsumptionOrder, or run SSM's own core", path, onPremUnsupported)
			}
			err = fmt.Errorf("no registration, and %s", onPremUnsupported)
		}
		why = append(why, fmt.Sprintf("%s: %v", t, err))
	}
	return runtimeIdentity{}, fmt.Errorf("Identity: no identity of Identity.ConsumptionOrder [%s] is present here (%s): configure one in the Identity section, "+
		`such as {"ConsumptionOrder": ["CustomIdentity"], "CustomIdentities": [{"InstanceID": "...", "Region": "..."}]}`,
		strings.Join(cfg.ConsumptionOrder, ", "), strings.Join(why, "; "))
}

// identityTimeout bounds the selection of the identity.
const identityTimeout = 5 * time.Second

// writeIdentity selects the v3 worker's identity and writes its file;
// an identity the worker would reject is an error, and no file.
func (c *core) writeIdentity() error {
	ctx, cancel := context.WithTimeout(context.Background(), identityTimeout)
	defer cancel()
	id, err := selectIdentity(ctx, c.cfg.Identity, c.identityEnv())
	if err != nil {
		return err
	}
	changed, err := writeIdentityFile(c.g.dataDir, id)
	if err != nil {
		return fmt.Errorf("the ssm-v3 worker's identity file: %w", err)
	}
	c.log.Info("ssm-v3 worker identity", "type", id.IdentityType, "instance", id.InstanceId, "written", changed)
	return nil
}

// identityEnv asks this host: the EC2 metadata service (2 s), the ECS task
// metadata endpoint SSM reads (ECS_CONTAINER_METADATA_URI), and SSM's
// registration vault under the data directory.
func (c *core) identityEnv() identityEnv {
	return identityEnv{
		ec2: func(ctx context.Context) (string, error) {
			cfg, err := config.LoadDefaultConfig(ctx)
			if err != nil {
				return "", err
			}
			doc, err := c.identity(ctx, cfg)
			if err != nil {
				return "", err
			}
			if doc.InstanceID == "" {
				return "", errors.New("its identity document has no instance id")
			}
			return doc.InstanceID, nil
		},
		ecs: func(ctx context.Context) (string, error) {
			return ecsInstanceID(ctx, os.Getenv("ECS_CONTAINER_METADATA_URI"))
		},
		registration: func() (string, bool) {
			path := filepath.Join(c.g.dataDir, "Vault", "Store", "RegistrationKey")
			_, err := os.Lstat(path)
			return path, err == nil
		},
	}
}

// ecsInstanceID returns the instance id SSM gives an ECS task's container,
// ecs:<cluster>_<task id>_<container id>, from the task metadata endpoint.
func ecsInstanceID(ctx context.Context, endpoint string) (string, error) {
	if endpoint == "" {
		return "", errors.New("ECS_CONTAINER_METADATA_URI is not set")
	}
	ctx, cancel := context.WithTimeout(ctx, imdsTimeout)
	defer cancel()
	var task struct{ Cluster, TaskARN string }
	var container struct{ DockerId string }
	if err := getMetadata(ctx, strings.TrimSuffix(endpoint, "/")+"/task", &task); err != nil {
		return "", err
	}
	if err := getMetadata(ctx, endpoint, &container); err != nil {
		return "", err
	}
	cluster := task.Cluster[strings.LastIndexByte(task.Cluster, '/')+1:]
	taskID := task.TaskARN[strings.LastIndexByte(task.TaskARN, '/')+1:]
	if cluster == "" || taskID == "" || container.DockerId == "" {
		return "", fmt.Errorf("the ECS task metadata at %s lacks the cluster, task ARN or container id", endpoint)
	}
	return "ecs:" + cluster + "_" + taskID + "_" + container.DockerId, nil
}

// getMetadata gets a JSON document of at most 1 MiB, following no redirect.
func getMetadata(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("ECS task metadata %q: %w", url, err)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("ECS task metadata: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ECS task metadata %s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("ECS task metadata %s: %w", url, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("ECS task metadata %s: %w", url, err)
	}
	return nil
}

// identityFile is the file's path under the data directory.
func identityFile(dataDir string) string {
	return filepath.Join(dataDir, "runtimeconfig", "identity_config.json")
}

// writeIdentityFile writes id to the identity file, atomically, mode 0600
// in a 0700 directory as the v3 core does — unless the file already names
// the same identity. It says whether it wrote.
func writeIdentityFile(dataDir string, id runtimeIdentity) (bool, error) {
	path := identityFile(dataDir)
	if err := privateDir(filepath.Dir(path)); err != nil {
		return false, err
	}
	if old, ok := readIdentityFile(path); ok && sameIdentity(old, id) {
		return false, nil
	}
	b, err := json.Marshal(id)
	if err != nil {
		return false, err
	}
	return true, atomicfile.WriteFile(path, b, 0o600)
}

// readIdentityFile reads an identity file that is a regular file of this
// user's, readable by no one else; anything else is to be replaced.
func readIdentityFile(path string) (runtimeIdentity, bool) {
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > 64<<10 || !ownedByMe(fi) ||
		(runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0) {
		return runtimeIdentity{}, false
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return runtimeIdentity{}, false
	}
	var id runtimeIdentity
	if json.Unmarshal(b, &id) != nil || id.SchemaVersion != identitySchemaVersion {
		return runtimeIdentity{}, false
	}
	return id, true
}

// privateDir makes dir, mode 0700, if it is missing, and checks that it is
// a directory (not a link to one) of this user's that no one else may
// write to.
func privateDir(dir string) error {
	if err := os.Mkdir(dir, 0o700); err == nil {
		if err := os.Chmod(dir, 0o700); err != nil { // whatever the umask
			return err
		}
	} else if !errors.Is(err, fs.ErrExist) {
		return err
	}
	fi, err := os.Lstat(dir)
	switch {
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory (%s): refusing to write the identity there", dir, fi.Mode().Type())
	case !ownedByMe(fi):
		return fmt.Errorf("%s belongs to another user: refusing to write the identity there", dir)
	case runtime.GOOS != "windows" && fi.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("%s is writable by group or others (mode %04o): refusing to write the identity there", dir, fi.Mode().Perm())
	}
	return nil
}

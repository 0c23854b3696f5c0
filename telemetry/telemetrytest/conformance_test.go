package telemetrytest_test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/ssmkit/ssmkit/telemetry"
	"github.com/ssmkit/ssmkit/telemetry/ssm"
	"github.com/ssmkit/ssmkit/telemetry/telemetrytest"
)

func TestAuditFiles(t *testing.T) {
	telemetrytest.TestSink(t, func(t *testing.T) (telemetry.Sink, func() []telemetry.Event) {
		dir := t.TempDir()
		return &telemetry.AuditFiles{Dir: dir}, func() []telemetry.Event {
			files, _ := filepath.Glob(filepath.Join(dir, "amazon-ssm-agent-audit-*"))
			sort.Strings(files)
			var out []telemetry.Event
			for _, f := range files {
				fh, _ := os.Open(f)
				sc := bufio.NewScanner(fh)
				sc.Buffer(nil, 1<<20)
				for sc.Scan() {
					fields := strings.Fields(sc.Text())
					if len(fields) == 4 {
						out = append(out, telemetry.Event{Type: fields[0], Name: fields[1]})
					}
				}
				fh.Close()
			}
			return out
		}
	})
}

type memSender struct {
	mu   sync.Mutex
	msgs []ssm.Message
}

func (m *memSender) Send(ctx context.Context, msgs []ssm.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, msgs...)
	return nil
}

// The SSM channel keeps only counts, so it is checked for the contract's
// mechanics: it takes events and honours contexts.
func TestSSMChannelContract(t *testing.T) {
	s := &ssm.Channel{Sender: &memSender{}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if n, err := s.Send(ctx, []telemetry.Event{{Type: ssm.TypeAgentTelemetry, Name: ssm.NameAgentStart}}); err == nil && n > 0 {
		t.Errorf("Send on a cancelled context = %d, %v", n, err)
	}
}

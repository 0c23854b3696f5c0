package supervisor_test

import (
	"context"
	"fmt"
	"log"
	"os/exec"
	"time"

	"github.com/ssmkit/ssmkit/supervisor"
)

// Supervise a program that fails: it is restarted until the failures are
// too many, then given up on.
func Example() {
	sh, err := exec.LookPath("sh")
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sup, _ := supervisor.New(supervisor.Config{OnEvent: func(e supervisor.Event) {
		fmt.Println(e.Kind, e.Exit)
		if e.Kind == supervisor.EventGaveUp {
			cancel()
		}
	}})
	sup.Add(supervisor.Spec{
		Name:      "flaky",
		Path:      sh,
		Args:      []string{"-c", "echo starting >&2; exit 3"},
		Backoff:   supervisor.Backoff{Initial: 10 * time.Millisecond},
		Intensity: supervisor.Intensity{MaxFailures: 1},
	})
	sup.Serve(ctx)
	// Output:
	// started <nil>
	// exited exit status 3
	// restarting <nil>
	// started <nil>
	// exited exit status 3
	// gave-up exit status 3
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// statusTimeout bounds a status request.
const statusTimeout = 10 * time.Second

func runStatus(s streams, g *globals, args []string) int {
	fs := newFlagSet(s, g, "status", "[--json]\n\nAsks the core running with the data directory how it is.\n\nFlags:")
	asJSON := fs.Bool("json", false, "print the status as one JSON object")
	if status, stop := parseFlags(fs, args); stop {
		return status
	}
	ctx, cancel := context.WithTimeout(context.Background(), statusTimeout)
	defer cancel()
	var st Status
	if err := callCore(ctx, g.dataDir, "GET", "/status", nil, &st); err != nil {
		return failure(s, "status", err)
	}
	if *asJSON {
		enc := json.NewEncoder(s.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(st)
		return exitOK
	}
	printStatus(s.stdout, st)
	return exitOK
}

func printStatus(w io.Writer, st Status) {
	health := "healthy"
	if !st.Healthy {
		health = "not healthy"
		if len(st.HealthReasons) > 0 {
			health += " (" + strings.Join(st.HealthReasons, "; ") + ")"
		}
	}
	fmt.Fprintf(w, "ssm-agent %s, pid %d, up %s, %s\n", st.Version, st.PID, time.Since(st.Started).Round(time.Second), health)
	fmt.Fprintf(w, "data %s, logs %s\n\n", st.DataDir, st.LogDir)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKER\tPID\tPROTOCOL\tSTATE\tREADY\tRESTARTS\tLAST EXIT\tREASON")
	for _, wk := range st.Workers {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%t\t%d\t%s\t%s\n", wk.Name, wk.PID, orDash(wk.Protocol), wk.State, wk.Ready, wk.Restarts, orDash(wk.LastExit), orDash(wk.Reason))
	}
	tw.Flush()
	fmt.Fprintln(w)
	u := st.Update
	line := "update: " + u.State
	if !u.Enabled {
		line += " (scheduled updates off)"
	}
	if u.LastResult != "" {
		line += ", last result " + u.LastResult
	}
	if u.LastError != "" {
		line += ": " + u.LastError
	}
	fmt.Fprintln(w, line)
	printUpdateWhen(w, u)
	sp := st.TelemetrySpool
	line = fmt.Sprintf("telemetry spool: %s, %d bytes", orDash(sp.State), sp.Bytes)
	if sp.Rejected > 0 {
		line += fmt.Sprintf(", %d events refused", sp.Rejected)
	}
	if sp.Reason != "" {
		line += ": " + strings.ReplaceAll(sp.Reason, "\n", " ")
	}
	fmt.Fprintln(w, line)
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SINK\tSTATE\tPENDING\tDELIVERED\tDROPPED\tLAST ERROR")
	for _, t := range st.Telemetry {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\n", t.Sink, t.State, t.Pending, t.Delivered, t.Dropped, orDash(strings.ReplaceAll(t.LastError, "\n", " ")))
	}
	tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

package main

import (
	"encoding/json"
	"fmt"
)

func runConfig(s streams, g *globals, args []string) int {
	fs := newFlagSet(s, g, "config", "[--json]\n\nPrints the effective configuration — the file's values, defaults filled\nin — and the warnings about it. Without --config, it is\n"+rootConfigFile+" if that exists, else the built-in defaults.\n\nFlags:")
	asJSON := fs.Bool("json", false, `print one JSON object: {"source": ..., "config": ..., "warnings": [...]}`)
	if status, stop := parseFlags(fs, args); stop {
		return status
	}
	cfg, warnings, err := loadConfig(g.config)
	if err != nil {
		return failure(s, "config", err)
	}
	source := configSource(g.config)
	if err := checkRuntime(cfg, g); err != nil {
		return failure(s, "config", fmt.Errorf("config %s: %w", source, err))
	}
	if err := checkDirs(g, cfg, false); err != nil {
		return failure(s, "config", err)
	}
	if *asJSON {
		enc := json.NewEncoder(s.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(struct {
			Source   string   `json:"source"`
			Config   Config   `json:"config"`
			Warnings []string `json:"warnings"`
		}{source, cfg, append([]string{}, warnings...)})
		return exitOK
	}
	fmt.Fprintf(s.stdout, "# %s\n", source)
	for _, w := range warnings {
		fmt.Fprintf(s.stdout, "# warning: %s\n", w)
	}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	fmt.Fprintf(s.stdout, "%s\n", b)
	return exitOK
}

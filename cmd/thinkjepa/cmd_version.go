package main

import (
	"encoding/json"
	"flag"
	"fmt"

	"github.com/thinkjepa/thinkjepa/internal/buildinfo"
)

func init() {
	register(&command{
		name:    "version",
		summary: "print the version, Go toolchain and module versions",
		setup: func(fs *flag.FlagSet) func([]string) error {
			asJSON := fs.Bool("json", false, "print as JSON")
			return func(args []string) error {
				if err := noArgs(args); err != nil {
					return err
				}
				info := buildinfo.Get()
				if *asJSON {
					b, err := json.MarshalIndent(info, "", "  ")
					if err != nil {
						return err
					}
					fmt.Println(string(b))
					return nil
				}
				fmt.Printf("thinkjepa %s (%s, %s/%s)\n", info.Version, info.GoVersion, info.OS, info.Arch)
				for m, v := range info.Modules {
					fmt.Printf("  %s %s\n", m, v)
				}
				return nil
			}
		},
	})
}

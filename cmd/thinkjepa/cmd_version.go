package main

import (
	"encoding/json"
	"flag"
	"fmt"

	"github.com/thinkjepa/thinkjepa/internal/buildinfo"
	"github.com/thinkjepa/thinkjepa/nn/cuda"
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
					b, err := json.MarshalIndent(struct {
						buildinfo.Info
						CUDA cudaReport `json:"cuda"`
					}{info, probeCUDA()}, "", "  ")
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
				fmt.Printf("cuda: %s\n", probeCUDA())
				return nil
			}
		},
	})
}

// cudaReport is what the cuda build sees: the driver, the device, cuBLAS.
type cudaReport struct {
	Built bool       `json:"built"`
	Info  *cuda.Info `json:"info,omitempty"`
	Error string     `json:"error,omitempty"`
}

func (r cudaReport) String() string {
	switch {
	case !r.Built:
		return cuda.Info{}.String()
	case r.Error != "":
		return "built; " + r.Error
	}
	return r.Info.String()
}

func probeCUDA() cudaReport {
	r := cudaReport{Built: cuda.Built}
	if !cuda.Built {
		return r
	}
	inf, err := cuda.Probe(0)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.Info = &inf
	return r
}

// Package buildinfo reports the program's version, the Go toolchain and the versions of
// the modules it was built with, so that every result file can record what made it.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Version is set at link time by the Makefile (-X ...buildinfo.Version=...).
var Version = "dev"

// Info is what gets recorded next to results.
type Info struct {
	Version   string            `json:"version"`
	GoVersion string            `json:"go_version"`
	OS        string            `json:"os"`
	Arch      string            `json:"arch"`
	Commit    string            `json:"vcs_revision,omitempty"`
	Modified  bool              `json:"vcs_modified,omitempty"`
	Tags      string            `json:"build_tags,omitempty"`
	Modules   map[string]string `json:"modules,omitempty"`
}

// Get collects the build information of the running binary.
func Get() Info {
	info := Info{Version: Version, GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	info.Modules = map[string]string{}
	for _, m := range bi.Deps {
		switch m.Path {
		case "gorgonia.org/gorgonia", "gorgonia.org/tensor", "gorgonia.org/cu", "gonum.org/v1/gonum",
			"github.com/sbinet/npyio", "gonum.org/v1/netlib", "gonum.org/v1/plot", "gonum.org/v1/hdf5":
			info.Modules[m.Path] = m.Version
		}
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Commit = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		case "-tags":
			info.Tags = s.Value
		}
	}
	return info
}

package weights

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/thinkjepa/thinkjepa/internal/buildinfo"
)

// FormatID marks our checkpoint files in the safetensors metadata ("format").
const FormatID = "thinkjepa/1"

// Key prefixes of the model parts in our format.
const (
	PrefixEncoder     = "encoder."      // V-JEPA 2 encoder names
	PrefixPredictor   = "predictor."    // V-JEPA 2 mask-token predictor names
	PrefixThinkJEPA   = "tj_predictor." // ThinkJEPA predictor names, guidance_* included
	PrefixTrajectHead = "head."         // trajectory head names
)

// Provenance records where a checkpoint came from.
type Provenance struct {
	Source   string         `json:"source,omitempty"`
	SHA256   string         `json:"sha256,omitempty"`
	Importer string         `json:"importer,omitempty"`
	Notes    []string       `json:"notes,omitempty"`
	Tool     buildinfo.Info `json:"tool"`
	Time     string         `json:"time"`
}

// NewProvenance fills the tool versions and the current time.
func NewProvenance(source, sha, importer string) Provenance {
	return Provenance{Source: source, SHA256: sha, Importer: importer, Tool: buildinfo.Get(),
		Time: time.Now().UTC().Format(time.RFC3339)}
}

// Checkpoint is our weight format: float32 tensors, the architecture config (raw JSON as
// given by the caller) and provenance.
type Checkpoint struct {
	Tensors    map[string]*Tensor
	Config     json.RawMessage
	Provenance Provenance
}

// Names returns the tensor names sorted.
func (c *Checkpoint) Names() []string { return sortedNames(c.Tensors) }

// Save writes the checkpoint atomically as one safetensors file.
func (c *Checkpoint) Save(path string) error {
	prov, err := json.Marshal(c.Provenance)
	if err != nil {
		return fmt.Errorf("writing %s: provenance: %w", path, err)
	}
	cfg := c.Config
	if len(cfg) == 0 {
		cfg = json.RawMessage("null")
	}
	if !json.Valid(cfg) {
		return fmt.Errorf("writing %s: config is not valid JSON", path)
	}
	meta := map[string]string{"format": FormatID, "config": string(cfg), "provenance": string(prov)}
	return WriteSafetensors(path, c.Tensors, meta, false)
}

// Load reads a checkpoint in our format. Plain safetensors files (without our
// metadata) are rejected; use ReadSafetensors or Import for those.
func Load(path string) (*Checkpoint, error) {
	f, err := ReadSafetensors(path)
	if err != nil {
		return nil, err
	}
	return fromFile(f)
}

func fromFile(f *File) (*Checkpoint, error) {
	if got := f.Metadata["format"]; got != FormatID {
		return nil, fmt.Errorf("%s: not a thinkjepa checkpoint (metadata format %q, want %q); import it with `thinkjepa weights import`", f.Path, got, FormatID)
	}
	c := &Checkpoint{Tensors: f.Tensors}
	if s := f.Metadata["config"]; s != "" {
		if !json.Valid([]byte(s)) {
			return nil, fmt.Errorf("%s: metadata field config is not valid JSON", f.Path)
		}
		c.Config = json.RawMessage(s)
	}
	if s := f.Metadata["provenance"]; s != "" {
		if err := json.Unmarshal([]byte(s), &c.Provenance); err != nil {
			return nil, fmt.Errorf("%s: metadata field provenance: %w", f.Path, err)
		}
	}
	return c, nil
}

// Sub returns the tensors under prefix with the prefix removed (e.g. Sub("encoder.")).
func (c *Checkpoint) Sub(prefix string) map[string]*Tensor {
	out := map[string]*Tensor{}
	for n, t := range c.Tensors {
		if len(n) > len(prefix) && n[:len(prefix)] == prefix {
			out[n[len(prefix):]] = t
		}
	}
	return out
}

// Get returns the tensor called name with the expected shape, or an error naming both.
func (c *Checkpoint) Get(name string, shape ...int) (*Tensor, error) {
	t, ok := c.Tensors[name]
	if !ok {
		return nil, fmt.Errorf("checkpoint has no tensor %q", name)
	}
	if !sameShape(t.Shape, shape) {
		return nil, fmt.Errorf("tensor %q has shape %v, expected %v", name, t.Shape, shape)
	}
	return t, nil
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FileSHA256 hashes a file (provenance of imports).
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

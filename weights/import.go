package weights

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/nlpodyssey/gopickle/pytorch"
)

// Layouts Detect can report.
const (
	LayoutOurs        = "thinkjepa"      // our format
	LayoutVJEPA2PT    = "vjepa2-pt"      // released V-JEPA 2 .pt (encoder/target_encoder/predictor)
	LayoutThinkJEPAPT = "thinkjepa-pt"   // ThinkJEPA training checkpoint (cls_model/predictor)
	LayoutHF          = "hf-safetensors" // Hugging Face VJEPA2 export
	LayoutStateDictPT = "state-dict-pt"  // a bare state dict saved with torch.save
	LayoutSafetensors = "safetensors"    // any other safetensors file
)

// Report says what an import did with every key of the source.
type Report struct {
	Source     string         `json:"source"`
	Layout     string         `json:"layout"`
	Which      string         `json:"which,omitempty"` // encoder or target_encoder
	Imported   int            `json:"imported"`
	Renamed    []string       `json:"renamed,omitempty"` // "old -> new" for renamings beyond prefix stripping
	Unused     []string       `json:"unused,omitempty"`  // source keys not carried over
	Missing    []string       `json:"missing,omitempty"` // expected keys absent
	Mismatched []string       `json:"mismatched,omitempty"`
	MaskTokens int            `json:"mask_tokens,omitempty"`
	Notes      []string       `json:"notes,omitempty"`
	DTypes     map[string]int `json:"source_dtypes,omitempty"` // stored dtype -> tensor count
}

// ImportOptions steer Import.
type ImportOptions struct {
	// Which encoder of a released V-JEPA 2 file: "encoder" (default) or "target_encoder".
	Which string
	// Config is stored in the checkpoint as given (raw JSON); may be nil.
	Config json.RawMessage
}

// Import reads a weight file in any supported layout and returns it in our format with
// a report of used, unused and renamed keys.
func Import(path string, opts ImportOptions) (*Checkpoint, *Report, error) {
	which := opts.Which
	if which == "" {
		which = "encoder"
	}
	if which != "encoder" && which != "target_encoder" {
		return nil, nil, fmt.Errorf("which must be encoder or target_encoder, got %q", which)
	}
	rep := &Report{Source: path, DTypes: map[string]int{}}
	tensors := map[string]*Tensor{}
	add := func(name string, t *Tensor) error {
		if _, dup := tensors[name]; dup {
			return fmt.Errorf("%s: two source tensors map to %q (legacy and new names both present?)", path, name)
		}
		t.Name = name
		tensors[name] = t
		return nil
	}
	var importer string
	if isSafetensorsPath(path) {
		f, err := ReadSafetensors(path)
		if err != nil {
			return nil, nil, err
		}
		for _, n := range f.Names() {
			rep.DTypes[f.DTypes[n]]++
		}
		switch {
		case f.Metadata["format"] == FormatID:
			rep.Layout = LayoutOurs
			c, err := fromFile(f)
			if err != nil {
				return nil, nil, err
			}
			for n, t := range c.Tensors {
				tensors[n] = t
			}
			importer = "thinkjepa-copy"
		case isHF(f.Tensors):
			rep.Layout = LayoutHF
			if err := importHF(f.Tensors, add, rep); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", path, err)
			}
			importer = "hf-vjepa2"
		default:
			return nil, nil, fmt.Errorf("%s: unrecognised safetensors layout (neither our format nor the HF V-JEPA 2 export); `thinkjepa weights inspect` shows its keys", path)
		}
	} else {
		p, err := ReadPT(path)
		if err != nil {
			return nil, nil, err
		}
		switch {
		case p.Top["encoder"] != nil || p.Top["target_encoder"] != nil:
			rep.Layout, rep.Which, importer = LayoutVJEPA2PT, which, "vjepa2-pt"
			if err := importVJEPA2(p, which, add, rep); err != nil {
				return nil, nil, err
			}
		case p.Top["cls_model"] != nil || (p.Top["predictor"] != nil && p.Top["args"] != nil):
			rep.Layout, importer = LayoutThinkJEPAPT, "thinkjepa-pt"
			if err := importThinkJEPA(p, add, rep); err != nil {
				return nil, nil, err
			}
		case isTopStateDict(p):
			rep.Layout, importer = LayoutStateDictPT, "state-dict-pt"
			if err := importBareStateDict(p, add, rep); err != nil {
				return nil, nil, err
			}
		default:
			return nil, nil, fmt.Errorf("%s: unrecognised .pt layout (top-level keys %v; want encoder/predictor, cls_model/predictor or a bare state dict)", path, p.Order)
		}
	}
	rep.Imported = len(tensors)
	sort.Strings(rep.Unused)
	sha, err := FileSHA256(path)
	if err != nil {
		return nil, nil, err
	}
	prov := NewProvenance(filepath.Base(path), sha, importer)
	prov.Notes = rep.Notes
	return &Checkpoint{Tensors: tensors, Config: opts.Config, Provenance: prov}, rep, nil
}

func isSafetensorsPath(path string) bool {
	return strings.EqualFold(filepath.Ext(path), ".safetensors")
}

// stripWrappers removes every "module." and "backbone." (DDP and multi-seq wrappers),
// as the V-JEPA 2 hub loader does.
func stripWrappers(k string) string {
	return strings.ReplaceAll(strings.ReplaceAll(k, "module.", ""), "backbone.", "")
}

var maskTokenRE = regexp.MustCompile(`^mask_tokens\.(\d+)$`)

func importVJEPA2(p *PTFile, which string, add func(string, *Tensor) error, rep *Report) error {
	enc, dt, order, err := p.StateDict(which)
	if err != nil {
		return err
	}
	countDTypes(rep, dt)
	for _, k := range order {
		n := stripWrappers(k)
		if n == "pos_embed" {
			rep.Unused = append(rep.Unused, which+"."+k)
			rep.Notes = append(rep.Notes, fmt.Sprintf("dropped %s.%s: the RoPE encoder has no absolute position embedding", which, k))
			continue
		}
		if err := add(PrefixEncoder+n, enc[k]); err != nil {
			return err
		}
	}
	if v, ok := p.Top["predictor"]; ok && v != nil {
		pred, dt, order, err := p.StateDict("predictor")
		if err != nil {
			return err
		}
		countDTypes(rep, dt)
		for _, k := range order {
			n := stripWrappers(k)
			if n == "predictor_pos_embed" {
				rep.Unused = append(rep.Unused, "predictor."+k)
				rep.Notes = append(rep.Notes, "dropped predictor."+k+": the RoPE predictor has no absolute position embedding")
				continue
			}
			if maskTokenRE.MatchString(n) {
				rep.MaskTokens++
			}
			if err := add(PrefixPredictor+n, pred[k]); err != nil {
				return err
			}
		}
		rep.Notes = append(rep.Notes, fmt.Sprintf("predictor has %d mask tokens", rep.MaskTokens))
	} else {
		rep.Notes = append(rep.Notes, "no predictor in the file")
	}
	for _, k := range p.Order {
		if k == which || k == "predictor" {
			continue
		}
		rep.Unused = append(rep.Unused, k)
	}
	return nil
}

// legacyThinkJEPA maps old ThinkJEPA predictor names to the current ones (model-spec §4.4
// and CortexGuidedVideoPredictor._LEGACY_KEY_PREFIXES, which also covers the adaln and
// crossattn guidance modes). First match wins, so longer prefixes come first.
var legacyThinkJEPA = [][2]string{
	{"predictor_embed.", "context_adapter."},
	{"mask_tokens.", "query_templates."},
	{"predictor_blocks.", "rollout_layers."},
	{"predictor_norm.", "rollout_norm."},
	{"predictor_proj.", "output_adapter."},
	{"vlm_old_proj.", "guidance_old_adapter."},
	{"vlm_new_proj.", "guidance_new_adapter."},
	{"vlm_adapters.", "guidance_fusion_mlps."},
	{"vlm_adaln_norms.", "guidance_prenorms."},
	{"vlm_cross_attn_norms.", "guidance_query_norms."},
	{"vlm_cross_attn.", "guidance_memory_readers."},
	{"predictor_pos_embed.", "fixed_position_table."},
	{"predictor_pos_embed", "fixed_position_table"},
	{"vlm_gate.", "guidance_layer_scale."},
	{"vlm_gate", "guidance_layer_scale"},
}

// RenameLegacyThinkJEPA returns the current name of a ThinkJEPA predictor key.
func RenameLegacyThinkJEPA(k string) string {
	for _, m := range legacyThinkJEPA {
		if k == m[0] || (strings.HasSuffix(m[0], ".") && strings.HasPrefix(k, m[0])) {
			return m[1] + k[len(m[0]):]
		}
	}
	return k
}

func importThinkJEPA(p *PTFile, add func(string, *Tensor) error, rep *Report) error {
	used := map[string]bool{}
	if v, ok := p.Top["predictor"]; ok && v != nil {
		pred, dt, order, err := p.StateDict("predictor")
		if err != nil {
			return err
		}
		countDTypes(rep, dt)
		for _, k := range order {
			n := strings.ReplaceAll(k, "module.", "")
			r := RenameLegacyThinkJEPA(n)
			if r != n {
				rep.Renamed = append(rep.Renamed, k+" -> "+r)
			}
			if strings.HasPrefix(r, "query_templates.") {
				rep.MaskTokens++
			}
			if err := add(PrefixThinkJEPA+r, pred[k]); err != nil {
				return err
			}
		}
		used["predictor"] = true
	} else {
		rep.Notes = append(rep.Notes, "no predictor in the file")
	}
	if v, ok := p.Top["cls_model"]; ok && v != nil {
		head, dt, order, err := p.StateDict("cls_model")
		if err != nil {
			return err
		}
		countDTypes(rep, dt)
		for _, k := range order {
			if err := add(PrefixTrajectHead+strings.ReplaceAll(k, "module.", ""), head[k]); err != nil {
				return err
			}
		}
		used["cls_model"] = true
	} else {
		rep.Notes = append(rep.Notes, "no cls_model (trajectory head) in the file")
	}
	for _, k := range p.Order {
		if !used[k] {
			rep.Unused = append(rep.Unused, k)
		}
	}
	return nil
}

// importBareStateDict takes a .pt whose top level is one module's state dict and
// recognises the module by its key names: V-JEPA encoder, V-JEPA predictor, ThinkJEPA
// predictor (legacy names allowed) or trajectory head.
func importBareStateDict(p *PTFile, add func(string, *Tensor) error, rep *Report) error {
	t, dt, order := map[string]*Tensor{}, map[string]string{}, p.Order
	for _, k := range order {
		x, d, err := convertTensor(k, p.Top[k].(*pytorch.Tensor))
		if err != nil {
			return fmt.Errorf("%s: %w", p.Path, err)
		}
		t[k], dt[k] = x, d
	}
	countDTypes(rep, dt)
	has := func(name string) bool {
		for _, k := range order {
			if stripWrappers(k) == name {
				return true
			}
		}
		return false
	}
	var prefix string
	rename := stripWrappers
	switch {
	case has("patch_embed.proj.weight"):
		prefix = PrefixEncoder
	case has("context_adapter.weight") || (has("predictor_embed.weight") && (has("guidance_layer_scale") || has("vlm_gate") || has("query_templates.0"))):
		prefix = PrefixThinkJEPA
		rename = func(k string) string { return RenameLegacyThinkJEPA(strings.ReplaceAll(k, "module.", "")) }
	case has("predictor_embed.weight"):
		prefix = PrefixPredictor
	case has("token_query"):
		prefix = PrefixTrajectHead
	default:
		return fmt.Errorf("%s: a bare state dict of no known module (first keys: %v)", p.Path, order[:min(5, len(order))])
	}
	for _, k := range order {
		n := rename(k)
		if n == "pos_embed" || n == "predictor_pos_embed" {
			rep.Unused = append(rep.Unused, k)
			rep.Notes = append(rep.Notes, "dropped "+k+": the RoPE model has no absolute position embedding")
			continue
		}
		if n != k && prefix == PrefixThinkJEPA {
			rep.Renamed = append(rep.Renamed, k+" -> "+n)
		}
		if maskTokenRE.MatchString(n) || strings.HasPrefix(n, "query_templates.") {
			rep.MaskTokens++
		}
		if err := add(prefix+n, t[k]); err != nil {
			return err
		}
	}
	rep.Notes = append(rep.Notes, "bare state dict imported under "+prefix)
	return nil
}

func countDTypes(rep *Report, dt map[string]string) {
	for _, d := range dt {
		rep.DTypes[d]++
	}
}

func isHF(t map[string]*Tensor) bool {
	for k := range t {
		if strings.HasPrefix(k, "encoder.layer.") || strings.HasPrefix(k, "encoder.embeddings.") ||
			strings.HasPrefix(k, "predictor.layer.") || strings.HasPrefix(k, "predictor.embeddings.") {
			return true
		}
	}
	return false
}

var hfLayerRE = regexp.MustCompile(`^(encoder|predictor)\.layer\.(\d+)\.(.+)$`)

// importHF maps the Hugging Face VJEPA2 export back to V-JEPA names, fusing the split
// query/key/value projections into qkv (q, k, v order) and unstacking the mask tokens.
func importHF(src map[string]*Tensor, add func(string, *Tensor) error, rep *Report) error {
	type qkvParts struct{ q, k, v *Tensor }
	fused := map[string]*qkvParts{} // target name -> parts
	simple := map[string]string{
		"encoder.embeddings.patch_embeddings.proj.weight":  PrefixEncoder + "patch_embed.proj.weight",
		"encoder.embeddings.patch_embeddings.proj.bias":    PrefixEncoder + "patch_embed.proj.bias",
		"encoder.layernorm.weight":                         PrefixEncoder + "norm.weight",
		"encoder.layernorm.bias":                           PrefixEncoder + "norm.bias",
		"predictor.embeddings.predictor_embeddings.weight": PrefixPredictor + "predictor_embed.weight",
		"predictor.embeddings.predictor_embeddings.bias":   PrefixPredictor + "predictor_embed.bias",
		"predictor.layernorm.weight":                       PrefixPredictor + "predictor_norm.weight",
		"predictor.layernorm.bias":                         PrefixPredictor + "predictor_norm.bias",
		"predictor.proj.weight":                            PrefixPredictor + "predictor_proj.weight",
		"predictor.proj.bias":                              PrefixPredictor + "predictor_proj.bias",
	}
	for _, k := range sortedKeys(src) {
		t := src[k]
		if n, ok := simple[k]; ok {
			if err := add(n, t); err != nil {
				return err
			}
			continue
		}
		if k == "predictor.embeddings.mask_tokens" {
			if len(t.Shape) < 2 {
				return fmt.Errorf("tensor %q: shape %v, want [K,1,1,D]", k, t.Shape)
			}
			nTok := t.Shape[0]
			per := numel(t.Shape[1:])
			for i := 0; i < nTok; i++ {
				tok := &Tensor{Shape: append([]int{}, t.Shape[1:]...), Data: append([]float32{}, t.Data[i*per:(i+1)*per]...)}
				if err := add(PrefixPredictor+"mask_tokens."+strconv.Itoa(i), tok); err != nil {
					return err
				}
			}
			rep.MaskTokens = nTok
			rep.Renamed = append(rep.Renamed, fmt.Sprintf("%s -> predictor.mask_tokens.{0..%d}", k, nTok-1))
			continue
		}
		m := hfLayerRE.FindStringSubmatch(k)
		if m == nil {
			rep.Unused = append(rep.Unused, k)
			continue
		}
		prefix := PrefixEncoder + "blocks." + m[2] + "."
		if m[1] == "predictor" {
			prefix = PrefixPredictor + "predictor_blocks." + m[2] + "."
		}
		rest := strings.Replace(m[3], "attention.attention.", "attention.", 1)
		switch {
		case strings.HasPrefix(rest, "attention.query.") || strings.HasPrefix(rest, "attention.key.") || strings.HasPrefix(rest, "attention.value."):
			parts := strings.Split(rest, ".") // attention, query|key|value, weight|bias
			target := prefix + "attn.qkv." + parts[2]
			q := fused[target]
			if q == nil {
				q = &qkvParts{}
				fused[target] = q
			}
			switch parts[1] {
			case "query":
				q.q = t
			case "key":
				q.k = t
			case "value":
				q.v = t
			}
		case strings.HasPrefix(rest, "attention.proj."):
			if err := add(prefix+"attn.proj."+strings.TrimPrefix(rest, "attention.proj."), t); err != nil {
				return err
			}
		case strings.HasPrefix(rest, "norm1.") || strings.HasPrefix(rest, "norm2.") || strings.HasPrefix(rest, "mlp.fc1.") || strings.HasPrefix(rest, "mlp.fc2."):
			if err := add(prefix+rest, t); err != nil {
				return err
			}
		default:
			rep.Unused = append(rep.Unused, k)
		}
	}
	for _, target := range sortedKeys(fused) {
		p := fused[target]
		if p.q == nil || p.k == nil || p.v == nil {
			rep.Missing = append(rep.Missing, target+" (needs query, key and value)")
			continue
		}
		if !sameShape(p.q.Shape, p.k.Shape) || !sameShape(p.q.Shape, p.v.Shape) {
			return fmt.Errorf("%s: query/key/value shapes differ: %v %v %v", target, p.q.Shape, p.k.Shape, p.v.Shape)
		}
		shape := append([]int{3 * p.q.Shape[0]}, p.q.Shape[1:]...)
		data := make([]float32, 0, 3*len(p.q.Data))
		data = append(append(append(data, p.q.Data...), p.k.Data...), p.v.Data...)
		if err := add(target, &Tensor{Shape: shape, Data: data}); err != nil {
			return err
		}
	}
	if len(fused) > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("fused %d query/key/value triples into qkv", len(fused)))
	}
	return nil
}

// CheckShapes compares the checkpoint's tensors under prefix with expected shapes (keys
// without the prefix). Missing and mismatched keys go to the report; keys under prefix
// not expected are added to Unused. It returns an error when anything is missing or
// mismatched.
func CheckShapes(c *Checkpoint, prefix string, expected map[string][]int, rep *Report) error {
	sub := c.Sub(prefix)
	bad := 0
	for _, k := range sortedKeys(expected) {
		t, ok := sub[k]
		if !ok {
			rep.Missing = append(rep.Missing, prefix+k)
			bad++
			continue
		}
		if !sameShape(t.Shape, expected[k]) {
			rep.Mismatched = append(rep.Mismatched, fmt.Sprintf("%s%s: shape %v, expected %v", prefix, k, t.Shape, expected[k]))
			bad++
		}
	}
	for _, k := range sortedKeys(sub) {
		if _, ok := expected[k]; !ok {
			rep.Unused = append(rep.Unused, prefix+k+" (not in the architecture)")
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d tensors under %q missing or of the wrong shape", bad, prefix)
	}
	return nil
}

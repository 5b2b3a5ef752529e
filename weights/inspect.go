package weights

import (
	"fmt"
	"sort"
	"strings"

	"github.com/nlpodyssey/gopickle/pytorch"
)

// TensorInfo describes one stored tensor.
type TensorInfo struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
	DType string `json:"dtype"`
}

// Group is one state dict (a .pt entry) or one key prefix of a safetensors file.
type Group struct {
	Name    string       `json:"name"`
	Tensors []TensorInfo `json:"tensors"`
	Params  int64        `json:"params"`
}

// Inventory is what `weights inspect` shows.
type Inventory struct {
	Path     string            `json:"path"`
	Layout   string            `json:"layout"`
	Groups   []Group           `json:"groups"`
	Other    []string          `json:"other_entries,omitempty"` // non-tensor .pt entries
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Inspect lists the tensors of any supported file without converting it.
func Inspect(path string) (*Inventory, error) {
	inv := &Inventory{Path: path}
	if isSafetensorsPath(path) {
		f, err := ReadSafetensors(path)
		if err != nil {
			return nil, err
		}
		inv.Metadata = f.Metadata
		switch {
		case f.Metadata["format"] == FormatID:
			inv.Layout = LayoutOurs
		case isHF(f.Tensors):
			inv.Layout = LayoutHF
		default:
			inv.Layout = LayoutSafetensors
		}
		groups := map[string]*Group{}
		for _, n := range f.Names() {
			g := n
			if i := strings.IndexByte(n, '.'); i > 0 {
				g = n[:i]
			}
			if groups[g] == nil {
				groups[g] = &Group{Name: g}
			}
			addInfo(groups[g], n, f.Tensors[n].Shape, f.DTypes[n])
		}
		for _, g := range sortedKeys(groups) {
			inv.Groups = append(inv.Groups, *groups[g])
		}
		return inv, nil
	}
	p, err := ReadPT(path)
	if err != nil {
		return nil, err
	}
	switch {
	case p.Top["encoder"] != nil || p.Top["target_encoder"] != nil:
		inv.Layout = LayoutVJEPA2PT
	case p.Top["cls_model"] != nil:
		inv.Layout = LayoutThinkJEPAPT
	default:
		inv.Layout = "pt"
	}
	if isTopStateDict(p) {
		inv.Layout = LayoutStateDictPT
		g := &Group{Name: "(top level)"}
		for _, k := range p.Order {
			t, dt, err := convertTensor(k, p.Top[k].(*pytorch.Tensor))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			addInfo(g, k, t.Shape, dt)
		}
		inv.Groups = append(inv.Groups, *g)
		return inv, nil
	}
	for _, k := range p.Order {
		if !isStateDict(p.Top[k]) {
			inv.Other = append(inv.Other, fmt.Sprintf("%s (%s)", k, pyTypeName(p.Top[k])))
			continue
		}
		t, dt, order, err := p.StateDict(k)
		if err != nil {
			return nil, err
		}
		g := &Group{Name: k}
		for _, n := range order {
			addInfo(g, n, t[n].Shape, dt[n])
		}
		inv.Groups = append(inv.Groups, *g)
	}
	return inv, nil
}

// isTopStateDict reports a .pt whose top level is itself a state dict (all tensors).
func isTopStateDict(p *PTFile) bool {
	for _, k := range p.Order {
		if _, ok := p.Top[k].(*pytorch.Tensor); !ok {
			return false
		}
	}
	return len(p.Order) > 0
}

func addInfo(g *Group, name string, shape []int, dtype string) {
	g.Tensors = append(g.Tensors, TensorInfo{Name: name, Shape: shape, DType: dtype})
	g.Params += int64(numel(shape))
}

func pyTypeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case string:
		return "str"
	case int, int64:
		return fmt.Sprintf("int %v", x)
	case float64:
		return fmt.Sprintf("float %v", x)
	case bool:
		return fmt.Sprintf("bool %v", x)
	}
	if _, vs, ok := dictItems(v); ok {
		return fmt.Sprintf("dict of %d", len(vs))
	}
	return strings.TrimPrefix(fmt.Sprintf("%T", v), "*")
}

// Totals sums parameters per group, sorted by name.
func (inv *Inventory) Totals() []string {
	var out []string
	gs := append([]Group(nil), inv.Groups...)
	sort.Slice(gs, func(i, j int) bool { return gs[i].Name < gs[j].Name })
	for _, g := range gs {
		out = append(out, fmt.Sprintf("%s: %d tensors, %d parameters", g.Name, len(g.Tensors), g.Params))
	}
	return out
}

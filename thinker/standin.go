package thinker

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strings"
	"unicode"
)

// StandIn derives a deterministic "VLM feature" pyramid from an instruction text.
//
// It is a STAND-IN for Qwen3-VL, used where no VLM can run (the demo, tests): the
// features carry only the information in the instruction's words — nothing about the
// video. Prompt tokens are template filler + the instruction's words + filler; the 16
// "generated" tokens restate the instruction's content words (see generated). Each token
// gets a hashed embedding; each cached layer mixes the previous one with the mean over
// the prompt through a fixed random projection drawn from Seed, so deeper layers are
// more sentence-level, as in a real decoder.
type StandIn struct {
	Layers []int
	Hidden int
	Seed   uint64
	proj   [][]float32 // per layer [Hidden,Hidden]
}

// NewStandIn fixes the per-layer projections.
func NewStandIn(layers []int, hidden int, seed uint64) *StandIn {
	s := &StandIn{Layers: layers, Hidden: hidden, Seed: seed}
	for j := range layers {
		rng := rand.New(rand.NewPCG(seed, uint64(layers[j])+1))
		w := make([]float32, hidden*hidden)
		sc := 1 / math.Sqrt(float64(hidden))
		for i := range w {
			w[i] = float32(rng.NormFloat64() * sc)
		}
		s.proj = append(s.proj, w)
	}
	return s
}

// StandInGenerated is the number of "generated" tokens (vlm_new has one fewer).
const StandInGenerated = 16

const standInVocab = 151643

// Words splits an instruction into lower-case words.
func Words(text string) []string {
	w := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	if len(w) == 0 {
		w = []string{"<empty>"}
	}
	return w
}

func hash64(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

var (
	promptHead = []string{"<|im_start|>", "user", "<|vision_start|>", "<|video_pad|>", "<|vision_end|>", "describe", "this", "video", ":"}
	promptTail = []string{"<|im_end|>", "<|im_start|>", "assistant"}
)

// stopWords are left out of the stand-in's "generated" tokens, which restate the
// instruction's content words (verb, object, colour, place) the way a reasoning trace
// opens by restating the task.
var stopWords = map[string]bool{"a": true, "an": true, "the": true, "of": true, "on": true, "to": true, "with": true,
	"and": true, "it": true, "in": true, "into": true, "from": true, "at": true, "your": true, "its": true, "up": true}

// generated is the 16 "generated" tokens: "<think>" every fourth token, the others cycle
// through the instruction's content words in order. Every content word (the goal place
// included, wherever it sits in the sentence) appears, so vlm_new carries it; an earlier
// version took only the last three words, which for "wipe the left side of the table
// with the red sponge" dropped the goal.
func generated(words []string) []string {
	var content []string
	for _, w := range words {
		if !stopWords[w] {
			content = append(content, w)
		}
	}
	if len(content) == 0 {
		content = words
	}
	gen := make([]string, StandInGenerated)
	j := 0
	for i := range gen {
		if i%4 == 0 {
			gen[i] = "<think>"
			continue
		}
		gen[i] = content[j%len(content)]
		j++
	}
	return gen
}

// Cache builds the stand-in cache for one instruction (no V-JEPA latents, no frame indices:
// the caller adds those).
func (s *StandIn) Cache(instruction string) *Cache {
	words := Words(instruction)
	prompt := append(append(append([]string(nil), promptHead...), words...), promptTail...)
	gen := generated(words)
	D := s.Hidden
	c := &Cache{Layers: append([]int(nil), s.Layers...), L: len(s.Layers), So: len(prompt), Sn: StandInGenerated - 1, Dv: D,
		ValidLen: len(prompt), Version: 2, Provenance: map[string]string{}}
	for _, t := range gen {
		c.TokenIDs = append(c.TokenIDs, int64(hash64("tok", t)%standInVocab))
	}
	embed := func(tok string, pos int) []float32 {
		rng := rand.New(rand.NewPCG(s.Seed^hash64("emb", tok), 0))
		v := make([]float32, D)
		for i := range v {
			v[i] = float32(rng.NormFloat64()) + 0.1*float32(math.Sin(float64(pos+1)*float64(i+1)/float64(D)))
		}
		return v
	}
	toks := append(append([]string(nil), prompt...), gen[:StandInGenerated-1]...)
	h := make([][]float32, len(toks))
	for i, t := range toks {
		h[i] = embed(t, i)
	}
	c.Old = make([]float32, 0, c.L*c.So*D)
	c.New = make([]float32, 0, c.L*c.Sn*D)
	ctx := make([]float32, D)
	tmp := make([]float32, D)
	for j := range s.Layers {
		for i := range ctx {
			ctx[i] = 0
		}
		for _, v := range h[:c.So] {
			for i := range ctx {
				ctx[i] += v[i] / float32(c.So)
			}
		}
		w := s.proj[j]
		for _, v := range h {
			for i := range tmp {
				tmp[i] = v[i] + ctx[i]
			}
			for o := 0; o < D; o++ {
				var acc float32
				row := w[o*D : (o+1)*D]
				for i, x := range tmp {
					acc += row[i] * x
				}
				v[o] += float32(math.Tanh(float64(acc)))
			}
		}
		for i, v := range h {
			if i < c.So {
				c.Old = append(c.Old, v...)
			} else {
				c.New = append(c.New, v...)
			}
		}
	}
	c.Provenance["model_id"] = "standin:instruction-hash"
	c.Provenance["standin_note"] = "STAND-IN features derived only from the instruction text; not VLM features, carry no video information"
	c.Provenance["instruction"] = instruction
	return c
}

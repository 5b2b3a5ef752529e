package jepa

import (
	"sort"
	"testing"

	"github.com/thinkjepa/thinkjepa/arch"
	"github.com/thinkjepa/thinkjepa/nn/cpu"
)

// The ThinkJEPA predictor's token layouts against upstream's indexing (model-spec §4.4 and
// the §4.6 correction). Upstream concatenates [x_ctx; queries] with global indices
// [idx_ctx; idx_tgt], argsorts them and uses each token's index n for RoPE through the
// fake-image quirk: grid P×P per "frame", so (t, h, w) = (n div P², (n mod P²) div P, n mod P),
// which is (0, n div P, n mod P) whenever T·P ≤ P² (every real config; this small one
// also covers the wrap); with v2's causal flag a token sees
// the tokens of frames ≤ n div P. Forecasting: idx_ctx = 0..past·P−1, idx_tgt =
// past·P..T·P−1. Track (TJ1's default): idx_ctx = idx_tgt = 0..T·P−1.
func TestThinkPredictorLayouts(t *testing.T) {
	const P, T, past, B = 3, 4, 2, 2
	for _, track := range []bool{false, true} {
		cfg := arch.ThinkPredictorConfig{EmbedDim: 8, PredictorEmbedDim: 12, Depth: 1, NumHeads: 2, MLPRatio: 2,
			TokensPerFrame: P, NumFrames: T, PastFrames: past, NumQueryTemplates: 2, QueryIndex: 1, NormEps: 1e-6,
			Causal: true, Track: track}
		var idxCtx, idxTgt []int
		for n := 0; n < T*P; n++ {
			if track {
				idxCtx, idxTgt = append(idxCtx, n), append(idxTgt, n)
			} else if n < past*P {
				idxCtx = append(idxCtx, n)
			} else {
				idxTgt = append(idxTgt, n)
			}
		}
		if track {
			cfg.PastFrames = T
		}
		p, err := NewThinkPredictor(cpu.New(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		lay := p.layout(B)
		N := len(idxCtx) + len(idxTgt)
		if lay.N != N || lay.Nc != len(idxCtx) || lay.Nt != len(idxTgt) {
			t.Fatalf("track %v: N, Nc, Nt = %d, %d, %d, want %d, %d, %d", track, lay.N, lay.Nc, lay.Nt, N, len(idxCtx), len(idxTgt))
		}
		// Upstream's sorted sequence: the multiset of indices in ascending order.
		all := append(append([]int(nil), idxCtx...), idxTgt...)
		sorted := append([]int(nil), all...)
		sort.Ints(sorted)
		index := make([]int, B*N) // the global index each row of our sequence holds
		for i := range index {
			index[i] = -1
		}
		for b := 0; b < B; b++ {
			for i, n := range idxCtx {
				index[lay.ctxRows[b*lay.Nc+i]] = n
			}
			for i, n := range idxTgt {
				index[lay.tgtRows[b*lay.Nt+i]] = n
			}
		}
		for b := 0; b < B; b++ {
			for r := 0; r < N; r++ {
				row := b*N + r
				n := index[row]
				if n != sorted[r] {
					t.Fatalf("track %v: row %d of sample %d holds index %d, upstream's sorted order has %d", track, r, b, n, sorted[r])
				}
				pos := lay.rope.Pos[3*row : 3*row+3]
				wt, wh, ww := n/(P*P), n%(P*P)/P, n%P
				if int(pos[0]) != wt || int(pos[1]) != wh || int(pos[2]) != ww {
					t.Errorf("track %v: index %d has RoPE position %v, want (%d, %d, %d)", track, n, pos, wt, wh, ww)
				}
				if int(lay.mask.QueryGroup[row]) != n/P || int(lay.mask.KeyGroup[row]) != n/P {
					t.Errorf("track %v: index %d in causal group %d, want frame %d", track, n, lay.mask.QueryGroup[row], n/P)
				}
			}
		}
	}
}

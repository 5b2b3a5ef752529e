package arch

import "testing"

// TestValidateMessages pins the validation messages of all three config kinds: each names
// the config kind, the field, the value found and the value expected. Written against
// the pre-refactor Validate methods so the shared checker keeps every message.
func TestValidateMessages(t *testing.T) {
	enc := func(f func(*EncoderConfig)) error { c, _ := Lookup("vit_tiny"); f(&c); return c.Validate() }
	pred := func(f func(*PredictorConfig)) error { c := Predictors["vit_large"]; f(&c); return c.Validate() }
	think := func(f func(*ThinkPredictorConfig)) error { c, _ := LookupThink("v2"); f(&c); return c.Validate() }
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"enc ok", enc(func(c *EncoderConfig) {}), ""},
		{"enc zero", enc(func(c *EncoderConfig) { *c = EncoderConfig{} }), "encoder config: embed_dim must be positive, got 0\n" +
			"depth must be positive, got 0\nnum_heads must be positive, got 0\npatch_size must be positive, got 0\n" +
			"tubelet_size must be positive, got 0\nimg_size must be positive, got 0\nnum_frames must be positive, got 0\n" +
			"in_chans must be positive, got 0\nmlp_ratio must be positive, got 0\nnorm_eps must be positive, got 0"},
		{"enc mlp_hidden instead of ratio", enc(func(c *EncoderConfig) { c.MLPRatio = 0; c.MLPHidden = 100 }), ""},
		{"enc heads", enc(func(c *EncoderConfig) { c.NumHeads = 5 }), "encoder config: embed_dim 192 is not divisible by num_heads 5"},
		{"enc head_dim", enc(func(c *EncoderConfig) { c.NumHeads = 64 }), "encoder config: head_dim 3 is too small for 3-D RoPE (need ≥ 6)"},
		{"enc grid", enc(func(c *EncoderConfig) { c.ImgSize = 250; c.NumFrames = 15; c.OutLayers = []int{-1, 12} }),
			"encoder config: img_size 250 is not a multiple of patch_size 16\nnum_frames 15 is not a multiple of tubelet_size 2\n" +
				"out_layers entry -1 outside 0..11\nout_layers entry 12 outside 0..11"},
		{"enc eps", enc(func(c *EncoderConfig) { c.NormEps = -1; c.Depth = -2 }),
			"encoder config: depth must be positive, got -2\nnorm_eps must be positive, got -1"},
		{"pred ok", pred(func(c *PredictorConfig) {}), ""},
		{"pred zero", pred(func(c *PredictorConfig) { *c = PredictorConfig{} }), "predictor config: embed_dim must be positive, got 0\n" +
			"predictor_embed_dim must be positive, got 0\ndepth must be positive, got 0\nnum_heads must be positive, got 0\n" +
			"num_mask_tokens must be positive, got 0\nimg_size must be positive, got 0\npatch_size must be positive, got 0\n" +
			"num_frames must be positive, got 0\ntubelet_size must be positive, got 0\nmlp_ratio must be positive, got 0\n" +
			"norm_eps must be positive, got 0"},
		{"pred heads", pred(func(c *PredictorConfig) { c.NumHeads = 5 }), "predictor config: predictor_embed_dim 384 is not divisible by num_heads 5"},
		// The V-JEPA predictor has no RoPE head-width floor (it was never checked).
		{"pred small heads", pred(func(c *PredictorConfig) { c.NumHeads = 96 }), ""},
		{"think ok", think(func(c *ThinkPredictorConfig) {}), ""},
		{"think zero", think(func(c *ThinkPredictorConfig) { *c = ThinkPredictorConfig{} }), "thinkjepa predictor config: embed_dim must be positive, got 0\n" +
			"predictor_embed_dim must be positive, got 0\ndepth must be positive, got 0\nnum_heads must be positive, got 0\n" +
			"tokens_per_frame must be positive, got 0\nnum_frames must be positive, got 0\npast_frames must be positive, got 0\n" +
			"num_query_templates must be positive, got 0\nmlp_ratio must be positive, got 0\nnorm_eps must be positive, got 0"},
		{"think frames", think(func(c *ThinkPredictorConfig) { c.PastFrames = 64; c.QueryIndex = -1 }),
			"thinkjepa predictor config: past_frames 64 must be smaller than num_frames 64\nquery_index must be ≥ 0, got -1"},
		{"think heads", think(func(c *ThinkPredictorConfig) { c.NumHeads = 5 }), "thinkjepa predictor config: predictor_embed_dim 384 is not divisible by num_heads 5"},
		{"think head_dim", think(func(c *ThinkPredictorConfig) { c.NumHeads = 96 }), "thinkjepa predictor config: head_dim 4 is too small for 3-D RoPE (need ≥ 6)"},
		{"think drop rates", think(func(c *ThinkPredictorConfig) { c.DropRate = 1; c.DropPathRate = -0.1 }),
			"thinkjepa predictor config: drop_rate must be in [0, 1), got 1\ndrop_path_rate must be in [0, 1), got -0.1"},
		{"think drop off", think(func(c *ThinkPredictorConfig) { c.DropRate = 0; c.DropPathRate = 0 }), ""},
	} {
		got := ""
		if tc.err != nil {
			got = tc.err.Error()
		}
		if got != tc.want {
			t.Errorf("%s:\ngot  %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

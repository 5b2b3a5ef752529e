package arch

import "testing"

// FuzzArchConfig: any JSON given as an architecture config never panics the parsers, and a
// config they accept has sizes small enough to list its tensors (no runaway depth or width).
func FuzzArchConfig(f *testing.F) {
	f.Add([]byte(`{"kind":"vjepa_encoder","embed_dim":64,"depth":2,"num_heads":4,"mlp_ratio":4,"patch_size":16,"tubelet_size":2,"img_size":64,"num_frames":16}`))
	f.Add([]byte(`{"kind":"vjepa_predictor","embed_dim":64,"predictor_embed_dim":32,"depth":2,"num_heads":4,"mlp_ratio":4,"num_mask_tokens":2,"img_size":64,"patch_size":16,"num_frames":16,"tubelet_size":2}`))
	f.Add([]byte(`{"kind":"thinkjepa_predictor","embed_dim":64,"predictor_embed_dim":48,"depth":2,"num_heads":4,"mlp_ratio":4,"tokens_per_frame":16,"num_frames":8,"past_frames":4}`))
	f.Add([]byte(`{"encoder":{"embed_dim":64,"depth":1000000000,"num_heads":4,"mlp_ratio":1e308,"patch_size":16,"tubelet_size":2,"img_size":64,"num_frames":16}}`))
	f.Add([]byte(`{"arch":"vit_large"}`))
	f.Add([]byte(`{"embed_dim":1000000,"depth":1000,"num_heads":1,"mlp_hidden":1000000,"patch_size":1,"tubelet_size":1,"img_size":1,"num_frames":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := ParseEncoder(b); err == nil {
			c.ExpectedShapes()
			c.Grid(c.NumFrames, c.ImgSize, c.ImgSize)
		}
		if c, err := ParsePredictor(b); err == nil {
			c.ExpectedShapes()
		}
		if c, err := ParseThink(b); err == nil {
			c.ExpectedShapes()
		}
		if c, err := EncoderFromJSON(b); err == nil {
			c.ExpectedShapes()
		}
		Kind(b)
	})
}

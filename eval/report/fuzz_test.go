package report

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzMetricsLog: any bytes as a training log (metrics.jsonl) never panic
// ReadMetricsLog, EpochSeries or Summarise.
func FuzzMetricsLog(f *testing.F) {
	f.Add([]byte(`{"epoch":0,"step":2,"time_s":1.0,"train_loss":1.5,"val_ade":0.9,"val_fde":0.8,"val_acc":0,"film_gates":[-0.1,0.2]}
{"epoch":1,"step":4,"time_s":2.0,"train_loss":1.2,"val_ade":null,"val_fde":0.7}
`))
	f.Add([]byte("{\"epoch\":1e308,\"val_ade\":-1e308}\n\n{\"epoch\":"))
	f.Add([]byte("[1,2]\n\"x\"\nnull\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "metrics.jsonl")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		lines, err := ReadMetricsLog(p)
		if err != nil {
			return
		}
		for _, k := range []string{"train_loss", "val_ade", "val_fde", "val_acc", "epoch"} {
			e, v := EpochSeries(lines, k)
			if len(e) != len(v) {
				t.Fatalf("%s: %d epochs, %d values", k, len(e), len(v))
			}
		}
		Summarise(p, lines)
	})
}

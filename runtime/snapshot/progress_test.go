package snapshot

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plinko-pir/plinko/runtime/dataset"
)

// TestProgressLines: hint-gen says how far it is after each of its two
// steps, as structured fields (steps, percent, bytes, rate, seconds).
func TestProgressLines(t *testing.T) {
	tmp := t.TempDir()
	db := testDB(t, 7, 300)
	path := filepath.Join(tmp, "db.bin")
	if err := dataset.WriteDatabase(path, db); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := Run(context.Background(), Config{Database: path, Out: filepath.Join(tmp, "public"),
		Logger: slog.New(slog.NewJSONHandler(&out, nil))}); err != nil {
		t.Fatal(err)
	}
	var percents []float64
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var line map[string]any
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatal(err)
		}
		if line["msg"] != "hint-gen progress" {
			continue
		}
		for _, k := range []string{"step", "steps_done", "steps_total", "entries", "bytes", "bytes_per_s", "seconds", "epoch", "block"} {
			if line[k] == nil {
				t.Errorf("progress line lacks %s: %s", k, l)
			}
		}
		percents = append(percents, line["percent"].(float64))
	}
	if len(percents) != 2 || percents[0] != 50 || percents[1] != 100 {
		t.Errorf("progress percents %v, want [50 100]", percents)
	}
}

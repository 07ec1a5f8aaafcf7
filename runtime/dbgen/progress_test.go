package dbgen

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
	"time"
)

// TestProgressLine: off a terminal, progress is a structured log line with
// accounts done and total, percent, rate, seconds and the time left.
func TestProgressLine(t *testing.T) {
	for _, keyspace := range []bool{false, true} {
		var out bytes.Buffer
		r := newReporter(slog.New(slog.NewJSONHandler(&out, nil)), &bytes.Buffer{}, keyspace)
		r.start = time.Now().Add(-10 * time.Second)
		r.last = time.Time{}
		r.update(250, 1000, 500)
		var line map[string]any
		if err := json.Unmarshal(out.Bytes(), &line); err != nil {
			t.Fatalf("keyspace %v: %v in %q", keyspace, err, out.String())
		}
		near := func(k string, want float64) {
			if v, _ := line[k].(float64); v < want*0.95 || v > want*1.05 {
				t.Errorf("keyspace %v: %s = %v, want about %v", keyspace, k, line[k], want)
			}
		}
		near("accounts", 500)
		near("percent", 25)
		near("accounts_per_s", 50)
		near("seconds", 10)
		near("eta_seconds", 30)
		if _, ok := line["accounts_total"]; ok == keyspace {
			t.Errorf("keyspace %v: accounts_total present = %v (known only for an address list)", keyspace, ok)
		}
		if line["msg"] != "db-gen progress" {
			t.Errorf("msg %v", line["msg"])
		}
	}
}

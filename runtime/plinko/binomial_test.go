package plinko

import (
	"math"
	mrand "math/rand/v2"
	"testing"
)

// TestBinomialHalfDistribution compares the sampler with the exact
// Binomial(n, 1/2) pmf (chi-square over the cells with expectation >= 5),
// for the popcount path and the BTRS path.
func TestBinomialHalfDistribution(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(42, 43))
	more := func(uint16) (uint64, uint64) { return rng.Uint64(), rng.Uint64() }
	for _, n := range []uint32{7, 64, 100, 129, 1000, 40000} {
		const samples = 40000
		counts := make([]int, n+1)
		for range samples {
			k := binomialHalf(n, rng.Uint64(), rng.Uint64(), more)
			if k > n {
				t.Fatalf("n=%d: sample %d", n, k)
			}
			counts[k]++
		}
		stat, df := 0.0, -1
		var accE float64
		var accO int
		for k := uint32(0); k <= n; k++ {
			lp := logFact(float64(n)) - logFact(float64(k)) - logFact(float64(n-k)) - float64(n)*math.Ln2
			accE += samples * math.Exp(lp)
			accO += counts[k]
			if accE >= 5 { // pool cells until the expectation reaches 5
				d := float64(accO) - accE
				stat += d * d / accE
				df++
				accE, accO = 0, 0
			}
		}
		z := (math.Cbrt(stat/float64(df)) - (1 - 2/(9*float64(df)))) / math.Sqrt(2/(9*float64(df)))
		t.Logf("n=%d: chi2=%.1f df=%d z=%.2f", n, stat, df, z)
		if z > 5 {
			t.Errorf("n=%d: sampler is not Binomial(n, 1/2): z = %.2f", n, z)
		}
	}
	// Deterministic: the same PRF output gives the same sample.
	a := binomialHalf(5000, 1, 2, func(uint16) (uint64, uint64) { return 3, 4 })
	b := binomialHalf(5000, 1, 2, func(uint16) (uint64, uint64) { return 3, 4 })
	if a != b {
		t.Fatal("sampler is not deterministic")
	}
}

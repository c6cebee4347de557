package train

import (
	"context"
	"strings"
	"testing"
)

// TestFaultsOverflowingWeights: a model whose weights are all 1e30 (finite:
// the build accepts them) overflows at the first batch; the error says the
// weights overflow before any update, instead of blaming the learning rate.
func TestFaultsOverflowingWeights(t *testing.T) {
	m := smallMLP(t)
	for _, name := range m.Trainable {
		v := m.Initializers[name].F32
		for i := range v {
			v[i] = 1e30
		}
	}
	_, err := Train(context.Background(), m, synth(t, 30, 5), quick(5, 6))
	if err == nil || !strings.Contains(err.Error(), "before any update") || !strings.Contains(err.Error(), "overflow") ||
		strings.Contains(err.Error(), "lower the learning rate") {
		t.Fatalf("error %v", err)
	}
	if !strings.Contains(err.Error(), "logit") {
		t.Errorf("error does not name the logit: %v", err)
	}
}

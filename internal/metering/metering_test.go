package metering

import (
	"testing"
	"time"
)

func TestBilledMs(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want int64
	}{
		{0, 0},
		{time.Nanosecond, 1},
		{999 * time.Microsecond, 1},
		{time.Millisecond, 1},
		{time.Millisecond + time.Nanosecond, 2},
		{1500 * time.Microsecond, 2},
		{3 * time.Second, 3000},
		{900*time.Second - time.Microsecond, 900000},
	}
	for _, tt := range tests {
		if got := BilledMs(tt.d); got != tt.want {
			t.Errorf("BilledMs(%v) = %d, want %d", tt.d, got, tt.want)
		}
	}
}

func TestBillsInit(t *testing.T) {
	for runtime, want := range map[string]bool{
		"provided.al2023": true, "provided.al2": true, "provided": true,
		"python3.12": false, "nodejs20.x": false, "": false,
	} {
		if got := BillsInit(runtime); got != want {
			t.Errorf("BillsInit(%q) = %v, want %v", runtime, got, want)
		}
	}
}

// Package metering turns measured durations into what Lambda bills: billed milliseconds,
// GB-seconds and cost. It measures nothing itself; callers hand it measurements.
package metering

import "time"

// BilledMs is d rounded up to the millisecond, as Lambda bills duration.
func BilledMs(d time.Duration) int64 {
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

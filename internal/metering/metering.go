// Package metering turns measured durations into what Lambda bills: billed milliseconds,
// GB-seconds and cost. It measures nothing itself; callers hand it measurements.
package metering

import (
	"strings"
	"time"
)

// BilledMs is d rounded up to the millisecond, as Lambda bills duration.
func BilledMs(d time.Duration) int64 {
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

// BillsInit reports whether Lambda bills the init phase of runtime's cold starts as part of
// the first invocation's duration: it does for OS-only runtimes (provided.*), whose REPORT
// shows Billed Duration = Duration + Init Duration, rounded up.
func BillsInit(runtime string) bool {
	return strings.HasPrefix(runtime, "provided")
}

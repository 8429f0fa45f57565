package launcher

import "time"

// SetWaitRetry shortens Wait's retrying for a test.
func SetWaitRetry(every, forAll time.Duration) (restore func()) {
	oldEvery, oldFor := waitRetryEvery, waitRetryFor
	waitRetryEvery, waitRetryFor = every, forAll
	return func() { waitRetryEvery, waitRetryFor = oldEvery, oldFor }
}

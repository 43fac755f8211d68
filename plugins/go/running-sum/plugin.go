// Package runningsum is running-sum in Go: keeps, per key, the sum of every
// value since the start (Spark's stateful word count); wraps around on
// overflow like the Rust one.
package runningsum

import "sluice"

// Signature: int64 values of any key; the state is an int64 too.
var Signature = sluice.Signature{
	Input:  sluice.RecordType{Value: sluice.Int64},
	Output: sluice.RecordType{Value: sluice.Int64},
}

// Init takes no parameters.
func Init(params map[string]string) error { return sluice.NoParams(params) }

// UpdateState adds the key's new values to its running sum.
func UpdateState(values []sluice.Value, state *sluice.Value) (*sluice.Value, error) {
	var sum int64
	if state != nil {
		sum = state.Int
	}
	for _, v := range values {
		sum += v.Int
	}
	next := sluice.IntValue(sum)
	return &next, nil
}

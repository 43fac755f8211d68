// Package sum is sum in Go: adds the int64 values of equal keys, of any key
// type.
package sum

import (
	"errors"

	"sluice"
)

// Signature: int64 values of any key, summed.
var Signature = sluice.Signature{
	Input:  sluice.RecordType{Value: sluice.Int64},
	Output: sluice.RecordType{Value: sluice.Int64},
}

// Init takes no parameters.
func Init(params map[string]string) error { return sluice.NoParams(params) }

// Reduce adds two counts, refusing to overflow.
func Reduce(a, b sluice.Value) (sluice.Value, error) {
	sum := a.Int + b.Int
	if (a.Int >= 0) == (b.Int >= 0) && (sum >= 0) != (a.Int >= 0) {
		return sluice.Value{}, errors.New("sum overflows int64")
	}
	return sluice.IntValue(sum), nil
}

// Package subtract is subtract in Go: the inverse of sum for windows
// (`inverse_plugin`).
package subtract

import (
	"errors"

	"sluice"
)

// Signature: int64 values of any key.
var Signature = sluice.Signature{
	Input:  sluice.RecordType{Value: sluice.Int64},
	Output: sluice.RecordType{Value: sluice.Int64},
}

// Init takes no parameters.
func Init(params map[string]string) error { return sluice.NoParams(params) }

// InverseReduce removes the leaving count from the total, refusing to
// overflow.
func InverseReduce(total, leaving sluice.Value) (sluice.Value, error) {
	difference := total.Int - leaving.Int
	if (total.Int >= 0) != (leaving.Int >= 0) && (difference >= 0) != (total.Int >= 0) {
		return sluice.Value{}, errors.New("difference overflows int64")
	}
	return sluice.IntValue(difference), nil
}

// Package minlength is min-length in Go: keeps words of at least
// `min_length` characters (parameter, default 1).
package minlength

import (
	"errors"
	"strconv"
	"unicode/utf8"

	"sluice"
)

// Signature: words in, the long enough ones out.
var Signature = sluice.Signature{
	Input:  sluice.RecordType{Value: sluice.Text},
	Output: sluice.RecordType{Value: sluice.Text},
}

var minLength = 1

// Init reads `min_length`.
func Init(params map[string]string) error {
	for name, value := range params {
		if name != "min_length" {
			return errors.New("unknown parameter; this operator takes `min_length`")
		}
		n, err := strconv.Atoi(value)
		if err != nil || n < 0 {
			return errors.New("`min_length` must be a number")
		}
		minLength = n
	}
	return nil
}

// Filter keeps words of at least minLength characters.
func Filter(in sluice.Record) (bool, error) {
	return utf8.RuneCountInString(in.Value.Text) >= minLength, nil
}

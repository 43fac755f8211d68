// Package wordpair is word-pair in Go: each word becomes the pair (word, 1).
package wordpair

import "sluice"

// Signature: words in, (word, count) pairs out.
var Signature = sluice.Signature{
	Input:  sluice.RecordType{Value: sluice.Text},
	Output: sluice.RecordType{Key: sluice.Text, Value: sluice.Int64},
}

// Init takes no parameters.
func Init(params map[string]string) error { return sluice.NoParams(params) }

// Map pairs the word with 1.
func Map(in sluice.Record) (sluice.Record, error) {
	return sluice.Record{Key: in.Value, Value: sluice.IntValue(1)}, nil
}

// Package splitwords is split-words in Go: each line's words, split at
// whitespace.
package splitwords

import (
	"strings"

	"sluice"
)

// Signature: lines of text in, words of text out.
var Signature = sluice.Signature{
	Input:  sluice.RecordType{Value: sluice.Text},
	Output: sluice.RecordType{Value: sluice.Text},
}

// Init takes no parameters.
func Init(params map[string]string) error { return sluice.NoParams(params) }

// FlatMap emits each word of the line.
func FlatMap(in sluice.Record, emit func(sluice.Record)) error {
	for _, word := range strings.Fields(in.Value.Text) {
		emit(sluice.Record{Value: sluice.TextValue(word)})
	}
	return nil
}

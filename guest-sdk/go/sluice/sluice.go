// Package sluice lets you write a Sluice operator in Go as one function per
// record.
//
// The contract (wit/operator.wit) passes whole partition batches in column
// layout; the glue that `sluice plugin build` generates decodes each batch,
// calls your function for each record and encodes the output columns. Your
// package (the root package of your module) exports:
//
//   - Signature: the record types your operator takes and gives;
//   - Init(params map[string]string) error: reads the stream's parameters
//     (return sluice.NoParams(params) if it takes none);
//   - one of Map, FlatMap, FlatMapValues, Filter, Reduce, InverseReduce,
//     UpdateState or MapWithState, matching `op` in sluice-plugin.toml:
//
//     func Map(in sluice.Record) (sluice.Record, error)
//     func FlatMap(in sluice.Record, emit func(sluice.Record)) error
//     func FlatMapValues(in sluice.Value, emit func(sluice.Value)) error
//     func Filter(in sluice.Record) (bool, error)
//     func Reduce(a, b sluice.Value) (sluice.Value, error)
//     func InverseReduce(total, leaving sluice.Value) (sluice.Value, error)
//     func UpdateState(values []sluice.Value, state *sluice.Value) (*sluice.Value, error)
//     func MapWithState(key sluice.Value, value *sluice.Value, state *sluice.State) (sluice.Record, error)
//
// FlatMapValues emits zero or more values per value of a keyed stream; the
// host puts each on the key of the value it came from (Signature's types
// have no key). InverseReduce undoes Reduce for a window's `inverse_plugin`. UpdateState
// gets a key's new values and its previous state (nil for a new key) and
// returns the new state, or nil to remove the key; Signature's output value
// type is the state type. MapWithState is called for each record of a key
// with new values (value nil when the key times out) and returns the mapped
// record; a state mapper also exports `var StateType = sluice.Int64` (its
// state's type).
//
// A returned error fails the batch and blames the record.
//
// A sink plugin (`op = "sink"`, for a `kind = "plugin"` sink) instead
// exports the records it takes and one function per partition batch:
//
//	var SinkType = sluice.RecordType{Key: sluice.Text, Value: sluice.Int64}
//	func Write(info sluice.SinkBatch, records []sluice.Record) error
//
// and sends them with Post or Send, which reach only the URLs the
// pipeline's `allow.http` grants. Delivery is at least once: send
// info.BatchTimeMs and info.Partition along so a receiver can drop what it
// already has.
package sluice

import "fmt"

// Type is the logical type of keys or values (the contract's value-type).
type Type uint8

const (
	// None is no key: an unkeyed stream; for a reducer's input, any key type.
	None Type = iota
	// Text is UTF-8 text, in Value.Text.
	Text
	// Bytes are arbitrary bytes, in Value.Bytes.
	Bytes
	// Int64 is a signed 64-bit integer, in Value.Int.
	Int64
	// Float64 is a 64-bit float, in Value.Float.
	Float64
	// JSON is one JSON document as text, in Value.Text.
	JSON
)

// RecordType is the shape of records: a key type (None for unkeyed) and a
// value type.
type RecordType struct {
	Key   Type
	Value Type
}

// Signature is what an operator takes and gives.
type Signature struct {
	Input  RecordType
	Output RecordType
}

// Value is one key or value; which field holds it depends on its Type.
type Value struct {
	// Text holds text and JSON values.
	Text string
	// Bytes holds bytes values.
	Bytes []byte
	// Int holds int64 values.
	Int int64
	// Float holds float64 values.
	Float float64
}

// Record is one record; Key is meaningful only in a keyed stream.
type Record struct {
	Key   Value
	Value Value
}

// State is a key's state in MapWithState: read Value when Exists; Update
// or Remove it. TimingOut marks the key's last call (no value), after which
// its state is removed whatever the call does.
type State struct {
	Value     Value
	Exists    bool
	TimingOut bool
}

// Get is the state, and whether the key has one.
func (s *State) Get() (Value, bool) { return s.Value, s.Exists }

// Update replaces the state.
func (s *State) Update(v Value) {
	s.Value = v
	s.Exists = true
}

// Remove removes the key's state.
func (s *State) Remove() {
	s.Value = Value{}
	s.Exists = false
}

// TextValue is a text Value.
func TextValue(s string) Value { return Value{Text: s} }

// IntValue is an int64 Value.
func IntValue(i int64) Value { return Value{Int: i} }

// NoParams refuses any parameter, for operators that take none.
func NoParams(params map[string]string) error {
	for name := range params {
		return fmt.Errorf("unknown parameter `%s`; this operator takes no parameters", name)
	}
	return nil
}

// SinkBatch says which batch and partition a sink's Write holds.
type SinkBatch struct {
	// Pipeline is the pipeline's name.
	Pipeline string
	// Sink is the sink's name in the pipeline file.
	Sink string
	// BatchTimeMs is the batch time, in milliseconds since the Unix epoch.
	BatchTimeMs int64
	// Partition is this partition's index, from 0.
	Partition uint32
	// Partitions is how many partitions the batch has.
	Partitions uint32
	// Attempt is 1 for the first call with this batch and partition, 2 for
	// its first retry, and so on.
	Attempt uint32
}

// Header is one request header.
type Header struct {
	Name  string
	Value string
}

// Response is what the receiver answered.
type Response struct {
	// Status is the status code, e.g. 200.
	Status uint16
	// Body is the body, up to MaxResponseBytes.
	Body []byte
}

// MaxResponseBytes is the most of a response body that Send reads; the
// rest is dropped.
const MaxResponseBytes = 1 << 20

var transport func(method, url string, headers []Header, body []byte) (Response, error)

// SetTransport gives Send its wasi:http client. A sink's glue (generated by
// `sluice plugin build`) calls it; plugins do not.
func SetTransport(t func(method, url string, headers []Header, body []byte) (Response, error)) {
	transport = t
}

// Send sends one request from a sink and reads its response. method is
// "GET", "POST", …; Content-Length is set from body. The error names the
// URL when it is malformed, the host refuses it (not in the allowlist, or
// over a limit: the call then fails whatever Write returns) or the request
// fails.
func Send(method, url string, headers []Header, body []byte) (Response, error) {
	if transport == nil {
		return Response{}, fmt.Errorf("%s %s: only a sink plugin (op = \"sink\") can send HTTP requests", method, url)
	}
	return transport(method, url, headers, body)
}

// Post POSTs body to url with the given Content-Type; see Send.
func Post(url, contentType string, body []byte) (Response, error) {
	return Send("POST", url, []Header{{Name: "content-type", Value: contentType}}, body)
}

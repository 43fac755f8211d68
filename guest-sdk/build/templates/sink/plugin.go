
import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"sluice"
)

// SinkType is the records it takes: word counts.
var SinkType = sluice.RecordType{Key: sluice.Text, Value: sluice.Int64}

var url string

// Init reads `url`, where to POST the records.
func Init(params map[string]string) error {
	url = params["url"]
	if url == "" {
		return errors.New("`url` is required: where to POST the records")
	}
	return nil
}

type line struct {
	Key   string `json:"key"`
	Value int64  `json:"value"`
}

// Write POSTs the records, one {"key": …, "value": …} line each, to `url`
// with the batch time and partition in the query, so that the receiver can
// drop a partition it already has (delivery is at least once).
func Write(info sluice.SinkBatch, records []sluice.Record) error {
	var body bytes.Buffer
	encoder := json.NewEncoder(&body)
	encoder.SetEscapeHTML(false)
	for _, r := range records {
		// One line each: Encode ends it with "\n".
		if err := encoder.Encode(line{Key: r.Key.Text, Value: r.Value.Int}); err != nil {
			return err
		}
	}
	target := fmt.Sprintf("%s?batch=%d&partition=%d", url, info.BatchTimeMs, info.Partition)
	response, err := sluice.Post(target, "application/x-ndjson", body.Bytes())
	if err != nil {
		return err
	}
	if response.Status < 200 || response.Status >= 300 {
		return fmt.Errorf("%s answered %d", target, response.Status)
	}
	return nil
}

package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// The fast decoder must give exactly what encoding/json gives, or decline.
func TestFastDecodeMatchesJSON(t *testing.T) {
	lines := [][]byte{
		[]byte(`{"index":0,"time":1,"type":"invoke","process":0,"f":"read","key":"3","value":null,"node":"n1"}`),
		[]byte(`{"index":1,"time":2,"type":"ok","process":"nemesis","f":"start","value":{"fault":"kill","id":0,"targets":["n3"],"recovery":{"recovered":true}}}`),
		[]byte(`{"index":2,"time":3,"type":"ok","process":4,"f":"read","value":[1,2,-3],"zxid":4294967297,"session":"1000000000001","final":true,"workload":"set"}`),
		[]byte(`{"index":3,"time":3,"type":"fail","process":4,"f":"cas","value":[1,2],"error":"zk: version conflict","final":false}`),
		[]byte(`{"index":4,"time":3,"type":"ok","process":4,"f":"w","value":"a\"b"}`),
		[]byte(`{"index":5,"time":3.5,"type":"ok","process":4,"f":"w"}`),
		[]byte(`{"index":6,"time":3,"type":"ok","process":4,"f":"w","extra":1}`),
		[]byte(`{"index":7,"time":3,"type":"ok","process":-1,"f":"w"}`),
		[]byte(`{"index":8,"time":3,"type":"ok","process":4,"f":"w","value":[1,]}`),
		[]byte(`{"index":9, "time":3,"type":"ok","process":4,"f":"w","value":true}`),
		[]byte(`{"index":10,"time":3,"type":"ok","process":4,"f":"é"}`),
	}
	files, _ := filepath.Glob("../checker/testdata/*.jsonl")
	more, _ := filepath.Glob("../report/testdata/*/history.jsonl")
	for _, f := range append(files, more...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, maxLine)
		for sc.Scan() {
			lines = append(lines, bytes.Clone(sc.Bytes()))
		}
	}
	d := newFastDecoder()
	fast := 0
	for _, line := range lines {
		var got, want Op
		if !d.decode(line, &got) {
			continue
		}
		fast++
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&want); err != nil {
			t.Errorf("fast decoder accepted %s, encoding/json refuses it: %v", line, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\nfast %+v\njson %+v", line, got, want)
		}
	}
	if fast < len(lines)/2 {
		t.Errorf("the fast decoder took only %d of %d lines", fast, len(lines))
	}
}

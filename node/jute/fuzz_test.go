package jute

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the fuzz seed corpus under testdata/fuzz")

// FuzzDecodeRequest: decoding arbitrary bytes never panics, and whatever
// decodes re-encodes to something that decodes to the same value.
func FuzzDecodeRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, payload []byte) {
		h, body, err := DecodeRequest(payload)
		if err != nil {
			return
		}
		again := EncodeRequest(h, body)
		h2, body2, err := DecodeRequest(again[4:])
		if err != nil {
			t.Fatalf("re-decode of %v: %v", h.Type, err)
		}
		if h2 != h || !reflect.DeepEqual(body2, body) {
			t.Fatalf("round trip changed %+v %+v into %+v %+v", h, body, h2, body2)
		}
	})
}

// FuzzDecodeConnectRequest: the same property for the handshake.
func FuzzDecodeConnectRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, payload []byte) {
		r, err := DecodeConnectRequest(payload)
		if err != nil {
			return
		}
		r2, err := DecodeConnectRequest(EncodeConnectRequest(r)[4:])
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip changed %+v into %+v", r, r2)
		}
	})
}

// corpusRequests is one real encoding of every supported request type.
func corpusRequests() map[string][]byte {
	recs := sampleRecords()
	out := map[string][]byte{}
	add := func(name string, xid int32, op OpCode, body Record) {
		out[name] = EncodeRequest(RequestHeader{Xid: xid, Type: op}, body)[4:]
	}
	add("create", 1, OpCreate, recs["CreateRequest"])
	add("create_nil_data", 2, OpCreate, recs["CreateRequestNilData"])
	add("create2", 3, OpCreate2, recs["CreateRequest"])
	add("delete", 4, OpDelete, recs["DeleteRequest"])
	add("exists", 5, OpExists, recs["ExistsRequest"])
	add("getData", 6, OpGetData, recs["GetDataRequest"])
	add("setData", 7, OpSetData, recs["SetDataRequest"])
	add("getACL", 8, OpGetACL, recs["GetACLRequest"])
	add("getChildren", 9, OpGetChildren, recs["GetChildrenRequest"])
	add("getChildren2", 10, OpGetChildren2, recs["GetChildren2Request"])
	add("sync", 11, OpSync, recs["SyncRequest"])
	add("ping", XidPing, OpPing, nil)
	add("check", 12, OpCheck, recs["CheckVersionRequest"])
	add("multi", 13, OpMulti, recs["MultiRequest"])
	add("multi_empty", 14, OpMulti, &MultiRequest{})
	add("closeSession", 15, OpCloseSession, nil)
	add("setWatches", XidSetWatches, OpSetWatches, recs["SetWatchesRequest"])
	add("auth", XidAuth, OpAuth, recs["AuthPacket"])
	add("unknown_op", 16, OpAddWatch, &SyncRequest{Path: "/"})
	return out
}

func corpusConnects() map[string][]byte {
	recs := sampleRecords()
	return map[string][]byte{
		"gozk_new_session":  EncodeConnectRequest(&ConnectRequest{TimeOut: 10000, Passwd: make([]byte, 16)})[4:],
		"java_readonly":     EncodeConnectRequest(recs["ConnectRequestReadOnly"].(*ConnectRequest))[4:],
		"reconnect_session": EncodeConnectRequest(recs["ConnectRequest"].(*ConnectRequest))[4:],
	}
}

func writeCorpus(t *testing.T, fuzzName string, seeds map[string][]byte) {
	dir := filepath.Join("testdata", "fuzz", fuzzName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFuzzCorpus checks that the checked-in seed corpus holds every seed
// (so it covers every request type); -update-corpus rewrites it.
func TestFuzzCorpus(t *testing.T) {
	for fuzzName, seeds := range map[string]map[string][]byte{
		"FuzzDecodeRequest":        corpusRequests(),
		"FuzzDecodeConnectRequest": corpusConnects(),
	} {
		if *updateCorpus {
			writeCorpus(t, fuzzName, seeds)
		}
		var missing []string
		for name, b := range seeds {
			got, err := os.ReadFile(filepath.Join("testdata", "fuzz", fuzzName, name))
			want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
			if err != nil || string(got) != want {
				missing = append(missing, name)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			t.Errorf("%s corpus stale or missing %v; run go test ./node/jute -run TestFuzzCorpus -update-corpus", fuzzName, missing)
		}
	}
}

package server

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/zabcheck/zabcheck/node/tree"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	txn := tree.Txn{Kind: tree.KindSetData, Zxid: 1<<32 | 7, Time: 99, Session: 0x100, Path: "/k", Data: []byte("v"), Version: 3}
	b := encodeEnvelope(2, 41, txn.Encode())
	got, err := decodeEnvelope(b)
	if err != nil {
		t.Fatal(err)
	}
	want := envelope{Origin: 2, Xid: 41, Txn: txn}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for n := range envelopeHeader + 3 {
		if _, err := decodeEnvelope(b[:n]); err == nil {
			t.Errorf("decode of %d-byte prefix succeeded", n)
		}
	}
	bad := append([]byte{9}, b[1:]...)
	if _, err := decodeEnvelope(bad); !errors.Is(err, errBadEnvelope) {
		t.Errorf("bad version: got %v, want %v", err, errBadEnvelope)
	}
}

func TestForwardedRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		b    []byte
		want forwarded
	}{
		{"request", encodeForwardRequest(5, []byte{1, 2, 3}), forwarded{Kind: fwdRequest, Session: 5, Raw: []byte{1, 2, 3}}},
		{"createSession", encodeForwardCreate(6, 4000), forwarded{Kind: fwdCreateSession, Session: 6, Timeout: 4000}},
		{"touch", encodeTouch([]int64{7, -8}), forwarded{Kind: fwdTouch, Touched: []int64{7, -8}}},
		{"empty touch", encodeTouch(nil), forwarded{Kind: fwdTouch, Touched: []int64{}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeForwarded(tc.b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	for name, b := range map[string][]byte{
		"empty":          nil,
		"unknown kind":   {42},
		"short request":  {fwdRequest, 1, 2},
		"long create":    append(encodeForwardCreate(1, 2), 0),
		"touch overflow": {fwdTouch, 0xff, 0xff, 0xff, 0xff},
		"touch short":    encodeTouch([]int64{1})[:12],
	} {
		if _, err := decodeForwarded(b); !errors.Is(err, errBadEnvelope) {
			t.Errorf("%s: got %v, want %v", name, err, errBadEnvelope)
		}
	}
}

func FuzzDecodeForwarded(f *testing.F) {
	f.Add(encodeForwardRequest(5, []byte{1, 2, 3}))
	f.Add(encodeTouch([]int64{1, 2}))
	f.Add(encodeForwardCreate(1, 2))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = decodeForwarded(b) // must not panic
		_, _ = decodeEnvelope(b)
	})
}

// The dump's committed hashes are kept as bytes but must read as
// tree.TxnDigest, which the replica checker compares across nodes and
// against the on-disk logs.
func TestDumpEntryHashJSON(t *testing.T) {
	data := encodeEnvelope(2, 7, []byte("txn"))
	b, err := json.Marshal(dumpEntry{Zxid: 5, Hash: tree.TxnSum(data)})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"zxid":5,"hash":"` + tree.TxnDigest(data) + `"}`
	if string(b) != want {
		t.Fatalf("got %s, want %s", b, want)
	}
	var back dumpEntry
	if err := json.Unmarshal(b, &back); err != nil || back.Hash != tree.TxnSum(data) {
		t.Fatalf("round trip: %v, %x", err, back.Hash)
	}
}

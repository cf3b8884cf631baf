package zab

import (
	"bytes"
	"reflect"
	"testing"
)

func sampleMessages() []Message {
	tx := []Txn{{Zxid: MakeZxid(2, 1), Data: []byte("a")}, {Zxid: MakeZxid(2, 2)}}
	return []Message{
		{Type: MsgNotification, From: 1, To: 2, Vote: Vote{Leader: 3, Zxid: MakeZxid(1, 7), Epoch: 1}, ElectionEpoch: 4, State: Following},
		{Type: MsgFollowerInfo, From: 1, To: 3, Epoch: 2},
		{Type: MsgObserverInfo, From: 4, To: 3, Epoch: 2},
		{Type: MsgLeaderInfo, From: 3, To: 1, Epoch: 3},
		{Type: MsgAckEpoch, From: 1, To: 3, Epoch: 2, Zxid: MakeZxid(2, 9), NotCounted: true},
		{Type: MsgDiff, From: 3, To: 1, Zxid: MakeZxid(2, 0), Commit: MakeZxid(2, 1), Txns: tx},
		{Type: MsgTrunc, From: 3, To: 1, Zxid: MakeZxid(1, 5), Txns: tx},
		{Type: MsgSnap, From: 3, To: 1, Zxid: MakeZxid(1, 5), Data: []byte("snapshot"), Txns: tx},
		{Type: MsgNewLeader, From: 3, To: 1, Epoch: 3, Zxid: MakeZxid(2, 2)},
		{Type: MsgNewLeaderAck, From: 1, To: 3, Epoch: 3, Zxid: MakeZxid(2, 2)},
		{Type: MsgUpToDate, From: 3, To: 1, Epoch: 3},
		{Type: MsgProposal, From: 3, To: 1, Txns: tx[:1]},
		{Type: MsgAck, From: 1, To: 3, Zxid: MakeZxid(3, 1)},
		{Type: MsgCommit, From: 3, To: 1, Zxid: MakeZxid(3, 1)},
		{Type: MsgInform, From: 3, To: 4, Txns: tx[:1]},
		{Type: MsgPing, From: 3, To: 1, Round: 12},
		{Type: MsgSyncRequest, From: 1, To: 3, ID: 99},
		{Type: MsgSyncReply, From: 3, To: 1, ID: 99, Zxid: MakeZxid(3, 1)},
		{Type: MsgRequest, From: 1, To: 3, Data: []byte{0, 1, 2}},
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	for _, m := range sampleMessages() {
		t.Run(m.Type.String(), func(t *testing.T) {
			b, err := Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Unmarshal(b)
			if err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Errorf("round trip = %+v, want %+v", got, m)
			}
		})
	}
}

func TestMarshalRefusesLocalEvents(t *testing.T) {
	if _, err := Marshal(Disconnected(2)); err == nil {
		t.Error("Marshal(Disconnected) succeeded")
	}
	if _, err := Marshal(Message{}); err == nil {
		t.Error("Marshal of the zero message succeeded")
	}
}

func TestUnmarshalGarbage(t *testing.T) {
	good, err := Marshal(sampleMessages()[5])
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string][]byte{
		"empty":          nil,
		"bad version":    {9, byte(MsgPing), 1, 2, 0},
		"bad type":       {wireVersion, 200, 1, 2, 0},
		"disconnected":   {wireVersion, byte(MsgDisconnected), 1, 2, 0},
		"truncated":      good[:len(good)-1],
		"trailing bytes": append(bytes.Clone(good), 0),
		"unknown field":  {wireVersion, byte(MsgPing), 1, 2, 0x80, 0x80, 0x01},
		"huge txn count": {wireVersion, byte(MsgDiff), 1, 2, 0x80, 0x08, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"huge data":      {wireVersion, byte(MsgRequest), 1, 2, 0x80, 0x04, 0xff, 0xff, 0x03, 1},
		"epoch overflow": {wireVersion, byte(MsgLeaderInfo), 1, 2, fEpoch, 0xff, 0xff, 0xff, 0xff, 0x7f},
		"bad state":      {wireVersion, byte(MsgNotification), 1, 2, fState, 9},
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			if m, err := Unmarshal(b); err == nil {
				t.Errorf("Unmarshal(%x) = %+v, want an error", b, m)
			}
		})
	}
}

func FuzzUnmarshal(f *testing.F) {
	for _, m := range sampleMessages() {
		b, err := Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Unmarshal(b)
		if err != nil {
			return
		}
		again, err := Marshal(m)
		if err != nil {
			t.Fatalf("Marshal of a decoded message: %v", err)
		}
		m2, err := Unmarshal(again)
		if err != nil {
			t.Fatalf("Unmarshal of re-marshaled message: %v", err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip changed the message: %+v -> %+v", m, m2)
		}
	})
}

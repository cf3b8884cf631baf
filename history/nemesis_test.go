package history

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// TestNemesisValueEncoding pins the stored form of a nemesis value: runs
// recorded before the type moved here must keep reading.
func TestNemesisValueEncoding(t *testing.T) {
	v := NemesisValue{ID: 0, Fault: FaultHeal, Shape: "all", Targets: []string{"n1"}, Commands: []string{"n1: start"},
		Recovery: &Recovery{Budget: 5, Took: 5, Nodes: []NodeState{{Node: "n1", Error: "down"}, {Node: "n2", Mode: "leader", Zxid: 0x200000001}}}}
	got := string(MustValue(v))
	want := `{"id":0,"fault":"heal","shape":"all","targets":["n1"],"commands":["n1: start"],"error":"",` +
		`"recovery":{"recovered":false,"budget":5,"took":5,"committed":false,` +
		`"nodes":[{"node":"n1","zxid":0,"error":"down"},{"node":"n2","mode":"leader","zxid":8589934593}]}}`
	if got != want {
		t.Errorf("encoded\n%s\nwant\n%s", got, want)
	}
	if e := v.Recovery.Nodes[1].Epoch(); e != 2 {
		t.Errorf("epoch %d, want 2", e)
	}
}

func TestOpNemesisValue(t *testing.T) {
	for _, tc := range []struct {
		name    string
		value   string
		want    NemesisValue
		hasID   bool
		wantErr string
	}{
		{name: "start", value: `{"id":3,"fault":"kill","shape":"leader","targets":["n2"],"commands":[],"error":"","note":"x"}`,
			want: NemesisValue{ID: 3, Fault: "kill", Shape: "leader", Targets: []string{"n2"}, Commands: []string{}, Note: "x"}, hasID: true},
		{name: "final heal has id 0", value: `{"id":0,"fault":"heal","recovery":{"recovered":true,"budget":7}}`,
			want: NemesisValue{Fault: FaultHeal, Recovery: &Recovery{Recovered: true, Budget: 7}}, hasID: true},
		{name: "no id", value: `{"fault":"kill"}`, want: NemesisValue{Fault: "kill"}},
		{name: "null id", value: `{"id":null,"fault":"kill"}`, want: NemesisValue{Fault: "kill"}},
		// A malformed value still yields what decoded, for the report.
		{name: "bad id", value: `{"id":"x","fault":"kill"}`, want: NemesisValue{Fault: "kill"}, wantErr: "op 7: nemesis value"},
		{name: "not an object", value: `"oops"`, wantErr: "cannot unmarshal"},
		{name: "absent", value: ``, wantErr: "unexpected end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op := Op{Index: 7, Process: Nemesis, F: FStart, Value: json.RawMessage(tc.value)}
			got, hasID, err := op.NemesisValue()
			if tc.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("got err %v, want one containing %q", err, tc.wantErr)
			}
			if !reflect.DeepEqual(got, tc.want) || hasID != tc.hasID {
				t.Errorf("got %+v (id present: %v), want %+v (%v)", got, hasID, tc.want, tc.hasID)
			}
		})
	}
}

package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const good = `# rendered by zabcheck
tickTime=200
initLimit=10
syncLimit=5
dataDir=%s
clientPort=2181
4lw.commands.whitelist=*
admin.serverPort=8080
standaloneEnabled=false
server.1=10.1.0.2:2888:3888
server.2=10.1.0.3:2888:3888
server.3=10.1.0.4:2888:3888
server.4=10.1.0.5:2888:3888:observer
zabnode.bug=skip-trunc
`

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "zoo.cfg")
	os.WriteFile(cfgPath, []byte(strings.Replace(good, "%s", dir, 1)), 0o644)
	os.WriteFile(filepath.Join(dir, "myid"), []byte("2\n"), 0o644)
	c, err := Load(cfgPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.MyID != 2 || c.TickTime != 200 || c.SyncLimit != 5 || c.AdminPort != 8080 || !c.Fsync || !c.Pipeline {
		t.Fatalf("got %+v", c)
	}
	off, err := Parse("zoo.cfg", []byte(strings.Replace(good, "%s", dir, 1)+"zabnode.pipeline=off\n"), nil)
	if err != nil || off.Pipeline {
		t.Errorf("zabnode.pipeline=off: got pipeline %v, err %v", off != nil && off.Pipeline, err)
	}
	for v, want := range map[string]bool{"no": false, "yes": true, "false": true} {
		fc, err := Parse("zoo.cfg", []byte(strings.Replace(good, "%s", dir, 1)+"forceSync="+v+"\n"), nil)
		if err != nil || fc.Fsync != want {
			t.Errorf("forceSync=%s: got fsync %v, err %v; want %v (ZooKeeper syncs unless it is \"no\")", v, fc != nil && fc.Fsync, err, want)
		}
	}
	if got := c.Me().QuorumAddr(); got != "10.1.0.3:2888" {
		t.Errorf("quorum addr: got %s", got)
	}
	if got, want := len(c.Voters()), 3; got != want {
		t.Errorf("voters: got %d, want %d", got, want)
	}
	if got := c.Observers(); len(got) != 1 || got[0] != 4 {
		t.Errorf("observers: got %v", got)
	}
	if len(c.Bugs) != 1 || c.Bugs[0] != "skip-trunc" {
		t.Errorf("bugs: got %v", c.Bugs)
	}
}

func TestErrorsNameKeyAndFile(t *testing.T) {
	base := "tickTime=200\ninitLimit=10\nsyncLimit=5\ndataDir=/d\nserver.1=h:2888:3888\n"
	for _, tc := range []struct{ name, text, want string }{
		{"bad tick", strings.Replace(base, "tickTime=200", "tickTime=abc", 1), "zoo.cfg:1: tickTime"},
		{"missing dataDir", strings.Replace(base, "dataDir=/d\n", "", 1), "missing required keys: dataDir"},
		{"no equals", base + "garbage\n", "zoo.cfg:6"},
		{"bad port", base + "server.2=h:99999:3888\n", "server.2"},
		{"bad role", base + "server.2=h:2888:3888:witness\n", "witness"},
		{"duplicate", base + "tickTime=300\n", "set twice"},
		{"no servers", strings.Replace(base, "server.1=h:2888:3888\n", "", 1), "no server.N"},
		{"only observers", strings.Replace(base, "3888\n", "3888:observer\n", 1), "at least one voter"},
		{"bad fsync", base + "zabnode.fsync=maybe\n", "zabnode.fsync"},
		{"bad pipeline", base + "zabnode.pipeline=1\n", "zoo.cfg:6: zabnode.pipeline: \"1\": want true or false"},
		{"bad admin switch", base + "admin.enableServer=yes\n", "admin.enableServer"},
		{"empty admin address", base + "admin.serverAddress=\n", "zoo.cfg:6: admin.serverAddress: empty"},
		{"negative maxClientCnxns", base + "maxClientCnxns=-1\n", "zoo.cfg:6: maxClientCnxns"},
		{"bad failpoint switch", base + "zabnode.enableFailpoints=1\n", "zabnode.enableFailpoints"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("zoo.cfg", []byte(tc.text), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestMyIDErrors(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "zoo.cfg")
	os.WriteFile(cfgPath, []byte(strings.Replace(good, "%s", dir, 1)), 0o644)
	if _, err := Load(cfgPath, nil); err == nil || !strings.Contains(err.Error(), "myid") {
		t.Fatalf("missing myid: got %v", err)
	}
	os.WriteFile(filepath.Join(dir, "myid"), []byte("9"), 0o644)
	if _, err := Load(cfgPath, nil); err == nil || !strings.Contains(err.Error(), "no server.9") {
		t.Fatalf("unknown myid: got %v", err)
	}
}

// TestHardeningDefaults: outside the harness the admin server binds
// loopback, failpoints are off and one IP may hold 60 client connections,
// as in ZooKeeper; each can be set.
func TestHardeningDefaults(t *testing.T) {
	base := "tickTime=200\ninitLimit=10\nsyncLimit=5\ndataDir=/d\nserver.1=h:2888:3888\n"
	c, err := Parse("zoo.cfg", []byte(base), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.AdminAddress != "127.0.0.1" || c.EnableFailpoints || c.MaxClientCnxns != 60 {
		t.Errorf("defaults: admin %q, failpoints %v, maxClientCnxns %d; want 127.0.0.1, false, 60",
			c.AdminAddress, c.EnableFailpoints, c.MaxClientCnxns)
	}
	c, err = Parse("zoo.cfg", []byte(base+"admin.serverAddress=0.0.0.0\nzabnode.enableFailpoints=true\nmaxClientCnxns=0\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.AdminAddress != "0.0.0.0" || !c.EnableFailpoints || c.MaxClientCnxns != 0 {
		t.Errorf("set: admin %q, failpoints %v, maxClientCnxns %d; want 0.0.0.0, true, 0",
			c.AdminAddress, c.EnableFailpoints, c.MaxClientCnxns)
	}
}

package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func validConfig() Config {
	return Config{DB: DBZooKeeper, Voters: 3, TestID: "t1"}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Config)
		want   string // substring of the error; "" means valid
	}{
		{"valid", func(c *Config) {}, ""},
		{"valid zabnode with observers", func(c *Config) { c.DB = DBZabnode; c.Voters = 5; c.Observers = 2 }, ""},
		{"valid single voter", func(c *Config) { c.Voters = 1 }, ""},
		{"bad db", func(c *Config) { c.DB = "etcd" }, `unknown target "etcd" (known: zabnode, zookeeper, zookeeper-3.9)`},
		{"even voters", func(c *Config) { c.Voters = 4 }, "got 4"},
		{"zero voters", func(c *Config) { c.Voters = 0 }, "got 0"},
		{"too many voters", func(c *Config) { c.Voters = 11 }, "got 11"},
		{"negative observers", func(c *Config) { c.Observers = -1 }, "got -1"},
		{"empty test id", func(c *Config) { c.TestID = "" }, `TestID must be`},
		{"test id with slash", func(c *Config) { c.TestID = "a/b" }, `got "a/b"`},
		{"test id too long", func(c *Config) { c.TestID = strings.Repeat("x", 65) }, "TestID must be"},
		{"negative tick", func(c *Config) { c.TickTime = -5 }, "got -5"},
		{"negative sync limit", func(c *Config) { c.SyncLimit = -1 }, "SyncLimit"},
		{"extra overrides core key", func(c *Config) { c.Extra = map[string]string{"tickTime": "5"} }, `"tickTime" is rendered by the harness`},
		{"extra overrides server line", func(c *Config) { c.Extra = map[string]string{"server.1": "x"} }, `"server.1"`},
		{"extra key with space", func(c *Config) { c.Extra = map[string]string{"a b": "1"} }, `"a b" is not a valid`},
		{"extra value with newline", func(c *Config) { c.Extra = map[string]string{"bug": "1\nserver.9=x"} }, "line break"},
		{"extra overrides a target's line", func(c *Config) { c.Extra = map[string]string{"preAllocSize": "1"} }, `"preAllocSize" is rendered by the harness`},
		{"extra ok", func(c *Config) { c.DB = DBZabnode; c.Extra = map[string]string{"zabnode.bug": "skip-fsync"} }, ""},
		{"extra for any target", func(c *Config) { c.Extra = map[string]string{"maxSessionTimeout": "8000"} }, ""},
		{"zabnode key on zookeeper", func(c *Config) { c.Extra = map[string]string{"zabnode.bug": "skip-fsync"} }, `"zabnode.bug" is zabnode's; zookeeper would ignore it`},
		{"unknown zabnode key", func(c *Config) { c.DB = DBZabnode; c.Extra = map[string]string{"zabnode.fsnyc": "true"} }, `zabnode reads no such key`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.mutate(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tc.want != "" && err == nil:
				t.Fatalf("Validate() = nil, want an error containing %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("Validate() = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestDockerUnreachable(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no.sock"))
	t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	ctx := context.Background()
	_, err := Start(ctx, validConfig())
	if err == nil || !strings.Contains(err.Error(), "docker engine unreachable") || !strings.Contains(err.Error(), "DOCKER_HOST") {
		t.Errorf("Start = %v, want an error saying the engine is unreachable", err)
	}
	if _, _, err := Clean(ctx, CleanOptions{}); err == nil || !strings.Contains(err.Error(), "docker engine unreachable") {
		t.Errorf("Clean = %v, want an error saying the engine is unreachable", err)
	}
	if _, err := BuildImages(ctx, BuildOptions{}); err == nil || !strings.Contains(err.Error(), "docker engine unreachable") {
		t.Errorf("BuildImages = %v, want an error saying the engine is unreachable", err)
	}
}

func TestConfigDefaults(t *testing.T) {
	c := validConfig().withDefaults()
	got := []int{c.TickTime, c.InitLimit, c.SyncLimit}
	want := []int{DefaultTickTime, DefaultInitLimit, DefaultSyncLimit}
	if !reflect.DeepEqual(got, want) || c.Logger == nil || c.QuorumTimeout != DefaultQuorumTimeout {
		t.Fatalf("withDefaults = %v (logger %v, timeout %s), want %v", got, c.Logger != nil, c.QuorumTimeout, want)
	}
	c = Config{TickTime: 50, InitLimit: 7, SyncLimit: 3}.withDefaults()
	if got := []int{c.TickTime, c.InitLimit, c.SyncLimit}; !reflect.DeepEqual(got, []int{50, 7, 3}) {
		t.Fatalf("withDefaults overrode explicit values: %v", got)
	}
}

func TestPlanNodes(t *testing.T) {
	nodes := planNodes(3, 2, netip.MustParsePrefix("10.213.7.0/24"))
	var got []string
	for _, n := range nodes {
		s := n.Name + "=" + n.IP.String()
		if n.Observer {
			s += ":observer"
		}
		got = append(got, s)
	}
	want := []string{"n1=10.213.7.11", "n2=10.213.7.12", "n3=10.213.7.13", "n4=10.213.7.14:observer", "n5=10.213.7.15:observer"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("planNodes = %v, want %v", got, want)
	}
}

func TestRenderZooCfg(t *testing.T) {
	subnet := netip.MustParsePrefix("10.213.7.0/24")
	cases := []struct {
		name      string
		cfg       Config
		self      int // index into the planned nodes
		want      []string
		wantNot   []string
		wantLines int // number of server. lines
	}{
		{
			name: "zookeeper voter",
			cfg:  Config{DB: DBZooKeeper, Voters: 3, Observers: 1, TestID: "t"},
			self: 0,
			want: []string{
				"tickTime=200\n", "initLimit=25\n", "syncLimit=10\n", "dataDir=/data\n", "clientPort=2181\n",
				"4lw.commands.whitelist=*\n", "admin.enableServer=false\n", "standaloneEnabled=false\n",
				"reconfigEnabled=false\n", "autopurge.purgeInterval=0\n",
				"server.1=10.213.7.11:2888:3888\n", "server.3=10.213.7.13:2888:3888\n",
				"server.4=10.213.7.14:2888:3888:observer\n",
			},
			wantNot:   []string{"peerType", "admin.serverPort"},
			wantLines: 4,
		},
		{
			name:      "zookeeper observer",
			cfg:       Config{DB: DBZooKeeper, Voters: 3, Observers: 1, TestID: "t"},
			self:      3,
			want:      []string{"peerType=observer\n", "server.4=10.213.7.14:2888:3888:observer\n"},
			wantLines: 4,
		},
		{
			name: "zabnode with extra keys",
			cfg: Config{DB: DBZabnode, Voters: 5, TestID: "t", TickTime: 100, InitLimit: 10, SyncLimit: 5,
				Extra: map[string]string{"zabnode.bug": "stale-read", "fsync": "off"}},
			self: 4,
			want: []string{
				"tickTime=100\n", "initLimit=10\n", "syncLimit=5\n", "admin.serverPort=8080\n",
				"4lw.commands.whitelist=*\n", "server.5=10.213.7.15:2888:3888\n",
				"fsync=off\nzabnode.bug=stale-read\n", // sorted, after the core keys
			},
			wantNot:   []string{"admin.enableServer", "standaloneEnabled", "peerType", ":observer"},
			wantLines: 5,
		},
		{
			name:      "zabnode observer",
			cfg:       Config{DB: DBZabnode, Voters: 1, Observers: 1, TestID: "t"},
			self:      1,
			want:      []string{"peerType=observer\n", "server.1=10.213.7.11:2888:3888\n", "server.2=10.213.7.12:2888:3888:observer\n"},
			wantLines: 2,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg.withDefaults()
			nodes := planNodes(cfg.Voters, cfg.Observers, subnet)
			target, err := LookupTarget(cfg.DB)
			if err != nil {
				t.Fatal(err)
			}
			got := renderZooCfg(target, cfg, nodes, nodes[tc.self])
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("zoo.cfg lacks %q:\n%s", w, got)
				}
			}
			for _, w := range tc.wantNot {
				if strings.Contains(got, w) {
					t.Errorf("zoo.cfg has %q:\n%s", w, got)
				}
			}
			if n := strings.Count(got, "\nserver."); n != tc.wantLines {
				t.Errorf("zoo.cfg has %d server lines, want %d:\n%s", n, tc.wantLines, got)
			}
			if again := renderZooCfg(target, cfg, nodes, nodes[tc.self]); again != got {
				t.Errorf("rendering is not deterministic")
			}
		})
	}
}

func TestParseSrvr(t *testing.T) {
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	cases := []struct {
		name    string
		raw     string
		want    Srvr
		wantErr error
	}{
		{"zk38 leader", read("srvr-zk38-leader.txt"), Srvr{
			Version: "3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC", Received: 1, Connections: 1,
			Zxid: 0x100000000, Mode: "leader", NodeCount: 5,
		}, nil},
		{"zk38 standalone", read("srvr-zk38-standalone.txt"), Srvr{
			Version: "3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC", Received: 1, Connections: 1,
			Mode: "standalone", NodeCount: 5,
		}, nil},
		{"follower with latency", "Zookeeper version: 3.8.0\nLatency min/avg/max: 1/2.5/7\nReceived: 10\nSent: 9\nConnections: 2\nOutstanding: 0\nZxid: 0x30000002a\nMode: follower\nNode count: 12\n", Srvr{
			Version: "3.8.0", LatencyMin: 1, LatencyAvg: 2.5, LatencyMax: 7, Received: 10, Sent: 9, Connections: 2,
			Zxid: 0x30000002a, Mode: "follower", NodeCount: 12,
		}, nil},
		{"not serving", "This ZooKeeper instance is not currently serving requests\n", Srvr{}, ErrNotServing},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSrvr(tc.raw)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("parseSrvr error = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			got.Raw = ""
			if got != tc.want {
				t.Fatalf("parseSrvr =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "Mode: leader\n", "Zxid: 0xZZ\nMode: leader\n", "Latency min/avg/max: 1/2\nZxid: 0x1\nMode: x\n"} {
		if _, err := ParseSrvr(bad); err == nil {
			t.Errorf("ParseSrvr(%q) = nil error, want one", bad)
		}
	}
	if got := (Srvr{Zxid: 0x30000002a}).Epoch(); got != 3 {
		t.Errorf("Epoch() = %d, want 3", got)
	}
}

func TestContentHash(t *testing.T) {
	files := map[string][]byte{"Dockerfile": []byte("FROM x\n"), "zk-run": []byte("#!/bin/sh\n")}
	h1 := contentHash("sha256:parent", files)
	// The same inputs in a map built in another order hash the same.
	again := map[string][]byte{}
	again["zk-run"] = []byte("#!/bin/sh\n")
	again["Dockerfile"] = []byte("FROM x\n")
	if h2 := contentHash("sha256:parent", again); h2 != h1 {
		t.Fatalf("hash not stable: %s vs %s", h1, h2)
	}
	changes := map[string]func() string{
		"parent": func() string { return contentHash("sha256:other", files) },
		"file content": func() string {
			return contentHash("sha256:parent", map[string][]byte{"Dockerfile": []byte("FROM y\n"), "zk-run": files["zk-run"]})
		},
		"file name": func() string {
			return contentHash("sha256:parent", map[string][]byte{"Dockerfile": files["Dockerfile"], "zk-run2": files["zk-run"]})
		},
		"boundary move": func() string {
			return contentHash("sha256:parent", map[string][]byte{"Dockerfile": []byte("FROM x\n#"), "zk-run": []byte("!/bin/sh\n")})
		},
		"extra file": func() string {
			return contentHash("sha256:parent", map[string][]byte{"Dockerfile": files["Dockerfile"], "zk-run": files["zk-run"], "zabnode": nil})
		},
	}
	for name, f := range changes {
		if f() == h1 {
			t.Errorf("changing the %s did not change the hash", name)
		}
	}
}

func TestEmbeddedContexts(t *testing.T) {
	for _, spec := range imageSpecs {
		t.Run(spec.Name, func(t *testing.T) {
			files, err := contextFiles(spec)
			if err != nil {
				t.Fatal(err)
			}
			df := string(files["Dockerfile"])
			if !strings.Contains(df, "FROM "+spec.Parent+"\n") && !strings.Contains(df, "FROM "+strings.TrimSuffix(spec.Parent, ":latest")+"\n") {
				t.Errorf("Dockerfile does not start FROM %s:\n%s", spec.Parent, df)
			}
			if strings.Contains("\n"+df, "\nEXPOSE") {
				t.Errorf("Dockerfile exposes ports; testcontainers would publish them")
			}
			tarball, err := contextTar(files, spec.Exec)
			if err != nil {
				t.Fatal(err)
			}
			tr := tar.NewReader(bytes.NewReader(tarball))
			for {
				hdr, err := tr.Next()
				if err != nil {
					break
				}
				if exec := slices.Contains(spec.Exec, hdr.Name); exec != (hdr.Mode&0o111 != 0) {
					t.Errorf("%s mode %o, executable want %v", hdr.Name, hdr.Mode, exec)
				}
			}
		})
	}
}

func TestResolveImages(t *testing.T) {
	cases := []struct {
		in   []string
		want map[string]bool
		err  bool
	}{
		{nil, map[string]bool{ImageBase: true, ImageZooKeeper: true, ImageZabnode: true}, false},
		{[]string{ImageZooKeeper}, map[string]bool{ImageBase: false, ImageZooKeeper: true}, false},
		// zabnode starts from zabcheck-slim, not zabcheck-base.
		{[]string{ImageZabnode}, map[string]bool{ImageZabnode: true}, false},
		{[]string{ImageZabnode, ImageBase}, map[string]bool{ImageBase: true, ImageZabnode: true}, false},
		{[]string{ImageBase, ImageZabnode}, map[string]bool{ImageBase: true, ImageZabnode: true}, false},
		{[]string{ImageZooKeeper, ImageBase}, map[string]bool{ImageBase: true, ImageZooKeeper: true}, false},
		{[]string{ImageBase}, map[string]bool{ImageBase: true}, false},
		// Opt-in: not in the default set; named, it brings its parents.
		{[]string{ImageZooKeeper39}, map[string]bool{ImageBase: false, ImageZooKeeper39: true}, false},
		{[]string{"etcd"}, nil, true},
	}
	for _, tc := range cases {
		got, err := resolveImages(tc.in)
		if (err != nil) != tc.err || (!tc.err && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("resolveImages(%v) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

// TestRootImages: `make run` (zabnode) needs only the slim root file
// system, never debootstrap's; ZooKeeper needs debootstrap's.
func TestRootImages(t *testing.T) {
	cases := []struct {
		in   []string
		want []string
	}{
		{[]string{ImageZabnode}, []string{SlimTag}},
		{[]string{ImageZooKeeper}, []string{DebianTag}},
		{[]string{ImageBase}, []string{DebianTag}},
		{nil, []string{SlimTag, DebianTag}},
	}
	for _, tc := range cases {
		want, err := resolveImages(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := rootImages(want); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("rootImages(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestImageParents: every parent is built earlier in the table or is an
// imported image, so BuildImages' one pass in table order works.
func TestImageParents(t *testing.T) {
	built := map[string]bool{DebianTag: true, SlimTag: true}
	for _, s := range imageSpecs {
		if !built[s.Parent] {
			t.Errorf("%s: parent %s is neither imported nor built before it", s.Name, s.Parent)
		}
		built[s.Tag] = true
	}
}

func TestUntarStrip(t *testing.T) {
	build := func(entries map[string]string) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Name: "data/", Typeflag: tar.TypeDir, Mode: 0o755})
		for name, body := range entries {
			tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
			tw.Write([]byte(body))
		}
		tw.Close()
		return buf.Bytes()
	}
	dest := t.TempDir()
	if err := untarStrip(bytes.NewReader(build(map[string]string{"data/myid": "1\n", "data/version-2/log.1": "x"})), dest, "data"); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dest, "version-2", "log.1")); string(got) != "x" {
		t.Errorf("extracted log = %q, want x", got)
	}
	if err := untarStrip(bytes.NewReader(build(map[string]string{"data/../../evil": "x"})), t.TempDir(), "data"); err == nil {
		t.Errorf("untarStrip accepted a path escaping the destination")
	}
}

func TestPickLeader(t *testing.T) {
	nodes := []string{"n1", "n2", "n3"}
	down := errors.New("srvr n1: dial: connection refused")
	cases := []struct {
		name    string
		res     []Srvr
		errs    []error
		want    string
		wantErr string
	}{
		{"one leader", []Srvr{{Mode: "follower"}, {Mode: "leader"}, {Mode: "follower"}}, make([]error, 3), "n2", ""},
		{"node down", []Srvr{{}, {Mode: "follower"}, {Mode: "leader"}}, []error{down, nil, nil}, "n3", ""},
		{"stale leader loses to the newer epoch", []Srvr{{Mode: "leader", Zxid: 0x100000005}, {Mode: "leader", Zxid: 0x200000000}, {Mode: "follower"}}, make([]error, 3), "n2", ""},
		{"none", []Srvr{{}, {Mode: "follower"}, {Mode: "observer"}}, []error{down, nil, nil}, "", "no leader: srvr n1: dial: connection refused; n2: follower; n3: observer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pickLeader(nodes, tc.res, tc.errs)
			if got != tc.want || (err == nil) != (tc.wantErr == "") || (err != nil && err.Error() != tc.wantErr) {
				t.Fatalf("pickLeader = %q, %v; want %q, %q", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestReadBuildStream(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	ok := `{"stream":"Step 1/2 : FROM x\n"}{"stream":" ---\u003e abc\n"}{"aux":{"ID":"sha256:feed"}}{"stream":"Successfully built feed\n"}`
	id, err := readBuildStream(strings.NewReader(ok), "t", log)
	if id != "sha256:feed" || err != nil {
		t.Errorf("readBuildStream = %q, %v; want sha256:feed", id, err)
	}
	bad := `{"stream":"Step 2/2 : RUN apt-get install nope\n"}{"stream":"E: Unable to locate package nope\n"}{"errorDetail":{"message":"exit 100"},"error":"The command returned a non-zero code: 100"}`
	_, err = readBuildStream(strings.NewReader(bad), "t", log)
	if err == nil || !strings.Contains(err.Error(), "non-zero code: 100") || !strings.Contains(err.Error(), "Unable to locate package nope") {
		t.Errorf("readBuildStream = %v; want the error with the last output lines", err)
	}
}

func TestOverlapsAny(t *testing.T) {
	host := []netip.Prefix{netip.MustParsePrefix("10.213.5.0/24"), netip.MustParsePrefix("192.168.0.0/16")}
	for p, want := range map[string]bool{"10.213.5.0/24": true, "10.213.6.0/24": false, "10.0.0.0/8": true} {
		if got := overlapsAny(netip.MustParsePrefix(p), host); got != want {
			t.Errorf("overlapsAny(%s) = %v, want %v", p, got, want)
		}
	}
}

// TestBasePackagesMatchTheDockerfile: debootstrap includes what the base
// Dockerfile would install, or the base build falls back to apt.
func TestBasePackagesMatchTheDockerfile(t *testing.T) {
	b, err := imageFiles.ReadFile("images/base/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range basePackages {
		if !strings.Contains(string(b), " "+p) {
			t.Errorf("basePackages has %s, which images/base/Dockerfile does not install", p)
		}
	}
}

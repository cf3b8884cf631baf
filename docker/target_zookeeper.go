package docker

// DBZooKeeper is the name of Apache ZooKeeper 3.8 as Debian packages it.
const DBZooKeeper = "zookeeper"

// DBZooKeeper39 is Apache ZooKeeper 3.9 as Debian trixie packages it.
const DBZooKeeper39 = "zookeeper-3.9"

var zookeeperTarget = Target{
	Name:    DBZooKeeper,
	Summary: "Apache ZooKeeper 3.8 from Debian's zookeeper package",
	Image:   ImageZooKeeper,
	// The image carries lazyfs, built from this repository.
	FromSource: true,
	Entrypoint: []string{"/etc/zabcheck/zk-run"},
	ZooCfg: []string{
		// The Jetty admin server costs memory and start-up time and the
		// harness needs nothing from it: the four-letter words answer on
		// the client port.
		"admin.enableServer=false",
		// A one-voter ensemble still runs the quorum code path, so modes
		// read "leader"/"follower" for every cluster size.
		"standaloneEnabled=false",
		"reconfigEnabled=false",
		"autopurge.purgeInterval=0",
		// ZooKeeper pads each transaction log to 64 MB by default; 1 MB
		// keeps collected data directories small.
		"preAllocSize=1024",
	},
	// forceSync defaults to yes: every transaction is fsynced before the
	// ack.
	Durable: Durability{Note: "forceSync=yes (ZooKeeper's default)"},
	// ZooKeeper counts nothing, but logs each path; the container log
	// spans every restart (coverage_zookeeper.go).
	Capabilities: Capabilities{Coverage: true, LazyFS: true},
	// Its data directory is read in ZooKeeper's own formats (ondisk).
	DataFormat:   "zookeeper",
	readCoverage: zookeeperCoverage,
}

// zookeeper39Target is the 3.8 target on a newer release: the same start
// script, settings and readers (3.9 keeps the data formats and the log
// lines coverage reads). Opt-in: a benchmark compares zabnode with 3.8
// unless --dbs names it.
var zookeeper39Target = func() Target {
	t := zookeeperTarget
	t.Name = DBZooKeeper39
	t.Summary = "Apache ZooKeeper 3.9 from Debian trixie's zookeeper package (opt-in)"
	t.Image = ImageZooKeeper39
	t.OptIn = true
	return t
}()

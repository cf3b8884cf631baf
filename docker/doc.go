// Package docker builds the node images and runs test clusters.
//
// Images are built without a registry, from two root file systems made
// from the host's Debian mirror (internal/rootfs) and imported when
// missing: zabcheck-slim, unpacked from a few dozen packages in seconds,
// which zabcheck-zabnode starts from, and debian:bookworm, made with
// debootstrap, which zabcheck-base (and on it zabcheck-zookeeper and the
// opt-in zabcheck-zookeeper-3.9) starts from, since their Dockerfiles run
// apt-get. Each is built from the Dockerfiles embedded under images/ and
// labelled with the hash of its inputs, so that an unchanged image is not
// rebuilt (BuildImages).
//
// A Cluster is one Docker network per test with a fixed /24 and one
// container per node (hostname n1..nN, voters first) at a static address
// that survives restarts. Containers are created with testcontainers-go and
// driven with the Docker client of the same family (kill, pause, exec,
// copy). Everything carries the labels zabcheck=1, zabcheck.test=<TestID>
// and zabcheck.node=<name>, so Clean can remove what a crashed run left.
//
// The targets (zabnode, zookeeper) are values in a registry (Targets,
// LookupTarget; one file each, target_<name>.go): the image each runs, the
// zoo.cfg lines it adds, the Extra keys it alone reads, its Capabilities
// and how Collect fetches its own artifacts. Every target runs the same core
// zoo.cfg keys (see renderZooCfg); nodes read it at /conf/zoo.cfg and their
// data directory is /data (with myid). Defaults: tickTime 200 ms, initLimit
// 25, syncLimit 10 (see DefaultTickTime). ZooKeeper runs with its admin
// server off; zabnode serves /dump and /failpoints on 8080.
//
// WaitQuorum writes the znode /zabcheck-probe; workloads must not use it.
//
// Collect writes, per node, dir/<node>/container.log (stdout and stderr,
// each line prefixed with the engine's RFC 3339 timestamp), zoo.cfg,
// data/ (the node's /data) and the target's own artifacts (zabnode:
// dump.json).
package docker

// Package bench runs the same load against zabnode and Apache ZooKeeper and
// compares them: write and read throughput, write and read latency,
// leader-failover unavailability and cold start to quorum.
//
// Targets alternate inside each round (zabnode, zookeeper, zabnode, ...) and
// every target run gets a fresh cluster, so slow drift of a shared machine
// (other containers, page cache, thermal limits) spreads over both targets
// instead of favouring whichever ran first. Both targets run with their
// default durability: ZooKeeper fsyncs its log (forceSync=yes) and zabnode
// fsyncs before acknowledging (zabnode.fsync=true).
//
// Run drives real clusters (package docker) through go-zookeeper clients;
// its pieces (phases, failover trials, statistics) take the cluster, the
// clients and the clock as interfaces so that they run against fakes in
// unit tests. WriteReport writes bench.json and a static bench.html with
// gonum plots; WriteTable prints the comparison table.
package bench

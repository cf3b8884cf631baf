// Package workload drives ZooKeeper clients (github.com/go-zookeeper/zk)
// against a cluster and records every operation in a Jepsen-style history.
// It checks nothing: it only records what the clients saw.
//
// # Processes
//
// Config.Concurrency slots each run one logical process at a time, with one
// session. With Sessions "pinned" (the default) process i talks to node
// i mod N, connected to that one server only, so an operation never
// silently fails over (in read mode "leader" a process binds to the current
// leader instead, and retires between ops when leadership moves). With
// Sessions "roaming" the session is given every server, in an order seeded
// per process, and go-zookeeper moves it to the next one on a connection
// loss, sending the last zxid it saw: the process, and so the per-process
// checks, follow the session across servers. A process that gets an
// indeterminate result (info), whose session expired, or whose lock session
// dropped is retired: its session is closed and the next unused process id,
// with a new session, takes the slot. Every op records its session (hex)
// and its node: a pinned process's node, or for a roaming one the server
// its session stayed on for the whole op (none when it moved meanwhile;
// the invocation names none).
//
// # Outcomes
//
// errorTable lists which go-zookeeper errors prove a mutating op had no
// effect (fail) and which leave it open (info); anything unknown is info.
// Reads, and the sync before them, have no effect, so every read error is a
// fail. A read that may have run on a replacement session fails too.
//
// # Workloads
//
// register: keys are znodes Root/register/<key> holding a decimal integer
// (empty = null). Ops: read (value or null, Zxid = the znode's mzxid),
// write (setData version -1, values unique per key), cas [expected, new]
// (setData with the version paired with expected; see casRegister); an ok
// write or cas records the znode's new mzxid in Zxid. Slots
// are grouped per key, about Concurrency/Keys per key, and a group moves to
// a fresh key after about OpsPerKey ops, so per-key histories stay short.
// Read-only slots (Readers) keep no schedule of their own: each follows a
// group that has a writer and reads the newest key with an acknowledged
// write or cas, so that its reads return values with zxids rather than the
// null of a key nobody has written yet.
//
// set: add v creates the sequential znode Root/set/e-<v>-<seq> (data v);
// read lists the children (one atomic getChildren) and records the sorted
// integers, Zxid = the parent's pzxid.
//
// lock: ZooKeeper's lock recipe under Root/lock; acquire then, after
// LockHold, release. A hold lasts from the acquire's ok to the release's
// invocation; a holder whose connection drops invokes release at once and
// completes it as info.
//
// # Phases
//
// Run creates the parent znodes, then invokes ops paced by one rate limiter
// shared by all processes until TimeLimit or MaxOps; ops in flight finish.
// FinalReads, run after the nemesis healed, reads every register key the
// run used (set-up's keys and every key in the recorded history, so that a
// stuck cluster still gets every read attempted and recorded; listed by
// the nodes only when the recorder cannot list its ops) or the set from
// every node through fresh sessions and new process ids, sync first,
// retrying until FinalTimeout, and records one op per key per node with
// Final set; a node that cannot answer gets a fail read.
package workload

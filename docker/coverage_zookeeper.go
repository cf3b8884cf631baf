package docker

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// ZooKeeper keeps no counters of its protocol paths, but it logs each one
// at INFO (or WARN), and the container log Collect saves spans every
// restart of the container. zkCoverage derives the counts from those lines.
// A line is matched on the class that logs it (log4j's %C{1}, see
// images/zookeeper/log4j.properties) and the start of its message, as
// ZooKeeper 3.8 writes them:
//
//	QuorumPeerMain      "Starting quorum peer"                           starts
//	FastLeaderElection  "New election."                                  elections (lookForLeader)
//	QuorumPeer          "LEADING"                                        elections_won
//	QuorumPeer          "Peer state changed: leading - broadcast"        epochs_led
//	QuorumPeer          "Peer state changed: following - broadcast"      epochs_joined (observing too)
//	Learner             "Getting a diff from the leader"                 diff
//	Learner             "Truncating log to get in sync with the leader"  trunc
//	Learner             "Getting a snapshot from leader"                 snap
//	LearnerHandler      "Sending DIFF"                                   diff_sent
//	LearnerHandler      "Sending TRUNC"                                  trunc_sent (only the INFO line of
//	                                                                     queueCommittedProposals; syncFollower's is DEBUG)
//	LearnerHandler      "Sending snapshot" / "Sending SNAP"              snap_sent
//	ZooKeeperServer     "Expiring session"                               sessions_expired
//	FileTxnSnapLog      "Snapshotting:"                                  snapshots_taken
//	ZKDatabase          "Snapshot loaded in"                             snapshots_loaded
//
// sync_aborted counts a synchronisation ("Peer state changed: <role> -
// synchronization") that did not reach broadcast before the peer went
// LOOKING again or the process started anew (killed mid-sync).
var zkRules = []struct {
	class, prefix, key string
	exact              bool // the whole message, not its start
}{
	{"QuorumPeerMain", "Starting quorum peer", "starts", false},
	{"FastLeaderElection", "New election.", "elections", false},
	{"QuorumPeer", "LEADING", "elections_won", true},
	{"QuorumPeer", "Peer state changed: leading - broadcast", "epochs_led", false},
	{"QuorumPeer", "Peer state changed: following - broadcast", "epochs_joined", false},
	{"QuorumPeer", "Peer state changed: observing - broadcast", "epochs_joined", false},
	{"Learner", "Getting a diff from the leader", "diff", false},
	{"Learner", "Truncating log to get in sync with the leader", "trunc", false},
	{"Learner", "Getting a snapshot from leader", "snap", false},
	{"LearnerHandler", "Sending DIFF", "diff_sent", false},
	{"LearnerHandler", "Sending TRUNC", "trunc_sent", false},
	{"LearnerHandler", "Sending snapshot", "snap_sent", false},
	{"LearnerHandler", "Sending SNAP", "snap_sent", false},
	{"ZooKeeperServer", "Expiring session", "sessions_expired", false},
	{"FileTxnSnapLog", "Snapshotting:", "snapshots_taken", false},
	{"ZKDatabase", "Snapshot loaded in", "snapshots_loaded", false},
}

// zkKeys are the counters zkCoverage always reports, zero included, so
// that a path ZooKeeper never took shows as 0 rather than as unknown.
var zkKeys = []string{"starts", "elections", "elections_won", "epochs_led", "epochs_joined",
	"diff", "trunc", "snap", "diff_sent", "trunc_sent", "snap_sent", "sync_aborted",
	"sessions_expired", "snapshots_taken", "snapshots_loaded"}

// zkLogHeader finds the "[thread:Class@line] - " of a log4j line; the
// thread name may itself hold colons and brackets
// ("QuorumPeer[myid=1](plain=0.0.0.0:2181)(secure=disabled)"), but never
// "Class@123] - ".
var zkLogHeader = regexp.MustCompile(`:([A-Za-z_][A-Za-z0-9_$]*)@[0-9]+\] - `)

// zookeeperCoverage reads the counts from a node's collected container log.
func zookeeperCoverage(nodeDir string) (map[string]int64, error) {
	f, err := os.Open(filepath.Join(nodeDir, CollectLogFile))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return zkCoverage(f)
}

// zkCoverage counts the protocol paths in a ZooKeeper log (see zkRules).
func zkCoverage(r io.Reader) (map[string]int64, error) {
	counts := map[string]int64{}
	for _, k := range zkKeys {
		counts[k] = 0
	}
	inSync := false
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if len(line) > 0 {
			class, msg, ok := zkLogLine(strings.TrimRight(line, "\r\n"))
			if ok {
				switch {
				case class == "QuorumPeer" && strings.HasPrefix(msg, "Peer state changed: ") && strings.HasSuffix(msg, " - synchronization"):
					inSync = true
				case class == "QuorumPeer" && strings.HasPrefix(msg, "Peer state changed: ") && strings.HasSuffix(msg, " - broadcast"):
					inSync = false
				case (class == "QuorumPeer" && msg == "LOOKING") || (class == "QuorumPeerMain" && strings.HasPrefix(msg, "Starting quorum peer")):
					if inSync {
						counts["sync_aborted"]++
					}
					inSync = false
				}
				for _, rule := range zkRules {
					if class == rule.class && (msg == rule.prefix || (!rule.exact && strings.HasPrefix(msg, rule.prefix))) {
						counts[rule.key]++
						break
					}
				}
			}
		}
		if errors.Is(err, io.EOF) {
			return counts, nil
		}
		if err != nil {
			return counts, fmt.Errorf("read zookeeper log: %w", err)
		}
	}
}

// zkLogLine splits a log4j line into the logging class and the message.
func zkLogLine(line string) (class, msg string, ok bool) {
	loc := zkLogHeader.FindStringSubmatchIndex(line)
	if loc == nil {
		return "", "", false
	}
	return line[loc[2]:loc[3]], line[loc[1]:], true
}

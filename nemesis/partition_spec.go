package nemesis

import "strings"

// Partition cuts the network between nodes with iptables (partition.go).
const Partition = "partition"

func partitionSpec() Spec {
	return Spec{
		Name: Partition,
		Summary: "iptables partitions: " + strings.Join(PartitionShapes(), ", ") +
			"; with --nemesis-targets, the target's nodes are cut off from the rest (one, minority, majority, all, leader: isolate-one, -minority, -majority, -all, -leader; random: any shape)",
		Targeted: true,
		Base:     []string{Partition},
		round: func(s *Schedule) []Step {
			shape := s.partitionShape()
			a := startStep(s.id(), s.interval(1), Partition, shape, shape, "")
			return []Step{a, stopStep(a, s.interval(1))}
		},
	}
}

func partitionBase() base {
	return base{name: Partition, new: func(Config) Fault { return partitionFault{} }}
}

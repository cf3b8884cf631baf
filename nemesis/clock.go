package nemesis

// Clock would skew a node's clock. It is listed so that --help says why it
// is missing; it cannot be selected.
const Clock = "clock"

func clockSpec() Spec {
	return Spec{
		Name:        Clock,
		Summary:     "skew a node's clock",
		Unsupported: "containers share the host clock, so skewing one node's clock would skew the host and every node",
	}
}

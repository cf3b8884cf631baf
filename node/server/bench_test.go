package server

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
)

// benchWrites drives b.N setData calls through the real go-zookeeper client
// from `clients` sessions spread over the nodes (fsync on), and reports
// throughput and p50/p99 latency. extra is more zoo.cfg lines.
func benchWrites(b *testing.B, nodes, clients int, extra string) {
	// On the TCP peer transport: the figures are the real system's.
	c := &cluster{extra: extra, tcp: true}
	c.init(b, nodes)
	c.waitServing(b)
	conns := make([]*zk.Conn, clients)
	for i := range conns {
		conns[i] = connect(b, c.nodes[i%nodes])
		if _, err := conns[i].Create(fmt.Sprintf("/b%d", i), nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([][]time.Duration, clients)
	fsyncs := func() (n int64) {
		for _, nd := range c.nodes {
			n += nd.srv.store.Log.Stats().Fsyncs
		}
		return n
	}
	fsyncs0 := fsyncs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i, conn := range conns {
		n := b.N / clients
		if i < b.N%clients {
			n++
		}
		wg.Go(func() {
			path := fmt.Sprintf("/b%d", i)
			for range n {
				t0 := time.Now()
				if _, err := conn.Set(path, []byte("value"), -1); err != nil {
					b.Error(err)
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	// Log fsyncs of every node per write: how well group commit batches.
	b.ReportMetric(float64(fsyncs()-fsyncs0)/float64(b.N), "fsyncs/op")
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		return
	}
	pct := func(p float64) float64 {
		return float64(all[min(len(all)-1, int(p*float64(len(all))))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "writes/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

func BenchmarkWrite1Node(b *testing.B)          { benchWrites(b, 1, 1, "") }
func BenchmarkWrite1Node16Clients(b *testing.B) { benchWrites(b, 1, 16, "") }
func BenchmarkWrite3Node(b *testing.B)          { benchWrites(b, 3, 1, "") }
func BenchmarkWrite3Node16Clients(b *testing.B) { benchWrites(b, 3, 16, "") }
func BenchmarkWrite5Node16Clients(b *testing.B) { benchWrites(b, 5, 16, "") }

// The same load with every Ready persisted on the loop, to measure what
// pipelining (zab.Ready, MayOverlap) gains.
func BenchmarkWrite3Node16ClientsNoPipeline(b *testing.B) {
	benchWrites(b, 3, 16, "zabnode.pipeline=false\n")
}

package storage

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"
)

// BenchmarkCommit measures group commit with real fsyncs on the disk under
// b.TempDir(): each proposer assigns the next zxid and appends under a lock
// (as a Zab leader does), then waits for durability without it. Reported:
// appends/s and recs/fsync (how many records one fsync covered on average).
func BenchmarkCommit(b *testing.B) {
	for _, proposers := range []int{1, 4, 16, 64} {
		for _, noSync := range []bool{false, true} {
			name := fmt.Sprintf("proposers=%d", proposers)
			if noSync {
				name += "/nosync"
			}
			b.Run(name, func(b *testing.B) { benchCommit(b, proposers, noSync) })
		}
	}
}

func benchCommit(b *testing.B, proposers int, noSync bool) {
	l, err := OpenLog(b.TempDir(), LogOptions{NoSync: noSync, Logger: testLogger(&bytes.Buffer{})})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	data := bytes.Repeat([]byte{'x'}, 128) // a small setData-sized txn
	var (
		alloc sync.Mutex
		next  uint64
		left  = b.N
		wg    sync.WaitGroup
		errs  = make(chan error, proposers)
	)
	b.ResetTimer()
	start := time.Now()
	for range proposers {
		wg.Go(func() {
			for {
				alloc.Lock()
				if left == 0 {
					alloc.Unlock()
					return
				}
				left--
				next++
				z := 1<<32 | next
				err := l.Append(Record{Zxid: z, Data: data})
				alloc.Unlock()
				if err == nil {
					err = l.WaitDurable(z)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	st := l.Stats()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "appends/s")
	if st.Fsyncs > 0 {
		b.ReportMetric(float64(st.Records)/float64(st.Fsyncs), "recs/fsync")
	}
}

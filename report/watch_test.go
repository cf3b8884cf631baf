package report

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zabcheck/zabcheck/checker"
	"github.com/zabcheck/zabcheck/history"
)

// watchHistory builds a watch workload's history by hand, as
// workload/watch.go records it: each call an invoke and a completion,
// each event an invoke and an ok of the session's event process.
type watchHistory struct {
	ops []history.Op
	now int64
}

func (h *watchHistory) add(typ history.Type, p history.Process, f, key string, v any, fill func(*history.Op)) int64 {
	h.now += int64(10 * time.Millisecond)
	op := history.Op{Index: int64(len(h.ops)), Time: h.now, Type: typ, Process: p, F: f, Key: key, Node: "n1"}
	if v != nil {
		op.Value = history.MustValue(v)
	}
	if fill != nil {
		fill(&op)
	}
	h.ops = append(h.ops, op)
	return op.Index
}

// arm is a watch-arm by p on session s that read key existing at mzxid
// (and pzxid) and set a watch; it returns the completion's index.
func (h *watchHistory) arm(p history.Process, s, key, kind string, exists bool, mzxid int64) int64 {
	sess := func(o *history.Op) { o.Session = s }
	h.add(history.Invoke, p, history.FWatchArm, key, history.WatchArm{Kind: kind}, sess)
	yes := true
	return h.add(history.OK, p, history.FWatchArm, key, history.WatchArm{Kind: kind, Exists: &exists, Armed: &yes, Mzxid: mzxid, Pzxid: mzxid}, sess)
}

// event is a watch event of session s, recorded by its event process p.
func (h *watchHistory) event(p history.Process, s, key, typ string, zxid int64) int64 {
	sess := func(o *history.Op) { o.Session = s }
	v := history.WatchEvent{Type: typ, Zxid: zxid}
	h.add(history.Invoke, p, history.FWatchEvent, key, v, sess)
	return h.add(history.OK, p, history.FWatchEvent, key, v, sess)
}

// change is a writer's create, write or delete of key, completed ok.
func (h *watchHistory) change(p history.Process, f, key string, zxid int64) int64 {
	var v any
	if f == history.FWrite {
		v = zxid
	}
	h.add(history.Invoke, p, f, key, v, nil)
	return h.add(history.OK, p, f, key, v, func(o *history.Op) { o.Zxid = zxid })
}

// watchRun writes a watch run of three sessions: 0x1 sees every change
// it watched (valid), 0x2 reads back a change of k1 it got no event for
// (missed), 0x3 gets an event it never set a watch for (unarmed). Its
// results.json is the watch checker's own.
func watchRun(t *testing.T) (string, checker.Summary, map[string]int64) {
	t.Helper()
	var h watchHistory
	at := map[string]int64{}
	const writer = 1
	h.arm(0, "0x1", "k0", "data", true, 5)
	h.arm(0, "0x1", parentKey, "children", true, 5)
	at["write k0"] = h.change(writer, history.FWrite, "k0", 7)
	at["0x1 changed"] = h.event(10, "0x1", "k0", "changed", 7)
	h.arm(0, "0x1", "k0", "data", true, 7)
	at["missed arm"] = h.arm(2, "0x2", "k1", "data", true, 5)
	at["write k1"] = h.change(writer, history.FWrite, "k1", 8)
	at["create k2"] = h.change(writer, fCreate, "k2", 9)
	at["0x1 children"] = h.event(10, "0x1", parentKey, "children", 9)
	at["missed read"] = h.arm(2, "0x2", "k1", "data", true, 8)
	at["0x3 disconnected"] = h.event(12, "0x3", "", "disconnected", 0)
	at["unarmed"] = h.event(12, "0x3", "k2", "changed", 10)
	h.arm(3, "0x3", "k2", "exists", true, 10)

	dir := filepath.Join(t.TempDir(), "watch")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, op := range h.ops {
		line, err := json.Marshal(op)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(append(line, '\n'))
	}
	if err := os.WriteFile(filepath.Join(dir, historyFile), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := checker.Check(context.Background(), h.ops, checker.Options{
		Workloads: []checker.WorkloadChecks{{Name: "watch", Checks: []string{"watch"}}},
	})
	if err := checker.WriteSummary(filepath.Join(dir, resultsFile), sum); err != nil {
		t.Fatal(err)
	}
	return dir, sum, at
}

func watchResultOf(t *testing.T, sum checker.Summary) checker.Result {
	t.Helper()
	r, _, ok := watchResult(sum, "")
	if !ok {
		t.Fatalf("no watch result in %+v", sum)
	}
	return r
}

// flaggedMark matches a mark of the watch panel ringed as flagged, for op.
func flaggedMark(op int64) *regexp.Regexp {
	return regexp.MustCompile(`class="(change|arm|event|state)[^"]* flagged"[^>]* data-op="` + strconv.FormatInt(op, 10) + `"`)
}

// A run whose watch checker flags a missed and an unarmed event draws a
// watch panel: each session's lanes, the changes and events on them, and
// a red mark on every op the checker cites, in the session's view and in
// a zoom around it.
func TestRenderWatchPanelMarksFlagged(t *testing.T) {
	dir, sum, at := watchRun(t)
	res := watchResultOf(t, sum)
	if res.Verdict != checker.Invalid || !strings.Contains(res.Explanation, "missed") || !strings.Contains(res.Explanation, "unarmed") {
		t.Fatalf("the fixture should be invalid with a missed and an unarmed event: %+v", res)
	}
	for _, k := range []string{"missed arm", "missed read", "unarmed"} {
		if !slices.Contains(res.Ops, at[k]) {
			t.Fatalf("the checker does not cite the %s (op %d): %v", k, at[k], res.Ops)
		}
	}
	html := renderHTML(t, dir)
	sec := section(t, html, "watch")

	if !strings.Contains(sec, `<h2>Watches <span class="verdict v-invalid">invalid</span></h2>`) {
		t.Error("the watch panel does not show the checker's verdict")
	}
	for _, s := range []string{"0x1", "0x2", "0x3"} {
		if !strings.Contains(sec, `data-session="`+s+`"`) {
			t.Errorf("session %s is not drawn", s)
		}
	}
	// Every op the checker cites is marked, once in its session's view
	// and once in a zoom.
	for _, op := range res.Ops {
		if got := len(flaggedMark(op).FindAllString(sec, -1)); got != 2 {
			t.Errorf("op %d: %d flagged marks, want 2 (session view and zoom)", op, got)
		}
		if !strings.Contains(sec, `<a href="#op-`+itoa(op)+`" data-op="`+itoa(op)+`">`) {
			t.Errorf("op %d: the flagged mark does not link to the op", op)
		}
	}
	// What was fine is drawn and not flagged: the valid session's event,
	// the writes set against it, and the parent's child event.
	for _, k := range []string{"0x1 changed", "0x1 children", "write k0"} {
		op := at[k]
		if flaggedMark(op).MatchString(sec) {
			t.Errorf("%s (op %d) is flagged", k, op)
		}
		if !regexp.MustCompile(`class="(change|event) [^"]*" [^>]*data-op="` + itoa(op) + `"`).MatchString(sec) {
			t.Errorf("%s (op %d) is not drawn", k, op)
		}
	}
	// The change the missed session read back sits on its k1 lane; the
	// parent's lane of 0x1 gets the create.
	lane := func(session, key string) string {
		m := regexp.MustCompile(`(?s)data-session="` + session + `">.*?<g class="lane" data-key="` + regexp.QuoteMeta(key) + `">(.*?)</g>(<g class="lane"|<line class="state|<text|<a )`).FindStringSubmatch(sec)
		if m == nil {
			t.Fatalf("session %s has no lane %s", session, key)
		}
		return m[1]
	}
	if !strings.Contains(lane("0x2", "k1"), `data-op="`+itoa(at["write k1"])+`"`) {
		t.Error("the write of k1 is not on session 0x2's k1 lane")
	}
	if !strings.Contains(lane("0x1", parentKey), `class="change c-create" x=`) || !strings.Contains(lane("0x1", parentKey), `data-op="`+itoa(at["create k2"])+`"`) {
		t.Error("the create of k2 is not on the parent's lane")
	}
	if !strings.Contains(sec, `<line class="state s-disconnected" `) || !strings.Contains(sec, "session disconnected") {
		t.Error("the disconnection of 0x3 is not drawn")
	}
	if !strings.Contains(sec, `class="watch-zoom"`) || !strings.Contains(sec, "Around the flagged ops") {
		t.Error("no zoom around the flagged ops")
	}
	if !strings.Contains(sec, `<ul class="checker-says"><li>session 0x2: op `+itoa(at["missed arm"])) {
		t.Error("the zoom on session 0x2 does not say what the checker found")
	}
	// The table of contents and the checker's panel point at it.
	if !strings.Contains(html, `<a href="#watch">Watches</a>`) {
		t.Error("no table-of-contents link to the watch panel")
	}
	panel := checkerPanel(t, html, "panel-watch/watch")
	if !strings.Contains(panel, `<a href="#watch">`) {
		t.Errorf("the watch checker's panel does not link to the watch panel:\n%s", panel)
	}
	if !strings.Contains(sec, `<a href="#panel-watch/watch">its panel</a>`) {
		t.Error("the watch panel does not link to the checker's panel")
	}
}

// A session-by-session view of a run's watches only appears for a run
// with watch ops.
func TestRenderNoWatchPanelWithoutWatchOps(t *testing.T) {
	for _, dir := range []string{fixtureRun(t), multiRun(t)} {
		html := renderHTML(t, dir)
		for _, absent := range []string{`class="watches"`, `href="#watch`, `class="watch-timeline"`} {
			if strings.Contains(html, absent) {
				t.Errorf("%s: a run without watch ops has %s", filepath.Base(dir), absent)
			}
		}
	}
}

// checkerPanel returns the HTML of the checker panel with the given id.
func checkerPanel(t *testing.T, html, id string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<div class="checker-panel" id="` + regexp.QuoteMeta(id) + `" data-verdict="(\w+)">(.*?)\n</div>`).FindStringSubmatch(html)
	if m == nil {
		t.Fatalf("no checker panel %q", id)
	}
	return m[0]
}

// Every check of results.json has a panel with its verdict and its whole
// explanation, listed in the table of contents and linked from its row.
func TestRenderEveryCheckerHasPanel(t *testing.T) {
	stall, _ := stallRun(t)
	watch, _, _ := watchRun(t)
	for _, dir := range []string{fixtureRun(t), multiRun(t), stall, watch} {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			html := renderHTML(t, dir)
			sum, _, err := readSummary(dir)
			if err != nil {
				t.Fatal(err)
			}
			type check struct {
				workload string
				r        checker.Result
			}
			var all []check
			for _, w := range sum.Workloads {
				for _, r := range w.Checks {
					all = append(all, check{w.Name, r})
				}
			}
			for _, r := range sum.Checks {
				all = append(all, check{"", r})
			}
			if len(all) == 0 {
				t.Fatal("the run has no checks")
			}
			if got := strings.Count(html, `<div class="checker-panel" `); got != len(all) {
				t.Errorf("%d panels, want %d (one per check)", got, len(all))
			}
			toc := regexp.MustCompile(`(?s)<nav class="toc checker-toc" id="checker-toc">(.*?)</nav>`).FindStringSubmatch(html)
			if toc == nil {
				t.Fatal("no checkers' table of contents")
			}
			for _, c := range all {
				id, row := "panel-"+c.r.Name, "check-"+c.r.Name
				if c.workload != "" {
					id, row = "panel-"+c.workload+"/"+c.r.Name, "check-"+c.workload+"/"+c.r.Name
				}
				p := checkerPanel(t, html, id)
				if !strings.Contains(p, `data-verdict="`+string(c.r.Verdict)+`"`) ||
					!strings.Contains(p, `<span class="verdict v-`+string(c.r.Verdict)+`">`+string(c.r.Verdict)+`</span>`) {
					t.Errorf("panel %s: verdict %s not shown", id, c.r.Verdict)
				}
				if !strings.Contains(p, `<div class="explanation">`+htmlEscaped(c.r.Explanation)+`</div>`) {
					t.Errorf("panel %s: the explanation is not shown whole", id)
				}
				if !strings.Contains(toc[1], `<a href="#`+id+`"`) {
					t.Errorf("panel %s is not in the table of contents", id)
				}
				if !regexp.MustCompile(`(?s)<tr class="check" id="` + regexp.QuoteMeta(row) + `">\s*<td><b><a href="#` + regexp.QuoteMeta(id) + `">`).MatchString(html) {
					t.Errorf("row %s does not link to panel %s", row, id)
				}
				for _, op := range c.r.Ops {
					if !strings.Contains(p, `href="#op-`+itoa(op)+`" data-op="`+itoa(op)+`"`) {
						t.Errorf("panel %s: no link to cited op %d", id, op)
					}
				}
			}
		})
	}
}

// htmlEscaped escapes s as html/template does in text.
func htmlEscaped(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;")
	return r.Replace(s)
}

// The linearizable check's details show as a table of values next to the
// JSON.
func TestRenderPanelFacts(t *testing.T) {
	html := renderHTML(t, fixtureRun(t))
	p := checkerPanel(t, html, "panel-linearizable")
	for _, want := range []string{`<td class="mono">partitions</td><td class="mono">3</td>`, `<td class="mono">longest</td><td class="mono">1</td>`,
		`<summary>details (JSON)</summary>`, `<table class="examples">`} {
		if !strings.Contains(p, want) {
			t.Errorf("panel lacks %s:\n%s", want, p)
		}
	}
}

// A soak-sized watch history keeps the panel bounded: a few sessions,
// the flagged one first, marks thinned with a note of what is left out,
// and every flagged mark still drawn.
func TestWatchPanelBounded(t *testing.T) {
	const sessions, events = 20, 3000
	pairs := make([]history.Pair, 0, events*(2*sessions+1))
	idx := int64(0)
	pair := func(p history.Process, f, key, s string, at int64, inv, done any) history.Pair {
		i := history.Op{Index: idx, Time: at, Type: history.Invoke, Process: p, F: f, Key: key, Session: s, Value: history.MustValue(inv)}
		c := i
		c.Index, c.Time, c.Type, c.Value = idx+1, at+int64(time.Millisecond), history.OK, history.MustValue(done)
		idx += 2
		return history.Pair{Invoke: i, Complete: c}
	}
	yes := true
	for i := range events {
		at := int64(i) * int64(10*time.Millisecond)
		key := "k" + strconv.Itoa(i%3)
		pairs = append(pairs, pair(100, history.FWrite, key, "", at, i, i))
		for s := range sessions {
			id := fmt.Sprintf("0x%x", s+1)
			pairs = append(pairs,
				pair(history.Process(s), history.FWatchArm, key, id, at, history.WatchArm{Kind: "data"}, history.WatchArm{Kind: "data", Exists: &yes, Armed: &yes, Mzxid: int64(i)}),
				pair(history.Process(200+s), history.FWatchEvent, key, id, at+int64(5*time.Millisecond), history.WatchEvent{Type: "changed"}, history.WatchEvent{Type: "changed"}))
		}
	}
	// The checker flags one event of the last session, late in the run.
	var flagged int64
	for _, p := range pairs[len(pairs)/2:] {
		if p.Invoke.F == history.FWatchEvent && p.Complete.Session == fmt.Sprintf("0x%x", sessions) {
			flagged = p.Complete.Index
			break
		}
	}
	sum := checker.Summary{Workloads: []checker.WorkloadSummary{{Name: "watch", Verdict: checker.Invalid,
		Checks: []checker.Result{{Name: "watch", Verdict: checker.Invalid, Ops: []int64{flagged}}}}}}
	end := pairs[len(pairs)-1].Complete.Time
	vs := watchViews(pairs, sum, nil, end)
	if len(vs) != 1 {
		t.Fatalf("%d watch views, want 1", len(vs))
	}
	v := vs[0]
	if len(v.Sessions) != maxWatchSessions {
		t.Errorf("%d sessions drawn, want %d", len(v.Sessions), maxWatchSessions)
	}
	if got, want := v.Sessions[0].Session, fmt.Sprintf("0x%x", sessions); got != want {
		t.Errorf("first session %s, want the flagged %s", got, want)
	}
	size := 0
	for _, s := range v.Sessions {
		size += len(s.SVG)
	}
	for _, z := range v.Zooms {
		size += len(z.SVG)
	}
	t.Logf("%d pairs: watch panel SVGs %d bytes", len(pairs), size)
	if size > 500<<10 {
		t.Errorf("watch panel SVGs are %d bytes, want at most 500 KiB", size)
	}
	if !flaggedMark(flagged).MatchString(string(v.Sessions[0].SVG)) {
		t.Error("the flagged event was thinned away")
	}
	notes := strings.Join(v.Left, "\n")
	for _, want := range []string{fmt.Sprintf("%d of %d sessions are drawn", maxWatchSessions, sessions), "evenly thinned"} {
		if !strings.Contains(notes, want) {
			t.Errorf("the notes do not say %q:\n%s", want, notes)
		}
	}
}

// A run without faults still gives the page's script a list of them (it
// reads their length; null stopped the script before the timeline drew).
func TestTimelineWithoutFaultsHasEmptyList(t *testing.T) {
	pairs := []history.Pair{{Invoke: history.Op{Index: 0, Type: history.Invoke, F: history.FRead},
		Complete: history.Op{Index: 1, Time: 10, Type: history.OK, F: history.FRead}}}
	b, err := marshalTimeline(buildTimeline(pairs, nil, nil, 10))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"faults":[]`) {
		t.Errorf("timeline without faults: want \"faults\":[], got %s", b)
	}
}

func TestSessionLines(t *testing.T) {
	expl := "1 missed, 2 unarmed. session 0x2: op 11 set a data watch on k1 (mzxid 0x5), op 19 then read it changed (it has mzxid 0x8), with no event before that read returned. " +
		"session 0x3: event changed on k2 at op 23, but no watch was set for it. session 0x3: event deleted on k2 at op 30, but no watch was set for it. (4 more not listed)"
	got := sessionLines(expl, "0x3")
	want := []string{"session 0x3: event changed on k2 at op 23, but no watch was set for it.", "session 0x3: event deleted on k2 at op 30, but no watch was set for it."}
	if !slices.Equal(got, want) {
		t.Errorf("session 0x3:\n got %q\nwant %q", got, want)
	}
	if got := sessionLines(expl, "0x2"); len(got) != 1 || !strings.HasSuffix(got[0], "before that read returned.") {
		t.Errorf("session 0x2: got %q", got)
	}
	if got := sessionLines(expl, "0x1"); got != nil {
		t.Errorf("session 0x1: got %q, want none", got)
	}
}

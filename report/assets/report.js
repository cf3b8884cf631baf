// zabcheck report: the per-process timeline drawn on a canvas from the
// compact JSON in #timeline-data (one array per field, delta-encoded starts
// and indexes), so 100k-op histories need no DOM element per op.
"use strict";
(function () {
  var status = document.getElementById("js-status");
  var errList = document.getElementById("js-errors");
  function recordError(msg) {
    if (status) { status.setAttribute("data-state", "error"); status.textContent = "script error"; }
    if (errList) { var li = document.createElement("li"); li.textContent = String(msg); errList.appendChild(li); }
  }
  window.addEventListener("error", function (e) { recordError(e.message || e); });
  window.addEventListener("unhandledrejection", function (e) { recordError(e.reason); });

  var TYPES = ["ok", "fail", "info"];
  var COLORS = ["#2b83ba", "#d7191c", "#fdae61"];

  function fmtS(us) { return (us / 1e6).toFixed(3) + " s"; }
  function fmtLat(us) { return us >= 1000 ? (us / 1000).toFixed(2) + " ms" : us + " µs"; }

  function decode(raw) {
    var n = raw.p.length, d = {
      n: n, raw: raw, start: new Float64Array(n), dur: new Float64Array(n), idx: new Float64Array(n),
      row: new Int32Array(n), byInvoke: new Map(), rowOps: [], maxDur: 0
    };
    var procRow = new Map();
    raw.procs.forEach(function (pr) { procRow.set(pr[0], pr[1]); });
    for (var r = 0; r < raw.rows.length; r++) d.rowOps.push([]);
    var s = 0, ix = 0;
    for (var i = 0; i < n; i++) {
      s += raw.s[i]; ix += raw.i[i];
      d.start[i] = s; d.dur[i] = raw.d[i]; d.idx[i] = ix;
      var row = procRow.has(raw.p[i]) ? procRow.get(raw.p[i]) : 0;
      d.row[i] = row;
      d.rowOps[row].push(i);
      d.byInvoke.set(ix, i);
      if (raw.d[i] > d.maxDur) d.maxDur = raw.d[i];
    }
    return d;
  }

  function niceStep(span, target) {
    var raw = span / target, p = Math.pow(10, Math.floor(Math.log10(raw))), m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
  }

  function Timeline(canvas, data) {
    var self = this;
    this.canvas = canvas; this.d = data; this.raw = data.raw;
    this.end = Math.max(this.raw.end, 1);
    this.t0 = 0; this.t1 = this.end; this.sel = -1;
    this.labelW = this.raw.workloads ? 170 : 110; this.axisH = 22; // rows of several workloads are labelled with theirs
    this.nemH = this.raw.faults.length ? 16 : 0;
    var rows = Math.max(this.raw.rows.length, 1);
    this.rowH = Math.max(4, Math.min(18, Math.floor(560 / rows)));
    this.height = this.axisH + this.nemH + rows * this.rowH + 4;
    this.tip = document.getElementById("tl-tip");
    this.resize();
    window.addEventListener("resize", function () { self.resize(); });
    canvas.addEventListener("wheel", function (e) {
      e.preventDefault();
      var t = self.timeAt(e.offsetX), f = e.deltaY > 0 ? 1.25 : 0.8;
      self.setWindow(t - (t - self.t0) * f, t + (self.t1 - t) * f);
    }, { passive: false });
    var drag = null;
    canvas.addEventListener("mousedown", function (e) { drag = { x: e.clientX, t0: self.t0, t1: self.t1, moved: false }; canvas.classList.add("dragging"); });
    window.addEventListener("mouseup", function (e) {
      if (drag && !drag.moved) self.select(self.opAt(e.offsetX, e.offsetY, e.target === canvas));
      drag = null; canvas.classList.remove("dragging");
    });
    window.addEventListener("mousemove", function (e) {
      if (drag) {
        var dx = e.clientX - drag.x;
        if (Math.abs(dx) > 2) drag.moved = true;
        var dt = dx / self.scale();
        self.setWindow(drag.t0 - dt, drag.t1 - dt);
        return;
      }
      if (e.target === canvas) self.hover(e.offsetX, e.offsetY); else self.tip.style.display = "none";
    });
    canvas.addEventListener("mouseleave", function () { self.tip.style.display = "none"; });
  }
  Timeline.prototype.resize = function () {
    if (!this.canvas.isConnected) return; // replaced by another window's
    var dpr = window.devicePixelRatio || 1, w = this.canvas.parentNode.clientWidth || 1000;
    this.width = w;
    this.canvas.width = Math.floor(w * dpr); this.canvas.height = Math.floor(this.height * dpr);
    this.canvas.style.height = this.height + "px";
    this.ctx = this.canvas.getContext("2d");
    this.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    this.draw();
  };
  Timeline.prototype.scale = function () { return (this.width - this.labelW) / Math.max(this.t1 - this.t0, 1); };
  Timeline.prototype.timeAt = function (x) { return this.t0 + (x - this.labelW) / this.scale(); };
  Timeline.prototype.setWindow = function (a, b) {
    var span = Math.max(b - a, 10), full = this.end * 1.02;
    if (span > full) { a = -this.end * 0.01; b = a + full; }
    else { if (a < -this.end * 0.01) { b += -this.end * 0.01 - a; a = -this.end * 0.01; } if (b > this.end * 1.01) { a -= b - this.end * 1.01; b = this.end * 1.01; } }
    this.t0 = a; this.t1 = b;
    this.canvas.setAttribute("data-window", Math.round(Math.max(a, 0)) + "-" + Math.round(b));
    var from = document.getElementById("tl-from"), to = document.getElementById("tl-to");
    if (from) from.value = (Math.max(a, 0) / 1e6).toFixed(3);
    if (to) to.value = (b / 1e6).toFixed(3);
    this.draw();
  };
  Timeline.prototype.draw = function () {
    var c = this.ctx, d = this.d, raw = this.raw, W = this.width, H = this.height, L = this.labelW;
    var sc = this.scale(), t0 = this.t0, t1 = this.t1, top = this.axisH + this.nemH, rh = this.rowH;
    c.clearRect(0, 0, W, H);
    c.fillStyle = "#fff"; c.fillRect(0, 0, W, H);
    // Fault intervals shade every row, and the nemesis row shows them solid.
    raw.faults.forEach(function (f) {
      if (f[1] < t0 || f[0] > t1) return;
      var x0 = L + Math.max(f[0] - t0, 0) * sc, x1 = L + (Math.min(f[1], t1) - t0) * sc;
      c.globalAlpha = 0.28; c.fillStyle = raw.fault_colors[f[2]]; c.fillRect(x0, top, Math.max(x1 - x0, 1), H - top);
      c.globalAlpha = 1; c.fillRect(x0, this.axisH + 2, Math.max(x1 - x0, 1), this.nemH - 4);
    }, this);
    c.globalAlpha = 1;
    // Ops, one pass per type so fillStyle changes three times per frame.
    var lo = 0, hi = d.n, tmin = t0 - d.maxDur;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (d.start[mid] < tmin) lo = mid + 1; else hi = mid; }
    var first = lo, h = Math.max(rh - 2, 2), drawn = 0;
    for (var ty = 0; ty < 3; ty++) {
      c.fillStyle = COLORS[ty];
      for (var i = first; i < d.n; i++) {
        var s = d.start[i];
        if (s > t1) break;
        if (raw.y[i] !== ty || s + d.dur[i] < t0) continue;
        var x = L + (s - t0) * sc, w = Math.max(d.dur[i] * sc, 1);
        if (x < L) { w -= L - x; x = L; }
        c.fillRect(x, top + d.row[i] * rh + 1, Math.max(w, 1), h);
        drawn++;
      }
    }
    this.canvas.setAttribute("data-drawn", drawn); // for tests and curious readers
    if (this.sel >= 0) {
      var si = this.sel, sx = L + (d.start[si] - t0) * sc;
      c.strokeStyle = "#000"; c.lineWidth = 2;
      c.strokeRect(sx - 2, top + d.row[si] * rh - 1, Math.max(d.dur[si] * sc, 1) + 4, rh + 2);
    }
    // Labels and axis over the bars.
    c.fillStyle = "#fff"; c.fillRect(0, 0, L, H); c.fillRect(0, 0, W, this.axisH);
    c.fillStyle = "#333"; c.font = "11px sans-serif"; c.textBaseline = "middle";
    if (this.nemH) c.fillText("nemesis", 4, this.axisH + this.nemH / 2);
    var every = Math.max(1, Math.ceil(12 / rh));
    for (var r = 0; r < raw.rows.length; r += every) c.fillText(raw.rows[r], 4, top + r * rh + rh / 2);
    var step = niceStep(t1 - t0, Math.max(2, Math.floor((W - L) / 110)));
    c.strokeStyle = "#ddd"; c.lineWidth = 1; c.textBaseline = "top";
    for (var t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
      var tx = L + (t - t0) * sc;
      c.beginPath(); c.moveTo(tx, this.axisH - 4); c.lineTo(tx, H); c.stroke();
      c.fillStyle = "#333"; c.fillText((t / 1e6).toFixed(step < 1e3 ? 4 : step < 1e6 ? 3 : 1) + "s", tx + 2, 4);
    }
    c.strokeStyle = "#999"; c.beginPath(); c.moveTo(L, 0); c.lineTo(L, H); c.stroke();
  };
  Timeline.prototype.opAt = function (x, y, inCanvas) {
    if (!inCanvas || x < this.labelW) return -1;
    var r = Math.floor((y - this.axisH - this.nemH) / this.rowH), ops = this.d.rowOps[r];
    if (!ops) return -1;
    var t = this.timeAt(x), slop = 2 / this.scale(), d = this.d;
    var lo = 0, hi = ops.length;
    while (lo < hi) { var m = (lo + hi) >> 1; if (d.start[ops[m]] <= t + slop) lo = m + 1; else hi = m; }
    for (var k = lo - 1; k >= 0 && k >= lo - 3; k--) {
      var i = ops[k];
      if (d.start[i] - slop <= t && t <= d.start[i] + d.dur[i] + slop) return i;
    }
    return -1;
  };
  Timeline.prototype.describe = function (i) {
    var raw = this.raw, d = this.d, parts = [
      "op " + d.idx[i] + " · process " + raw.p[i] + " · " + raw.fs[raw.f[i]] + (raw.k[i] ? " key " + raw.keys[raw.k[i]] : "") + (raw.v[i] ? " · " + raw.vals[raw.v[i]] : ""),
      TYPES[raw.y[i]] + " · invoked " + fmtS(d.start[i]) + " · latency " + fmtLat(d.dur[i])
    ];
    if (raw.workloads) parts.push("workload " + raw.workloads[raw.row_workloads[d.row[i]]]);
    if (raw.n[i]) parts.push("node " + raw.nodes[raw.n[i]]);
    if (raw.e[i]) parts.push("error: " + raw.errs[raw.e[i]]);
    return parts;
  };
  Timeline.prototype.hover = function (x, y) {
    var i = this.opAt(x, y, true), tip = this.tip;
    if (i < 0) { tip.style.display = "none"; return; }
    tip.textContent = "";
    this.describe(i).forEach(function (line) { var div = document.createElement("div"); div.textContent = line; tip.appendChild(div); });
    tip.style.display = "block";
    tip.style.left = Math.min(x + 12, this.width - 260) + "px"; tip.style.top = (y + 14) + "px";
  };
  Timeline.prototype.select = function (i) {
    this.sel = i;
    var box = document.getElementById("tl-selected");
    if (box) { box.textContent = i >= 0 ? "Selected: " + this.describe(i).join(" · ") : ""; box.setAttribute("data-op", i >= 0 ? this.d.idx[i] : ""); }
    this.draw();
  };
  Timeline.prototype.focusIndex = function (opIndex) {
    var inv = this.raw.refs[String(opIndex)];
    if (inv === undefined) inv = opIndex;
    var i = this.d.byInvoke.get(inv);
    if (i === undefined) return false;
    var pad = Math.max(this.d.dur[i] * 4, 200000);
    this.setWindow(this.d.start[i] - pad, this.d.start[i] + this.d.dur[i] + pad);
    this.select(i);
    this.canvas.scrollIntoView({ block: "center" });
    return true;
  };

  function init() {
    var el = document.getElementById("timeline-data"), canvas = document.getElementById("timeline");
    var tl = null;
    if (el && canvas) {
      var raw = JSON.parse(el.textContent);
      var data = decode(raw);
      var count = document.getElementById("tl-count");
      if (count) count.textContent = data.n + " operations on " + raw.rows.length + " rows" + (raw.windows ? " (window " + (raw.window + 1) + " of " + raw.windows.length + ")" : "");
      if (data.n > 0 || raw.faults.length > 0) {
        tl = new Timeline(canvas, data);
        window.zabcheckTimeline = tl;
      } else {
        canvas.style.display = "none";
      }
      if (raw.windows && tl) windowPicker(raw);
    }
    // A long history's timeline comes in windows: the page holds one, and
    // the others are files next to it, fetched when picked (through
    // zabcheck serve; a browser refuses fetches from file: pages).
    function windowPicker(raw) {
      var sel = document.createElement("select");
      sel.id = "tl-window";
      raw.windows.forEach(function (w, i) {
        var o = document.createElement("option");
        o.value = i; o.selected = i === raw.window;
        o.textContent = "window " + (i + 1) + " of " + raw.windows.length + ": " + fmtS(w.from) + " – " + fmtS(w.to) + " (" + w.ops + " ops)";
        sel.appendChild(o);
      });
      var ctl = document.querySelector(".tl-controls");
      if (ctl) ctl.appendChild(sel);
      sel.addEventListener("change", function () {
        var w = raw.windows[Number(sel.value)];
        fetch(w.file).then(function (r) {
          if (!r.ok) throw new Error("load " + w.file + ": " + r.status);
          return r.json();
        }).then(function (next) {
          // A fresh canvas drops the old timeline's listeners.
          var old = tl.canvas, fresh = old.cloneNode(false);
          old.parentNode.replaceChild(fresh, old);
          var d = decode(next);
          tl = new Timeline(fresh, d);
          window.zabcheckTimeline = tl;
          var count = document.getElementById("tl-count");
          if (count) count.textContent = d.n + " operations on " + next.rows.length + " rows (window " + (next.window + 1) + " of " + next.windows.length + ")";
          tl.setWindow(w.from, w.to);
        }).catch(function (e) { recordError(e && e.message ? e.message : e); });
      });
    }
    function onClick(sel, fn) { var b = document.getElementById(sel); if (b) b.addEventListener("click", fn); }
    if (tl) {
      onClick("tl-reset", function () { tl.setWindow(0, tl.end); });
      onClick("tl-in", function () { var m = (tl.t0 + tl.t1) / 2, s = (tl.t1 - tl.t0) / 4; tl.setWindow(m - s, m + s); });
      onClick("tl-out", function () { var m = (tl.t0 + tl.t1) / 2, s = tl.t1 - tl.t0; tl.setWindow(m - s, m + s); });
      onClick("tl-apply", function () {
        var a = parseFloat(document.getElementById("tl-from").value) * 1e6, b = parseFloat(document.getElementById("tl-to").value) * 1e6;
        if (isFinite(a) && isFinite(b) && b > a) tl.setWindow(a, b);
      });
      var w0 = tl.raw.windows ? tl.raw.windows[tl.raw.window] : null;
      if (w0) tl.setWindow(w0.from, w0.to); else tl.setWindow(0, tl.end);
    }
    // Op links in verdicts focus the timeline; without the op there, the
    // anchor to the cited-ops table still works.
    document.querySelectorAll("a[data-op]").forEach(function (a) {
      a.addEventListener("click", function (e) {
        var idx = Number(a.getAttribute("data-op"));
        document.querySelectorAll("tr.hl").forEach(function (r) { r.classList.remove("hl"); });
        var row = document.getElementById("op-" + idx);
        if (row) row.classList.add("hl");
        if (tl && tl.focusIndex(idx)) e.preventDefault();
      });
    });
    document.querySelectorAll("[data-start]").forEach(function (b) {
      b.addEventListener("click", function () {
        if (!tl) return;
        var a = Number(b.getAttribute("data-start")), z = Number(b.getAttribute("data-end")), pad = Math.max((z - a) * 0.2, 100000);
        tl.setWindow(a - pad, z + pad);
        tl.canvas.scrollIntoView({ block: "center" });
      });
    });
    // A link to report.html#op-N opens with that op in view.
    var m = /^#op-(\d+)$/.exec(window.location.hash);
    if (tl && m) tl.focusIndex(Number(m[1]));
    if (status && status.getAttribute("data-state") !== "error") { status.setAttribute("data-state", "ok"); status.textContent = "ready"; }
  }
  // A plot that fails to load is an error too (a missing SVG next to the
  // report).
  window.addEventListener("load", function () {
    document.querySelectorAll(".plots img").forEach(function (img) {
      if (!img.complete || img.naturalWidth === 0) recordError("plot did not load: " + img.getAttribute("src"));
    });
  });
  try { init(); } catch (e) { recordError(e && e.stack ? e.stack : e); }
})();

/* SkeletonVis page: pickers, canvas skeleton players, joint x time heatmaps, the hidden-state map,
 * the units panel (uPlot) and the maximisation response curves, all linked through one state.
 * Data: the JSON payload in #skelvis-data (skelvis.viewer.build_payload) and the gzip binary block
 * in #skelvis-blob; arrays are descriptors {o, dtype: "i2"|"u1"|"f4", shape, step}, value = q * step.
 * The state lives in window.skelvis.state and in the URL fragment; window.skelvis.drawn() reports
 * what is drawn now (the tests read it). */
(function () {
  "use strict";
  var T_START = performance.now();
  var P = JSON.parse(document.getElementById("skelvis-data").textContent);
  var H = P.header;
  var BUF = null;
  var $ = function (id) { return document.getElementById(id); };
  var BONE = "#8c8c8c";
  // Okabe & Ito's colour-blind-safe qualitative palette (classes, variants), then Paul Tol's darker
  // "muted" colours for the 9th to 16th class (the default run has 13: no two share a colour)
  var QUAL = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000",
              "#882255", "#44AA99", "#999933", "#332288", "#AA4499", "#117733", "#DDCC77", "#661100"];
  function lut(hex) { var a = new Uint8Array(768); for (var i = 0; i < 768; i++) a[i] = parseInt(hex.substr(2 * i, 2), 16); return a; }
  var SEQ = lut(P.colormaps.sequential), DIV = lut(P.colormaps.diverging);
  function rgb(L, v) { var i = Math.max(0, Math.min(255, Math.round(v * 255))) * 3; return "rgb(" + L[i] + "," + L[i + 1] + "," + L[i + 2] + ")"; }
  function classColor(c) { return QUAL[c % QUAL.length]; }
  function esc(s) { return String(s).replace(/[&<>"]/g, function (c) { return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]; }); }
  function fmtPct(v) { return v === null || v === undefined ? "n/a" : (100 * v).toFixed(1) + " %"; }
  function fmt(v) { return Math.abs(v) >= 100 || v === 0 ? v.toFixed(0) : v.toPrecision(2); }

  // ------------------------------------------------------------------ data
  function inflate(b64) {
    var bytes;
    if (typeof Uint8Array.fromBase64 === "function") bytes = Uint8Array.fromBase64(b64);  // native where offered
    else { var bin = atob(b64), n = bin.length; bytes = new Uint8Array(n); for (var i = 0; i < n; i++) bytes[i] = bin.charCodeAt(i); }
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).arrayBuffer();
  }
  // int16 byte-shuffled (low bytes, then high bytes); "delta": stored as differences along that axis
  function decode(d) {
    if (d._v) return d._v;
    var n = 1; d.shape.forEach(function (s) { n *= s; });
    var out = new Float64Array(n), q = new Int32Array(n), k;
    if (d.dtype === "i2") {
      var b = new Uint8Array(BUF, d.o, 2 * n);
      for (k = 0; k < n; k++) q[k] = ((b[n + k] << 24) >> 16) | b[k];
    } else {
      var a = d.dtype === "u1" ? new Uint8Array(BUF, d.o, n) : new Float32Array(BUF, d.o, n);
      if (d.dtype === "f4") { for (k = 0; k < n; k++) out[k] = a[k]; d._v = out; return out; }
      for (k = 0; k < n; k++) q[k] = a[k];
    }
    if (d.delta !== undefined && d.delta !== null && d.delta !== false) {
      var ax = +d.delta, stride = 1, len = d.shape[ax];
      for (var x = ax + 1; x < d.shape.length; x++) stride *= d.shape[x];
      for (k = 0; k < n; k++) if (Math.floor(k / stride) % len) q[k] += q[k - stride];
      if (d.dtype === "u1") for (k = 0; k < n; k++) q[k] &= 255;
    }
    for (k = 0; k < n; k++) out[k] = q[k] * d.step;
    d._v = out;
    return out;
  }
  function maxOf(a) { var m = 0; for (var i = 0; i < a.length; i++) if (a[i] > m) m = a[i]; return m; }
  function absMax(a) { var m = 0; for (var i = 0; i < a.length; i++) if (Math.abs(a[i]) > m) m = Math.abs(a[i]); return m; }
  // a maximisation run's snapshot i (L*J*3) from its start and offsets
  function snapshot(run, i) {
    var key = "_s" + i; if (run[key]) return run[key];
    var s = decode(run.start);
    if (i === 0) { run[key] = s; return s; }
    var o = decode(run.offsets), n = s.length, out = new Float64Array(n);
    for (var k = 0; k < n; k++) out[k] = s[k] + o[(i - 1) * n + k];
    run[key] = out; return out;
  }
  // |x_i - x_0| per joint, (L*J) for iteration i
  function displacementAt(run, i) {
    var key = "_d" + i; if (run[key]) return run[key];
    var o = decode(run.offsets), J = P.joints.length, n = run.start.shape[0] * J, d = new Float64Array(n);
    if (i > 0) for (var k = 0; k < n; k++) {
      var a = (i - 1) * n * 3 + 3 * k, dx = o[a], dy = o[a + 1], dz = o[a + 2];
      d[k] = Math.sqrt(dx * dx + dy * dy + dz * dz);
    }
    run[key] = d; return d;
  }
  function runIterations(run) { return run.offsets.shape[0]; }
  function runMaxDisplacement(run) {
    if (run._dmax !== undefined) return run._dmax;
    var m = 0; for (var i = 1; i <= runIterations(run); i++) m = Math.max(m, maxOf(displacementAt(run, i)));
    run._dmax = m; return m;
  }

  // ------------------------------------------------------------------ state
  var hasSal = P.methods.length > 0, hasMax = P.maxruns.length > 0;
  var HID = P.hidden;
  var state = { mode: hasSal || !hasMax ? "sensitivity" : "maximisation", method: 0, target: "class:0", filter: "all",
                seq: 0, run: -1, cmp: -1, frame: 0, iteration: null, unit: 0, rel: -1, hover: -1, playing: false,
                cam: { az: 0.35, el: 0.2, zoom: 1 } };
  var DEFAULT_CAM = { az: 0.35, el: 0.2, zoom: 1 };
  var drawnInfo = {};

  function option(value, text) { var o = document.createElement("option"); o.value = value; o.textContent = text; return o; }
  function parseTarget(v) { var p = String(v).split(":"); return { kind: p[0], index: parseInt(p[1], 10) }; }
  function targetName(t) { return t.kind === "class" ? "class " + H.classes[t.index] : "hidden unit " + t.index; }
  function seqText(s) { return s.id + " - true " + H.classes[s.label] + ", predicted " + H.classes[s.pred] + " (" + (100 * s.prob).toFixed(0) + " %, " + s.split + ", " + s.why + ")"; }

  // ------------------------------------------------------------------ static text
  function header() {
    var acc = H.accuracy || {}, s = H.samples_by_split || {};
    var units = H.hidden_units === null || H.hidden_units === undefined ? "n/a" :
      H.hidden_units + (H.layers > 1 ? " x " + H.layers + " layers" : "") + (H.cell ? " (" + String(H.cell).toUpperCase() + ")" : "");
    $("header").innerHTML = "<h1>" + esc(P.title) + " &mdash; " + esc(H.dataset) + (H.model ? " / " + esc(H.model) : "") + "</h1>" +
      "<table><tr><th>samples</th><td id='h-samples'>" + H.samples + " (train " + (s.train || 0) + ", validation " + (s.validation || 0) + ", test " + (s.test || 0) + ")</td>" +
      "<th>classes</th><td id='h-classes'>" + H.num_classes + "</td>" +
      "<th>hidden units</th><td id='h-units'>" + esc(units) + "</td></tr>" +
      "<tr><th>sensor</th><td id='h-sensor'>" + esc(H.sensor) + " (" + esc(H.topology) + ", " + H.joints + " joints)</td>" +
      "<th>accuracy</th><td id='h-accuracy' colspan='3'>train " + fmtPct(acc.train) + ", validation " + fmtPct(acc.validation) + ", test " + fmtPct(acc.test) + "</td></tr></table>";
    $("selection").textContent = "This page carries " + P.selection.rule + ".";
    $("notes").textContent = (P.notes || []).join(" ") + " Shown: " + P.sequences.length + " sequences, " + P.methods.length + " attribution method(s), " +
      P.units.length + " hidden units, " + P.maxruns.length + " maximisation targets (" + P.variants.join(", ") + "). Sources: " +
      Object.keys(P.sources).filter(function (k) { return P.sources[k]; }).map(function (k) { return k + " " + P.sources[k]; }).join("; ") +
      (P.methods.length ? "; " + P.methods.map(function (m) { return m.name + " " + m.source; }).join("; ") : "");
    $("howto-map").textContent = "How to read: each line is one carried sequence's path through the 2-D code of the autoencoder of the hidden states (Tempczyk & Bartołd), coloured by its true class; the thick line is the current sequence, the dot its current frame (dashed: the compared one). Click a line to load that sequence.";
    $("howto-activation").textContent = "How to read: the unit's activation h_t[u] over the current sequence's frames; shaded: its highly activated periods (h_t[u] above the unit's threshold, dashed; Cho et al.); the vertical line is the current frame.";
    $("howto-relevance").textContent = "How to read: LRP relevance of the unit's input for one explained period (mean over MC-dropout samples): top, each frame's total with a band of ±1 standard deviation over the samples; bottom, joint x time (orange positive, purple negative). Choosing an entry loads its sequence.";
    $("howto-response").textContent = "How to read: the maximised response (the target's logit or activation) per hill-climbing iteration, one line per variant; the vertical line is the iteration shown above.";
  }

  function fillStatic() {
    var m = $("method");
    P.methods.forEach(function (me, i) { m.appendChild(option(i, me.name)); });
    var t = $("target"), g1 = document.createElement("optgroup"), g2 = document.createElement("optgroup");
    g1.label = "classes"; g2.label = "hidden units";
    H.classes.forEach(function (c, i) { g1.appendChild(option("class:" + i, "class " + c)); });
    P.units.forEach(function (u) { g2.appendChild(option("unit:" + u, "hidden unit " + u)); });
    t.appendChild(g1); if (P.units.length) t.appendChild(g2);
    var f = $("class-filter");
    f.appendChild(option("all", "all classes"));
    H.classes.forEach(function (c, i) { f.appendChild(option(String(i), c)); });
    var c = $("compare");
    c.appendChild(option(-1, "(none)"));
    P.sequences.forEach(function (s, i) { c.appendChild(option(i, seqText(s))); });
    if (!hasSal) $("mode-sensitivity").disabled = true;
    if (!hasMax) $("mode-maximisation").disabled = true;
    var u = $("unit");
    if (HID) HID.units.forEach(function (uu, i) { u.appendChild(option(i, uu + (HID.layer !== null && HID.layer !== undefined ? " (layer " + HID.layer + ")" : ""))); });
    if (!HID) $("units-panel").classList.add("hidden");
    if (!P.map) $("map-panel").classList.add("hidden");
  }

  function benchmarkTable() {
    var keys = [];
    P.methods.forEach(function (m) { Object.keys(m.benchmark || {}).forEach(function (k) { if (keys.indexOf(k) < 0) keys.push(k); }); });
    if (!P.methods.length) { $("benchmark").innerHTML = ""; return; }
    var html = "<tr><th>method</th>" + keys.map(function (k) { return "<th>" + esc(k) + "</th>"; }).join("") + "</tr>";
    P.methods.forEach(function (m, i) {
      html += "<tr" + (i === state.method ? " class='current'" : "") + " data-method='" + i + "'><td>" + esc(m.name) + "</td>" +
        keys.map(function (k) { var v = (m.benchmark || {})[k]; return "<td>" + (v === undefined ? "n/a" : esc(v)) + "</td>"; }).join("") + "</tr>";
    });
    $("benchmark").innerHTML = html;
    $("benchmark").classList.toggle("hidden", state.mode !== "sensitivity");
  }

  // ------------------------------------------------------------------ choices
  function maxChoices() {
    var t = parseTarget(state.target), out = [];
    P.maxruns.forEach(function (r, i) { if (r.target.kind === t.kind && r.target.index === t.index) out.push(i); });
    return out;
  }
  function refillSequences() {
    var sel = $("sequence"); sel.innerHTML = "";
    if (state.mode === "maximisation") {
      var runs = maxChoices();
      runs.forEach(function (i) { var r = P.maxruns[i]; sel.appendChild(option(i, "start " + r.sample_id + (r.true !== null ? " (true " + H.classes[r.true] + ")" : ""))); });
      if (runs.indexOf(state.run) < 0) state.run = runs.length ? runs[0] : -1;
      if (!runs.length) sel.appendChild(option(-1, "(no run for this target)"));
      sel.value = String(state.run); sel.disabled = !runs.length;
      return;
    }
    var found = false;
    P.sequences.forEach(function (s, i) {
      if (state.filter === "all" || String(s.label) === state.filter || i === state.seq) {
        sel.appendChild(option(i, seqText(s))); if (i === state.seq) found = true;
      }
    });
    if (!found && sel.options.length) state.seq = parseInt(sel.options[0].value, 10);
    sel.value = String(state.seq);
  }

  // ------------------------------------------------------------------ panels: what each view draws
  function sensitivityPanel(i) {
    var s = P.sequences[i], t = parseTarget(state.target), L = s.length, J = P.joints.length, map, what;
    var pos = decode(s.pos);
    if (!hasSal) { map = new Float64Array(L * J); what = "no sensitivity maps in this page"; }
    else {
      var me = P.methods[state.method], mm = me.maps[i];
      if (t.kind === "class") {
        if (s.label === t.index) { map = decode(mm.class_map); what = me.name + " sensitivity of class " + H.classes[t.index] + " (true class)"; }
        else if (s.pred === t.index) { map = decode(mm.pred_map); what = me.name + " sensitivity of class " + H.classes[t.index] + " (predicted class)"; }
        else { map = decode(mm.class_map); what = me.name + " sensitivity of its true class " + H.classes[s.label] + " (no map for class " + H.classes[t.index] + ")"; }
      } else {
        var k = me.units.indexOf(t.index);
        if (k < 0 || !mm.unit_maps) { map = new Float64Array(L * J); what = "no " + me.name + " map for hidden unit " + t.index + " (shown blank)"; }
        else { map = decode(mm.unit_maps).subarray(k * L * J, (k + 1) * L * J); what = me.name + " sensitivity of hidden unit " + t.index; }
      }
    }
    return { L: L, J: J, seq: i, pos: function () { return pos; }, map: map, vmax: maxOf(map) || 1, bbox: pos,
             cbar: !hasSal ? "sensitivity" : t.kind === "unit" ? "sensitivity |dh_u/dx| (Eq. 4)"
               : P.methods[state.method].name === "local" ? "sensitivity S'_c (Eq. 5)" : P.methods[state.method].name + " (|attribution|)",
             title: s.id + ": " + what + (hasSal && P.methods[state.method].label ? " - " + P.methods[state.method].label : ""),
             label: s.id };
  }
  function maximisationPanels() {
    var r = P.maxruns[state.run]; if (!r) return [];
    var names = P.variants.filter(function (v) { return r.runs[v]; });
    var I = 0; names.forEach(function (v) { I = Math.max(I, runIterations(r.runs[v])); });
    var it = state.iteration === null ? I : Math.max(0, Math.min(state.iteration, I));
    state.iteration = it;
    var vmax = 0; names.forEach(function (v) { vmax = Math.max(vmax, runMaxDisplacement(r.runs[v])); });
    vmax = vmax || 1;
    var J = P.joints.length, L = r.length, first = r.runs[names[0]];
    var out = [{ L: L, J: J, seq: r.seq, pos: function () { return snapshot(first, 0); }, map: new Float64Array(L * J), vmax: vmax,
                 bbox: allSnapshots(r, names), cbar: "displacement from the original", title: "original (iteration 0), sample " + r.sample_id, label: "original", variant: "original" }];
    names.forEach(function (v) {
      var run = r.runs[v], iv = Math.min(it, runIterations(run));
      out.push({ L: L, J: J, seq: r.seq, pos: function () { return snapshot(run, iv); }, map: displacementAt(run, iv), vmax: vmax,
                 bbox: out[0].bbox, cbar: "displacement from the original", variant: v, label: v,
                 title: v + ": " + targetName(r.target) + ", iteration " + iv + " of " + runIterations(run) });
    });
    return out;
  }
  function allSnapshots(r, names) {
    if (r._bbox) return r._bbox;
    var parts = []; names.forEach(function (v) { var run = r.runs[v]; parts.push(snapshot(run, 0)); parts.push(snapshot(run, runIterations(run))); });
    var n = 0; parts.forEach(function (p) { n += p.length; });
    var all = new Float64Array(n), o = 0; parts.forEach(function (p) { all.set(p, o); o += p.length; });
    r._bbox = all; return all;
  }
  function panels() {
    if (state.mode === "maximisation") return maximisationPanels();
    var out = [sensitivityPanel(state.seq)];
    if (state.cmp >= 0 && state.cmp !== state.seq) {
      out.push(sensitivityPanel(state.cmp));
      var v = Math.max(out[0].vmax, out[1].vmax); out[0].vmax = v; out[1].vmax = v;  // one colour scale
    }
    return out;
  }

  // ------------------------------------------------------------------ the player (canvas, orthographic)
  function bounds(all) {
    var lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
    for (var i = 0; i < all.length; i += 3) for (var d = 0; d < 3; d++) { if (all[i + d] < lo[d]) lo[d] = all[i + d]; if (all[i + d] > hi[d]) hi[d] = all[i + d]; }
    var half = 0; for (var e = 0; e < 3; e++) half = Math.max(half, (hi[e] - lo[e]) / 2);
    return { c: [0, 1, 2].map(function (k) { return (hi[k] + lo[k]) / 2; }), half: half * 1.1 || 1 };
  }
  // body frame (+x the person's left, +y up, +z forward) -> screen, seen from the front, turned by az, tilted by el
  function project(b, w, h, x, y, z) {
    var cam = state.cam, ca = Math.cos(cam.az), sa = Math.sin(cam.az), ce = Math.cos(cam.el), se = Math.sin(cam.el);
    x -= b.c[0]; y -= b.c[1]; z -= b.c[2];
    var x1 = x * ca + z * sa, z1 = -x * sa + z * ca, y2 = y * ce - z1 * se, z2 = y * se + z1 * ce;
    var s = Math.min(w, h) / 2 / b.half * cam.zoom;
    return [w / 2 + s * x1, h / 2 - s * y2, z2];
  }
  function sizeCanvas(cv, h) { var w = cv.parentNode.clientWidth || 400; if (cv.width !== w) cv.width = w; if (cv.height !== h) cv.height = h; }
  function drawPlayer(cv, p, f, showBar) {
    sizeCanvas(cv, 380);
    var ctx = cv.getContext("2d"), w = cv.width - (showBar ? 70 : 0), h = cv.height, J = p.J, pos = p.pos();
    if (!p._b) p._b = bounds(p.bbox);
    ctx.clearRect(0, 0, cv.width, h); ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, cv.width, h);
    f = Math.min(f, p.L - 1);
    var pts = [];
    for (var j = 0; j < J; j++) { var a = (f * J + j) * 3; pts.push(project(p._b, w, h, pos[a], pos[a + 1], pos[a + 2])); }
    ctx.strokeStyle = BONE; ctx.lineWidth = 4; ctx.lineCap = "round";
    P.bones.forEach(function (bn) { ctx.beginPath(); ctx.moveTo(pts[bn[0]][0], pts[bn[0]][1]); ctx.lineTo(pts[bn[1]][0], pts[bn[1]][1]); ctx.stroke(); });
    var order = pts.map(function (_, j) { return j; }).sort(function (a, b) { return pts[a][2] - pts[b][2]; });
    var vals = Array.prototype.slice.call(p.map, f * J, (f + 1) * J);
    order.forEach(function (j) {
      ctx.beginPath(); ctx.arc(pts[j][0], pts[j][1], 6, 0, 2 * Math.PI);
      ctx.fillStyle = rgb(SEQ, vals[j] / p.vmax); ctx.fill(); ctx.lineWidth = 1; ctx.strokeStyle = "#333"; ctx.stroke();
    });
    if (state.hover >= 0 && state.hover < J) {
      var q = pts[state.hover];
      ctx.beginPath(); ctx.arc(q[0], q[1], 11, 0, 2 * Math.PI); ctx.lineWidth = 3; ctx.strokeStyle = "#D55E00"; ctx.stroke();
      ctx.fillStyle = "#000"; ctx.font = "12px sans-serif"; ctx.fillText(P.joints[state.hover], q[0] + 13, q[1] - 8);
    }
    ctx.fillStyle = "#333"; ctx.font = "11px sans-serif"; ctx.fillText("frame " + f + " / " + (p.L - 1), 6, h - 8);
    if (showBar) colorBar(ctx, cv.width - 62, 30, 14, h - 70, SEQ, 0, p.vmax, p.cbar);
    return { colors: vals, screen: pts, frame: f };
  }
  function colorBar(ctx, x, y, w, h, L, lo, hi, title) {
    for (var i = 0; i < h; i++) { ctx.fillStyle = rgb(L, 1 - i / (h - 1)); ctx.fillRect(x, y + i, w, 1); }
    ctx.strokeStyle = "#333"; ctx.lineWidth = 1; ctx.strokeRect(x + 0.5, y + 0.5, w, h);
    ctx.fillStyle = "#222"; ctx.font = "10px sans-serif";
    [0, 0.5, 1].forEach(function (r) { var v = lo + (hi - lo) * r; ctx.fillText(fmt(v), x + w + 3, y + h - r * h + 3); });
    ctx.save(); ctx.translate(x - 4, y + h / 2); ctx.rotate(-Math.PI / 2); ctx.textAlign = "center"; ctx.fillText(title, 0, 0); ctx.restore();
  }

  // ------------------------------------------------------------------ the joint x time heatmap (canvas)
  var HM = { l: 110, r: 80, t: 8, b: 34 };
  function drawHeatmap(cv, p, f, L_, signed) {
    sizeCanvas(cv, Math.max(160, 12 * p.J + HM.t + HM.b));
    var ctx = cv.getContext("2d"), J = p.J, L = p.L, W = cv.width - HM.l - HM.r, Hh = cv.height - HM.t - HM.b;
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, cv.width, cv.height);
    var off = document.createElement("canvas"); off.width = L; off.height = J;
    var oc = off.getContext("2d"), img = oc.createImageData(L, J), lutA = L_ || SEQ, m = p.vmax;
    for (var j = 0; j < J; j++) for (var t = 0; t < L; t++) {
      var v = p.map[t * J + j], r = signed ? 0.5 + 0.5 * v / m : v / m, k = Math.max(0, Math.min(255, Math.round(r * 255))) * 3, o = (j * L + t) * 4;
      img.data[o] = lutA[k]; img.data[o + 1] = lutA[k + 1]; img.data[o + 2] = lutA[k + 2]; img.data[o + 3] = 255;
    }
    oc.putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false; ctx.drawImage(off, HM.l, HM.t, W, Hh);
    ctx.fillStyle = "#222"; ctx.font = "9px sans-serif"; ctx.textAlign = "right";
    var rowH = Hh / J;
    if (rowH >= 7) for (var jj = 0; jj < J; jj++) ctx.fillText(P.joints[jj], HM.l - 4, HM.t + (jj + 0.7) * rowH);
    ctx.textAlign = "center"; ctx.font = "10px sans-serif";
    var step = Math.max(1, Math.ceil(L / 10));
    for (var tt = 0; tt < L; tt += step) ctx.fillText(String(tt), HM.l + (tt + 0.5) * W / L, HM.t + Hh + 12);
    ctx.fillText("frame t", HM.l + W / 2, HM.t + Hh + 27);
    ctx.save(); ctx.translate(10, HM.t + Hh / 2); ctx.rotate(-Math.PI / 2); ctx.fillText("joint", 0, 0); ctx.restore();
    ctx.textAlign = "left";
    if (state.hover >= 0 && rowH >= 1) { ctx.strokeStyle = "#D55E00"; ctx.lineWidth = 2; ctx.strokeRect(HM.l, HM.t + state.hover * rowH, W, rowH); }
    if (f !== null && f < L) { ctx.strokeStyle = "#d62728"; ctx.lineWidth = 2; var x = HM.l + (f + 0.5) * W / L; ctx.beginPath(); ctx.moveTo(x, HM.t); ctx.lineTo(x, HM.t + Hh); ctx.stroke(); }
    colorBar(ctx, cv.width - HM.r + 28, HM.t + 4, 12, Hh - 8, lutA, signed ? -m : 0, m, p.cbar);
    cv._geom = { L: L, J: J, W: W, H: Hh };
  }
  function heatCell(cv, ev) {
    var g = cv._geom; if (!g) return null;
    var rect = cv.getBoundingClientRect(), x = (ev.clientX - rect.left) * cv.width / rect.width - HM.l, y = (ev.clientY - rect.top) * cv.height / rect.height - HM.t;
    if (x < 0 || y < 0 || x >= g.W || y >= g.H) return null;
    return { t: Math.floor(x / g.W * g.L), j: Math.floor(y / g.H * g.J) };
  }

  // ------------------------------------------------------------------ views: build the DOM, draw
  var PANELS = [], VIEWS = [], HEATS = [];
  function ensureViews(n) {
    if (VIEWS.length === n) return;
    $("views").innerHTML = ""; $("heatmaps").innerHTML = ""; VIEWS = []; HEATS = [];
    for (var i = 0; i < n; i++) {
      var v = document.createElement("div"); v.className = "view"; v.innerHTML = "<h3></h3><canvas class='player'></canvas>";
      $("views").appendChild(v); VIEWS.push(v); attachCamera(v.querySelector("canvas"));
      var hmd = document.createElement("div"); hmd.className = "hm"; hmd.innerHTML = "<h3></h3><canvas class='heatmap'></canvas>";
      $("heatmaps").appendChild(hmd); HEATS.push(hmd); attachHeat(hmd.querySelector("canvas"));
    }
  }
  function drawAll() {
    var isMax = state.mode === "maximisation";
    $("max-controls").classList.toggle("hidden", !isMax);
    $("response-panel").classList.toggle("hidden", !isMax);
    $("compare-box").classList.toggle("hidden", isMax);
    $("method-box").classList.toggle("hidden", isMax || P.methods.length === 0);
    $("class-filter").disabled = isMax;
    $("status").textContent = "";
    $("repair-panel").classList.add("hidden"); drawnInfo.repair = null;   // drawFrame shows it for a repaired start
    PANELS = panels();
    if (!PANELS.length) { $("status").textContent = "nothing to show for " + targetName(parseTarget(state.target)) + " in this mode"; ensureViews(0); return; }
    var Lmax = 0; PANELS.forEach(function (p) { Lmax = Math.max(Lmax, p.L); });
    if (state.frame < 0) state.frame = isMax ? peakFrame(PANELS[PANELS.length - 1]) : 0;
    state.frame = Math.max(0, Math.min(state.frame, Lmax - 1));
    $("frame").max = Lmax - 1;
    if (isMax) { var I = 0; P.variants.forEach(function (v) { var run = P.maxruns[state.run].runs[v]; if (run) I = Math.max(I, runIterations(run)); }); $("iteration").max = I; $("iteration").value = state.iteration; }
    ensureViews(PANELS.length);
    PANELS.forEach(function (p, i) {
      VIEWS[i].querySelector("h3").textContent = p.title;
      HEATS[i].querySelector("h3").textContent = (isMax ? "joint displacement from the original: " : "joint x time: ") + p.label;
    });
    $("howto-player").textContent = isMax ?
      "How to read: left, the original input; beside it each variant's maximised sequence at the chosen iteration, joints coloured by how far they moved from the original (one colour scale for all). Drag to rotate, wheel to zoom." :
      "How to read: the skeleton at the current frame, each joint coloured by the method's sensitivity of the chosen target (Patil et al. Eq. 5 for 'local'; brighter = more sensitive" + (PANELS.length > 1 ? "; both sequences share one colour scale and one frame slider" : "") + "). Drag to rotate, wheel to zoom.";
    $("howto-heatmap").textContent = "How to read: rows are joints, columns frames, colour the same quantity as the player's joints; hover a cell to ring its joint in the player, click to jump to that frame; the red line is the current frame.";
    drawFrame();
    benchmarkTable();
    if (isMax) drawResponse();
    drawUnits();
    writeHash();
  }
  function peakFrame(p) {
    var best = 0, bv = -1;
    for (var t = 0; t < p.L; t++) { var s = 0; for (var j = 0; j < p.J; j++) s += p.map[t * p.J + j]; if (s > bv) { bv = s; best = t; } }
    return best;
  }
  function drawFrame() {
    var f = state.frame, info = [];
    PANELS.forEach(function (p, i) {
      var d = drawPlayer(VIEWS[i].querySelector("canvas"), p, f, i === PANELS.length - 1 || state.mode === "sensitivity");
      drawHeatmap(HEATS[i].querySelector("canvas"), p, Math.min(f, p.L - 1), SEQ, false);
      info.push(d);
    });
    drawnInfo.panels = info;
    $("frame").value = f;
    $("frame-label").textContent = "frame " + f + " / " + ($("frame").max);
    $("iteration-label").textContent = state.mode === "maximisation" ? "iteration " + state.iteration + " / " + $("iteration").max : "";
    drawMap();
    drawRepair();
    redrawCharts();
  }
  // how the current maximisation start was repaired: the line, one bar per frame (how far the
  // repair moved it) and a tick on each frame that broke a limit; the current frame as a line
  function drawRepair() {
    var r = state.mode === "maximisation" ? P.maxruns[state.run] : null, rep = r ? r.repair : null;
    $("repair-panel").classList.toggle("hidden", !rep);
    drawnInfo.repair = null;
    if (!rep) return;
    $("repair-line").textContent = rep.line;
    $("howto-repair").textContent = rep.mode === "repair" ?
      "How to read: the start (the recorded motion) broke the named limits in the frames ticked red, so before the climb it was projected onto the constraints (repaired); each grey bar is how far the repair moved that frame (its largest joint displacement, body-frame units; the repair also sets every frame's bone lengths to their sequence mean, so frames that broke no limit move a little too). Iteration 0 of every variant is the repaired start. The dark line is the current frame; click to jump to a frame." :
      "How to read: the start (the recorded motion) broke the named limits in the frames ticked red; it was not repaired (infeasible_start: skip), those limits are off in those frames. The dark line is the current frame; click to jump to a frame.";
    var cv = $("repair-strip"), L = r.length, W = cv.width = Math.max(300, cv.clientWidth || 600), Hh = cv.height;
    var ctx = cv.getContext("2d"), mask = decode(rep.broken_mask), disp = rep.displacement ? decode(rep.displacement) : null;
    var dmax = disp ? maxOf(disp) : 0, marks = [], bars = 0, bw = W / L;
    ctx.clearRect(0, 0, W, Hh);
    for (var t = 0; t < L; t++) {
      if (disp && dmax > 0 && disp[t] > 0) {
        var h = Math.max(1, (Hh - 9) * disp[t] / dmax); bars++;
        ctx.fillStyle = "#8a8a8a"; ctx.fillRect(t * bw + 0.15 * bw, Hh - h, Math.max(1, 0.7 * bw), h);
      }
      if (mask[t] > 0.5) { marks.push(t); ctx.fillStyle = "#D55E00"; ctx.fillRect(t * bw, 0, Math.max(1.5, bw), 6); }
    }
    var f = Math.min(state.frame, L - 1);
    ctx.fillStyle = "#222"; ctx.fillRect((f + 0.5) * bw - 1, 0, 2, Hh);
    drawnInfo.repair = { line: rep.line, marks: marks, bars: bars, frame: f, howto: $("howto-repair").textContent };
  }
  function setFrame(f) { if (!PANELS.length) return; state.frame = Math.max(0, Math.min(+$("frame").max, +f)); drawFrame(); writeHash(); }

  // ------------------------------------------------------------------ camera and heatmap interaction
  function attachCamera(cv) {
    var drag = null;
    cv.addEventListener("mousedown", function (e) { drag = [e.clientX, e.clientY]; e.preventDefault(); });
    window.addEventListener("mouseup", function () { if (drag) { drag = null; writeHash(); } });
    window.addEventListener("mousemove", function (e) {
      if (!drag) return;
      state.cam.az += (e.clientX - drag[0]) * 0.01;
      state.cam.el = Math.max(-1.5, Math.min(1.5, state.cam.el + (e.clientY - drag[1]) * 0.01));
      drag = [e.clientX, e.clientY]; drawFrame();
    });
    cv.addEventListener("wheel", function (e) { e.preventDefault(); state.cam.zoom = Math.max(0.3, Math.min(5, state.cam.zoom * (e.deltaY < 0 ? 1.1 : 1 / 1.1))); drawFrame(); writeHash(); }, { passive: false });
  }
  function attachHeat(cv) {
    cv.addEventListener("mousemove", function (e) { var c = heatCell(cv, e); var j = c ? c.j : -1; if (j !== state.hover) { state.hover = j; drawFrame(); } cv.title = c ? P.joints[c.j] + ", frame " + c.t : ""; });
    cv.addEventListener("mouseleave", function () { if (state.hover !== -1) { state.hover = -1; drawFrame(); } });
    cv.addEventListener("click", function (e) { var c = heatCell(cv, e); if (c) setFrame(c.t); });
  }

  // ------------------------------------------------------------------ the hidden-state map
  var MAPM = { l: 46, r: 10, t: 10, b: 36 };
  function mapBounds() {
    if (P.map._b) return P.map._b;
    var lo = [Infinity, Infinity], hi = [-Infinity, -Infinity];
    P.map.paths.forEach(function (d) { var a = decode(d); for (var i = 0; i < a.length; i++) { var k = i % 2; if (a[i] < lo[k]) lo[k] = a[i]; if (a[i] > hi[k]) hi[k] = a[i]; } });
    for (var k = 0; k < 2; k++) { var pad = (hi[k] - lo[k]) * 0.05 || 1; lo[k] -= pad; hi[k] += pad; }
    P.map._b = { lo: lo, hi: hi }; return P.map._b;
  }
  function mapPoint(x, y) {
    var b = mapBounds(), cv = $("map"), W = cv.width - MAPM.l - MAPM.r, Hh = cv.height - MAPM.t - MAPM.b;
    return [MAPM.l + (x - b.lo[0]) / (b.hi[0] - b.lo[0]) * W, MAPM.t + (b.hi[1] - y) / (b.hi[1] - b.lo[1]) * Hh];
  }
  function mapSeqFrame(i, f) { var a = decode(P.map.paths[i]), L = P.sequences[i].length; f = Math.max(0, Math.min(L - 1, f)); return [a[2 * f], a[2 * f + 1]]; }
  function tracePath(ctx, i) {
    var a = decode(P.map.paths[i]), L = P.sequences[i].length;
    ctx.beginPath();
    for (var t = 0; t < L; t++) { var q = mapPoint(a[2 * t], a[2 * t + 1]); if (t) ctx.lineTo(q[0], q[1]); else ctx.moveTo(q[0], q[1]); }
    ctx.stroke();
  }
  function drawMap() {
    if (!P.map) return;
    var cv = $("map"), ctx = cv.getContext("2d"), b = mapBounds();
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, cv.width, cv.height);
    var W = cv.width - MAPM.l - MAPM.r, Hh = cv.height - MAPM.t - MAPM.b;
    ctx.strokeStyle = "#999"; ctx.lineWidth = 1; ctx.strokeRect(MAPM.l, MAPM.t, W, Hh);
    ctx.fillStyle = "#222"; ctx.font = "10px sans-serif"; ctx.textAlign = "center";
    [0, 0.5, 1].forEach(function (r) {
      // the end ticks' labels run inward from the corner, so that the two at a corner do not overlap
      ctx.textAlign = r === 0 ? "left" : (r === 1 ? "right" : "center");
      ctx.fillText(fmt(b.lo[0] + r * (b.hi[0] - b.lo[0])), MAPM.l + r * W, MAPM.t + Hh + 12);
      ctx.save(); ctx.translate(MAPM.l - 6, MAPM.t + (1 - r) * Hh); ctx.rotate(-Math.PI / 2); ctx.fillText(fmt(b.lo[1] + r * (b.hi[1] - b.lo[1])), r === 0 ? 4 : (r === 1 ? -4 : 0), 0); ctx.restore();
    });
    ctx.textAlign = "center";
    ctx.fillText("code 1 (autoencoder of the hidden states)", MAPM.l + W / 2, MAPM.t + Hh + 28);
    ctx.save(); ctx.translate(12, MAPM.t + Hh / 2); ctx.rotate(-Math.PI / 2); ctx.fillText("code 2", 0, 0); ctx.restore();
    ctx.textAlign = "left"; ctx.lineJoin = "round";
    var cur = state.mode === "sensitivity" ? state.seq : (P.maxruns[state.run] ? P.maxruns[state.run].seq : null);
    ctx.globalAlpha = 0.45; ctx.lineWidth = 1.2;
    P.sequences.forEach(function (s, i) { if (i !== cur && i !== state.cmp) { ctx.strokeStyle = classColor(s.label); tracePath(ctx, i); } });
    ctx.globalAlpha = 1;
    // legend
    H.classes.forEach(function (c, k) { ctx.fillStyle = classColor(k); ctx.fillRect(MAPM.l + 6, MAPM.t + 6 + 12 * k, 10, 3); ctx.fillStyle = "#222"; ctx.fillText(c, MAPM.l + 20, MAPM.t + 10 + 12 * k); });
    var info = { seq: cur, cmp: state.cmp, point: null, screen: null };
    if (state.mode === "sensitivity" && state.cmp >= 0 && state.cmp !== cur) {
      ctx.setLineDash([6, 4]); ctx.lineWidth = 2.5; ctx.strokeStyle = classColor(P.sequences[state.cmp].label); tracePath(ctx, state.cmp); ctx.setLineDash([]);
      var pc = mapSeqFrame(state.cmp, state.frame), qc = mapPoint(pc[0], pc[1]);
      ctx.beginPath(); ctx.arc(qc[0], qc[1], 5, 0, 2 * Math.PI); ctx.fillStyle = "#fff"; ctx.fill(); ctx.lineWidth = 2; ctx.strokeStyle = "#000"; ctx.stroke();
      info.cmpPoint = pc;
    }
    if (cur !== null && cur !== undefined && cur >= 0) {
      ctx.lineWidth = 3.5; ctx.strokeStyle = classColor(P.sequences[cur].label); tracePath(ctx, cur);
      var p = mapSeqFrame(cur, state.frame), q = mapPoint(p[0], p[1]);
      ctx.beginPath(); ctx.arc(q[0], q[1], 7, 0, 2 * Math.PI); ctx.fillStyle = "#000"; ctx.fill(); ctx.lineWidth = 2; ctx.strokeStyle = "#fff"; ctx.stroke();
      info.point = p; info.screen = q;
    }
    drawnInfo.map = info;
  }
  function distToSegment(px, py, a, b) {
    var dx = b[0] - a[0], dy = b[1] - a[1], l2 = dx * dx + dy * dy, t = l2 ? ((px - a[0]) * dx + (py - a[1]) * dy) / l2 : 0;
    t = Math.max(0, Math.min(1, t)); var x = a[0] + t * dx - px, y = a[1] + t * dy - py; return Math.sqrt(x * x + y * y);
  }
  function nearestPath(px, py) {
    var best = -1, bd = 8;
    P.sequences.forEach(function (s, i) {
      var a = decode(P.map.paths[i]), prev = null;
      for (var t = 0; t < s.length; t++) {
        var q = mapPoint(a[2 * t], a[2 * t + 1]), d = prev ? distToSegment(px, py, prev, q) : Math.hypot(q[0] - px, q[1] - py);
        if (d < bd || (d === bd && i === state.seq)) { bd = d; best = i; }
        prev = q;
      }
    });
    return best;
  }
  function onMapClick(e) {
    var cv = $("map"), r = cv.getBoundingClientRect(), px = (e.clientX - r.left) * cv.width / r.width, py = (e.clientY - r.top) * cv.height / r.height;
    var i = nearestPath(px, py);
    if (i < 0) return;
    loadSequence(i, 0);
  }
  function loadSequence(i, frame) {
    if (state.mode !== "sensitivity" && hasSal) { state.mode = "sensitivity"; $("mode-sensitivity").checked = true; }
    state.seq = i; state.frame = frame || 0;
    if (state.filter !== "all" && String(P.sequences[i].label) !== state.filter) { state.filter = "all"; $("class-filter").value = "all"; }
    if (state.cmp === i) state.cmp = -1;
    refillSequences(); $("compare").value = String(state.cmp); drawAll();
  }

  // ------------------------------------------------------------------ units panel (uPlot)
  var actPlot = null, relPlot = null, respPlot = null;
  function curUnitSeq() { return state.mode === "sensitivity" ? state.seq : (P.maxruns[state.run] ? P.maxruns[state.run].seq : null); }
  function unitPeriods(seq, k) { return HID.periods.filter(function (p) { return p[0] === seq && p[1] === k; }).map(function (p) { return [p[2], p[3]]; }); }
  function cursorPlugin(get) {
    return { hooks: { draw: function (u) {
      var x = get(); if (x === null || x === undefined) return;
      var cx = u.valToPos(x, "x", true), ctx = u.ctx; ctx.save(); ctx.strokeStyle = "#d62728"; ctx.lineWidth = 2;
      ctx.beginPath(); ctx.moveTo(cx, u.bbox.top); ctx.lineTo(cx, u.bbox.top + u.bbox.height); ctx.stroke(); ctx.restore();
    } } };
  }
  function chartWidth(el) { return Math.max(300, (el.parentNode.clientWidth || 500) - 10); }
  function drawUnits() {
    if (!HID) return;
    var k = state.unit, u = HID.units[k], seq = curUnitSeq(), ent = relevanceEntries();
    $("unit").value = String(k);
    var rs = $("relevance-entry"); rs.innerHTML = "";
    if (!ent.length) rs.appendChild(option(-1, "(no relevance for this unit)"));
    ent.forEach(function (q) { var r = HID.relevance[q], s = P.sequences[r.seq]; rs.appendChild(option(q, "relevance: cluster " + r.cluster + ", " + s.id + ", period " + r.start + "-" + r.stop + " at t=" + r.t)); });
    if (ent.indexOf(state.rel) < 0) state.rel = -1;
    rs.value = String(state.rel >= 0 ? state.rel : (ent.length ? ent[0] : -1));
    // activation of unit u over the current sequence
    var el = $("activation-chart");
    if (actPlot) { actPlot.destroy(); actPlot = null; }
    drawnInfo.unit = { unit: u, seq: seq, periods: [] };
    if (seq === null || seq === undefined || seq < 0) { el.textContent = "the current maximisation start is not among the carried sequences"; }
    else {
      el.textContent = "";
      var L = P.sequences[seq].length, a = decode(HID.activation[seq]), U = HID.units.length, xs = [], ys = [], th = [];
      var thr = HID.threshold ? HID.threshold[k] : null;
      for (var t = 0; t < L; t++) { xs.push(t); ys.push(a[t * U + k]); th.push(thr); }
      var per = unitPeriods(seq, k);
      drawnInfo.unit.periods = per; drawnInfo.unit.threshold = thr;
      var shade = { hooks: { drawClear: function (uu) {
        var ctx = uu.ctx; ctx.save(); ctx.fillStyle = "rgba(230,159,0,0.28)";
        per.forEach(function (p) { var x0 = uu.valToPos(p[0] - 0.5, "x", true), x1 = uu.valToPos(p[1] - 0.5, "x", true); ctx.fillRect(x0, uu.bbox.top, x1 - x0, uu.bbox.height); });
        ctx.restore();
      } } };
      var series = [{ label: "frame" }, { label: "h_t[" + u + "]", stroke: "#0072B2", width: 2 }];
      var dat = [xs, ys];
      if (thr !== null) { series.push({ label: "threshold", stroke: "#555", dash: [5, 4], width: 1, points: { show: false } }); dat.push(th); }
      actPlot = new uPlot({ width: chartWidth(el), height: 190, plugins: [shade, cursorPlugin(function () { return Math.min(state.frame, L - 1); })],
        scales: { x: { time: false } }, axes: [{ label: "frame t", incrs: [1, 2, 5, 10, 20, 50, 100] }, { label: "activation h_t[" + u + "]" }], series: series,
        title: "hidden unit " + u + " on " + P.sequences[seq].id + " (" + per.length + " highly activated period" + (per.length === 1 ? "" : "s") +
          (HID.periods_splits && HID.periods_splits.indexOf(P.sequences[seq].split) < 0 ? "; its " + P.sequences[seq].split + " split is not among the periods stage's splits" : "") + ")" }, dat, el);
    }
    drawRelevance();
  }
  function relevanceEntries() { var out = []; if (HID) HID.relevance.forEach(function (r, q) { if (r.unit === HID.units[state.unit]) out.push(q); }); return out; }
  function drawRelevance() {
    var el = $("relevance-chart"), cv = $("relevance-map");
    if (relPlot) { relPlot.destroy(); relPlot = null; }
    var ent = relevanceEntries(), q = state.rel >= 0 ? state.rel : (ent.length ? ent[0] : -1);
    drawnInfo.relevance = null;
    if (q < 0) { el.textContent = HID.threshold ? "no relevance computed for this unit (the periods stage explains its n_units clearest units)" : ""; cv.classList.add("hidden"); return; }
    el.textContent = ""; cv.classList.remove("hidden");
    var r = HID.relevance[q], s = P.sequences[r.seq], L = s.length, xs = [], lo = [], hi = [];
    for (var t = 0; t < L; t++) { xs.push(t); lo.push(r.frame_total[t] - r.frame_std[t]); hi.push(r.frame_total[t] + r.frame_std[t]); }
    var onSeq = r.seq === curUnitSeq();
    relPlot = new uPlot({ width: chartWidth(el), height: 170, plugins: [cursorPlugin(function () { return onSeq ? Math.min(state.frame, L - 1) : r.t; })],
      scales: { x: { time: false } }, axes: [{ label: "frame t", incrs: [1, 2, 5, 10, 20, 50, 100] }, { label: "relevance (sum over joints)" }],
      series: [{ label: "frame" }, { label: "mean", stroke: "#D55E00", width: 2 }, { label: "+1 sd", stroke: "rgba(213,94,0,0.3)" }, { label: "-1 sd", stroke: "rgba(213,94,0,0.3)" }],
      bands: [{ series: [2, 3], fill: "rgba(213,94,0,0.18)" }],
      title: "LRP relevance of unit " + r.unit + " at t=" + r.t + " on " + s.id + " (cluster " + r.cluster + ")" }, [xs, r.frame_total, hi, lo], el);
    var m = decode(r.mean);
    var p = { L: L, J: P.joints.length, map: m, vmax: absMax(m) || 1, cbar: "relevance" };
    cv.width = chartWidth(el);
    drawHeatmap(cv, p, onSeq ? Math.min(state.frame, L - 1) : r.t, DIV, true);
    drawnInfo.relevance = { entry: q, unit: r.unit, seq: r.seq, total: r.frame_total.slice(), lo: lo, hi: hi };
  }
  function drawResponse() {
    var r = P.maxruns[state.run], el = $("response");
    if (respPlot) { respPlot.destroy(); respPlot = null; }
    if (!r) return;
    var names = P.variants.filter(function (v) { return r.runs[v] && r.runs[v].response; });
    var I = 0; names.forEach(function (v) { I = Math.max(I, r.runs[v].response.length - 1); });
    var xs = []; for (var i = 0; i <= I; i++) xs.push(i);
    var series = [{ label: "iteration" }], dat = [xs];
    names.forEach(function (v, k) { series.push({ label: v, stroke: QUAL[k % QUAL.length], width: 2, dash: k ? [6, 3] : undefined, points: { show: true } }); var y = r.runs[v].response.slice(); while (y.length < xs.length) y.push(null); dat.push(y); });
    respPlot = new uPlot({ width: chartWidth(el), height: 220, plugins: [cursorPlugin(function () { return state.iteration; })], scales: { x: { time: false } },
      axes: [{ label: "iteration", incrs: [1, 2, 5, 10, 20, 50, 100] }, { label: "response of " + targetName(r.target) }], series: series, title: "response of " + targetName(r.target) + " per iteration" }, dat, el);
    drawnInfo.response = names;
  }
  function redrawCharts() { [actPlot, relPlot, respPlot].forEach(function (u) { if (u) u.redraw(false); }); }

  // ------------------------------------------------------------------ URL fragment
  function seqById(id) { for (var i = 0; i < P.sequences.length; i++) if (P.sequences[i].id === id) return i; return -1; }
  function writeHash() {
    var q = { ds: H.dataset, model: H.model, mode: state.mode, target: state.target, frame: state.frame,
              cam: [state.cam.az, state.cam.el, state.cam.zoom].map(function (v) { return +v.toFixed(3); }).join(",") };
    if (P.methods.length) q.method = P.methods[state.method].name;
    if (state.mode === "sensitivity") { q.seq = P.sequences[state.seq].id; if (state.cmp >= 0) q.cmp = P.sequences[state.cmp].id; }
    else if (P.maxruns[state.run]) { q.seq = P.maxruns[state.run].sample_id; q.it = state.iteration; }
    if (HID) { q.unit = HID.units[state.unit]; if (state.rel >= 0) q.rel = state.rel; }
    var s = Object.keys(q).map(function (k) { return k + "=" + encodeURIComponent(q[k]); }).join("&");
    if (location.hash.slice(1) !== s) history.replaceState(null, "", "#" + s);
  }
  function readHash() {
    var h = location.hash.slice(1); if (!h) return [];
    var q = {}, warn = [];
    h.split("&").forEach(function (kv) { var i = kv.indexOf("="); if (i > 0) q[kv.slice(0, i)] = decodeURIComponent(kv.slice(i + 1)); });
    if (q.ds && q.ds !== H.dataset) warn.push("this link was made for dataset " + q.ds);
    if (q.model && q.model !== H.model) warn.push("this link was made for model " + q.model);
    if (q.mode === "maximisation" && hasMax) state.mode = "maximisation"; else if (q.mode === "sensitivity" && hasSal) state.mode = "sensitivity";
    if (q.method) { var mi = P.methods.map(function (m) { return m.name; }).indexOf(q.method); if (mi >= 0) state.method = mi; else warn.push("method " + q.method + " is not in this page"); }
    if (q.target && Array.prototype.some.call($("target").options, function (o) { return o.value === q.target; })) state.target = q.target;
    if (q.seq !== undefined) {
      if (state.mode === "maximisation") {
        var t = parseTarget(state.target);
        P.maxruns.forEach(function (r, i) { if (r.sample_id === q.seq && r.target.kind === t.kind && r.target.index === t.index) state.run = i; });
      } else { var si = seqById(q.seq); if (si >= 0) state.seq = si; else warn.push("sequence " + q.seq + " is not in this page"); }
    }
    if (q.cmp !== undefined) { var ci = seqById(q.cmp); if (ci >= 0) state.cmp = ci; }
    function int(v) { var n = parseInt(v, 10); return isFinite(n) && n >= 0 ? n : null; }
    if (int(q.it) !== null) state.iteration = int(q.it);
    if (int(q.frame) !== null) state.frame = int(q.frame);
    if (q.cam) { var c = q.cam.split(",").map(Number); if (c.length === 3 && c.every(isFinite)) state.cam = { az: c[0], el: c[1], zoom: c[2] }; }
    if (HID && q.unit !== undefined) { var ui = HID.units.indexOf(parseInt(q.unit, 10)); if (ui >= 0) state.unit = ui; }
    if (int(q.rel) !== null) state.rel = int(q.rel);
    return warn;
  }

  // ------------------------------------------------------------------ PNG
  function composePNG() {
    var cvs = VIEWS.map(function (v) { return v.querySelector("canvas"); }), hms = HEATS.map(function (v) { return v.querySelector("canvas"); });
    var w = 0, h1 = 0, h2 = 0;
    cvs.forEach(function (c) { w += c.width; h1 = Math.max(h1, c.height); });
    var w2 = 0; hms.forEach(function (c) { w2 += c.width; h2 = Math.max(h2, c.height); });
    w = Math.max(w, w2, 400);
    var out = document.createElement("canvas"); out.width = w; out.height = 24 + h1 + h2;
    var ctx = out.getContext("2d"); ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, out.width, out.height);
    ctx.fillStyle = "#222"; ctx.font = "13px sans-serif";
    ctx.fillText(H.dataset + " / " + H.model + ": " + PANELS.map(function (p) { return p.title; }).join("  |  ") + "  (frame " + state.frame + ")", 6, 16);
    var x = 0; cvs.forEach(function (c) { ctx.drawImage(c, x, 24); x += c.width; });
    x = 0; hms.forEach(function (c) { ctx.drawImage(c, x, 24 + h1); x += c.width; });
    return out.toDataURL("image/png");
  }
  function savePNG() {
    var a = document.createElement("a");
    a.href = composePNG();
    a.download = "skelvis_" + H.dataset + "_" + H.model + "_" + (state.mode === "sensitivity" ? P.sequences[state.seq].id : "max" + state.run) + "_f" + state.frame + ".png";
    document.body.appendChild(a); a.click(); a.remove();
  }

  // ------------------------------------------------------------------ events
  var timer = null;
  function togglePlay() {
    var b = $("play");
    if (timer) { clearInterval(timer); timer = null; b.innerHTML = "&#9654; play"; state.playing = false; return; }
    b.innerHTML = "&#10074;&#10074; pause"; state.playing = true;
    timer = setInterval(function () { var n = +$("frame").max + 1; if (n > 0) setFrame((state.frame + 1) % n); }, 1000 / Math.min(H.fps || 30, 15));
  }
  function bind() {
    $("method").addEventListener("change", function () { state.method = parseInt(this.value, 10); drawAll(); });
    $("target").addEventListener("change", function () {
      state.target = this.value; var t = parseTarget(state.target);
      if (t.kind === "class" && state.mode === "sensitivity") { state.filter = String(t.index); $("class-filter").value = state.filter; var first = P.sequences.findIndex(function (s) { return s.label === t.index; }); if (first >= 0 && P.sequences[state.seq].label !== t.index) state.seq = first; }
      if (state.mode === "maximisation") { state.frame = -1; state.iteration = null; }
      refillSequences(); drawAll();
    });
    $("class-filter").addEventListener("change", function () { state.filter = this.value; var f = this.value; if (f !== "all" && String(P.sequences[state.seq].label) !== f) { var k = P.sequences.findIndex(function (s) { return String(s.label) === f; }); if (k >= 0) state.seq = k; } refillSequences(); drawAll(); });
    $("sequence").addEventListener("change", function () {
      var v = parseInt(this.value, 10);
      if (state.mode === "maximisation") { state.run = v; state.frame = -1; state.iteration = null; } else { state.seq = v; state.frame = 0; if (state.cmp === v) { state.cmp = -1; $("compare").value = "-1"; } }
      drawAll();
    });
    $("compare").addEventListener("change", function () { state.cmp = parseInt(this.value, 10); drawAll(); });
    Array.prototype.forEach.call(document.querySelectorAll("input[name=mode]"), function (el) {
      el.addEventListener("change", function () { state.mode = this.value; state.frame = -1; state.iteration = null; refillSequences(); drawAll(); });
    });
    $("iteration").addEventListener("input", function () { state.iteration = parseInt(this.value, 10); drawAll(); });
    $("frame").addEventListener("input", function () { setFrame(parseInt(this.value, 10)); });
    $("repair-strip").addEventListener("click", function (e) {
      var r = P.maxruns[state.run], rc = this.getBoundingClientRect();
      if (r && rc.width > 0) setFrame(Math.floor((e.clientX - rc.left) / rc.width * r.length));
    });
    $("play").addEventListener("click", togglePlay);
    $("save-png").addEventListener("click", savePNG);
    $("reset-camera").addEventListener("click", function () { state.cam = { az: DEFAULT_CAM.az, el: DEFAULT_CAM.el, zoom: DEFAULT_CAM.zoom }; drawFrame(); writeHash(); });
    $("map").addEventListener("click", onMapClick);
    $("unit").addEventListener("change", function () { state.unit = parseInt(this.value, 10); state.rel = -1; drawUnits(); writeHash(); });
    $("relevance-entry").addEventListener("change", function () {
      var q = parseInt(this.value, 10); state.rel = q;
      if (q >= 0) { var r = HID.relevance[q]; loadSequence(r.seq, r.t); } else drawUnits();
    });
    document.addEventListener("keydown", function (e) {
      var tg = e.target, tag = tg && tg.tagName;
      if (tag === "TEXTAREA" || (tag === "INPUT" && tg.type === "text") || e.altKey || e.ctrlKey || e.metaKey) return;
      if (e.key === " " || e.code === "Space") { if (tag === "BUTTON") return; e.preventDefault(); togglePlay(); }
      else if ((e.key === "ArrowRight" || e.key === "ArrowLeft") && tag !== "SELECT") { e.preventDefault(); setFrame(state.frame + (e.key === "ArrowRight" ? 1 : -1)); }
    });
    window.addEventListener("resize", function () { if (PANELS.length) drawAll(); });
  }

  // ------------------------------------------------------------------ start
  inflate(document.getElementById("skelvis-blob").textContent.trim()).then(function (buf) {
    BUF = buf;
    var T_PARSED = performance.now();
    header(); fillStatic();
    // open on the first unit the periods stage explained (else the first listed)
    if (HID) { var firstRel = HID.relevance.length ? HID.units.indexOf(HID.relevance[0].unit) : -1; if (firstRel >= 0) state.unit = firstRel; }
    var warn = readHash();
    if (state.mode === "sensitivity" && state.filter !== "all" && String(P.sequences[state.seq].label) !== state.filter) state.filter = "all";
    $("mode-" + state.mode).checked = true;
    $("method").value = String(state.method); $("target").value = state.target; $("class-filter").value = state.filter; $("compare").value = String(state.cmp);
    refillSequences(); bind(); drawAll();
    if (warn.length) $("status").textContent = warn.join("; ");
    var T_DRAWN = performance.now();
    window.skelvis = {
      payload: P, state: state, ready: true,
      timing: { script_start_ms: T_START, data_parsed_ms: T_PARSED, first_draw_ms: T_DRAWN },
      decode: decode, png: composePNG,
      mapScreen: function (i, f) { var p = mapSeqFrame(i, f); var q = mapPoint(p[0], p[1]), cv = $("map"), r = cv.getBoundingClientRect(); return [q[0] * r.width / cv.width, q[1] * r.height / cv.height]; },
      drawn: function () {
        var p0 = drawnInfo.panels && drawnInfo.panels[0], last = drawnInfo.panels && drawnInfo.panels[drawnInfo.panels.length - 1];
        var main = state.mode === "maximisation" ? last : p0, colors = main ? main.colors.slice() : [], best = -1, bv = -Infinity;
        colors.forEach(function (c, j) { if (c > bv) { bv = c; best = j; } });
        return { mode: state.mode, method: P.methods.length ? P.methods[state.method].name : null, target: state.target,
                 seq: state.mode === "maximisation" ? state.run : state.seq, cmp: state.cmp, frame: state.frame, iteration: state.iteration,
                 colors: colors, argmax: best, hover: state.hover, camera: { az: state.cam.az, el: state.cam.el, zoom: state.cam.zoom },
                 panels: PANELS.map(function (p, i) { return { title: p.title, label: p.label, seq: p.seq, L: p.L, vmax: p.vmax, frame: drawnInfo.panels[i].frame, colors: drawnInfo.panels[i].colors.slice() }; }),
                 map: drawnInfo.map || null, unit: drawnInfo.unit || null, relevance: drawnInfo.relevance || null,
                 repair: drawnInfo.repair || null, repairShown: !$("repair-panel").classList.contains("hidden"),
                 response: state.mode === "maximisation" ? drawnInfo.response : null,
                 frameLabel: $("frame-label").textContent, iterationLabel: $("iteration-label").textContent, status: $("status").textContent };
      }
    };
    document.body.setAttribute("data-ready", "1");
  }).catch(function (err) { $("status").textContent = "the page's data could not be read: " + err; console.error(err); });
})();

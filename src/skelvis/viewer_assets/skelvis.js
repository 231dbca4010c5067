/* SkeletonVis viewer: pickers, 3-D skeleton player, joint x time heatmap, response curve.
 * Data: the JSON payload in #skelvis-data (built by skelvis.viewer.build_payload).
 * Arrays are {b64, dtype: "i2"|"u1", shape, step}; value = q * step.
 * State is kept in window.skelvis.state; window.skelvis.drawn() reports what is drawn (tests). */
(function () {
  "use strict";
  var T_START = performance.now();  // ms since navigation start: plotly.js is parsed by now
  var P = JSON.parse(document.getElementById("skelvis-data").textContent);
  var T_PARSED = performance.now();
  var H = P.header;
  var $ = function (id) { return document.getElementById(id); };
  var COLORSCALE = "Reds";  // sequential: darker = more sensitive (paper Fig. 4)
  var BONE_COLOR = "#8c8c8c";

  function decode(enc) {
    if (enc._cache) return enc._cache;
    if (enc.dtype === "json") { enc._cache = { data: Float64Array.from(enc.values), shape: enc.shape }; return enc._cache; }
    var bin = atob(enc.b64), n = bin.length, bytes = new Uint8Array(n);
    for (var i = 0; i < n; i++) bytes[i] = bin.charCodeAt(i);
    var q = enc.dtype === "i2" ? new Int16Array(bytes.buffer) : bytes;
    var out = new Float64Array(q.length);
    for (var k = 0; k < q.length; k++) out[k] = q[k] * enc.step;
    enc._cache = { data: out, shape: enc.shape };
    return enc._cache;
  }
  // |x_i - x_0| per joint (I+1, L, J) of a maximisation run, from its decoded snapshots
  function displacement(run) {
    if (run._disp) return run._disp;
    var s = decode(run.snapshots), n = s.shape[0], L = s.shape[1], J = s.shape[2], d = new Float64Array(n * L * J);
    for (var i = 0; i < n; i++) for (var t = 0; t < L; t++) for (var j = 0; j < J; j++) {
      var a = ((i * L + t) * J + j) * 3, b = (t * J + j) * 3;
      var dx = s.data[a] - s.data[b], dy = s.data[a + 1] - s.data[b + 1], dz = s.data[a + 2] - s.data[b + 2];
      d[(i * L + t) * J + j] = Math.sqrt(dx * dx + dy * dy + dz * dz);
    }
    run._disp = { data: d, shape: [n, L, J] };
    return run._disp;
  }
  function maxOf(a) { var m = 0; for (var i = 0; i < a.length; i++) if (a[i] > m) m = a[i]; return m; }
  function fmtPct(v) { return v === null || v === undefined ? "n/a" : (100 * v).toFixed(1) + " %"; }
  function esc(s) { return String(s).replace(/[&<>"]/g, function (c) { return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]; }); }

  // ------------------------------------------------------------------ header
  (function header() {
    var acc = H.accuracy || {}, s = H.samples_by_split || {};
    var units = H.hidden_units === null || H.hidden_units === undefined ? "n/a" :
      H.hidden_units + (H.layers > 1 ? " x " + H.layers + " layers" : "") + (H.cell ? " (" + String(H.cell).toUpperCase() + ")" : "");
    $("header").innerHTML = "<h1>" + esc(P.title) + " &mdash; " + esc(H.dataset) + (H.model ? " / " + esc(H.model) : "") + "</h1>" +
      "<table><tr><th>samples</th><td id='h-samples'>" + H.samples + " (train " + (s.train || 0) + ", validation " + (s.validation || 0) + ", test " + (s.test || 0) + ")</td>" +
      "<th>classes</th><td id='h-classes'>" + H.num_classes + "</td>" +
      "<th>hidden units</th><td id='h-units'>" + esc(units) + "</td></tr>" +
      "<tr><th>sensor</th><td id='h-sensor'>" + esc(H.sensor) + " (" + esc(H.topology) + ", " + H.joints + " joints)</td>" +
      "<th>accuracy</th><td id='h-accuracy' colspan='3'>train " + fmtPct(acc.train) + ", validation " + fmtPct(acc.validation) + ", test " + fmtPct(acc.test) + "</td></tr></table>";
    $("notes").textContent = (P.notes || []).join(" ") + " Shown: " + P.sequences.length + " sequences, " +
      P.units.length + " hidden units, " + P.maxruns.length + " maximisation runs. Sources: " +
      Object.keys(P.sources).filter(function (k) { return P.sources[k]; }).map(function (k) { return k + " " + P.sources[k]; }).join("; ");
  })();

  // ------------------------------------------------------------------ state and pickers
  var hasSal = P.sequences.length > 0 && P.sequences[0].class_map !== undefined;
  var hasMax = P.maxruns.length > 0;
  var state = { mode: hasSal || !hasMax ? "sensitivity" : "maximisation", target: "class:0", filter: "0",
                seq: 0, frame: 0, iteration: null, run: "constrained", playing: false };

  function option(value, text) { var o = document.createElement("option"); o.value = value; o.textContent = text; return o; }
  (function fillStatic() {
    var t = $("target"), g1 = document.createElement("optgroup"), g2 = document.createElement("optgroup");
    g1.label = "classes"; g2.label = "hidden units";
    H.classes.forEach(function (c, i) { g1.appendChild(option("class:" + i, "class " + c)); });
    P.units.forEach(function (u) { g2.appendChild(option("unit:" + u, "hidden unit " + u)); });
    t.appendChild(g1); if (P.units.length) t.appendChild(g2);
    var f = $("class-filter");
    f.appendChild(option("all", "all classes"));
    H.classes.forEach(function (c, i) { f.appendChild(option(String(i), c)); });
    if (!hasSal) { $("mode-sensitivity").disabled = true; }
    if (!hasMax) { $("mode-maximisation").disabled = true; }
    $("mode-" + state.mode).checked = true;
  })();

  function parseTarget(v) { var p = v.split(":"); return { kind: p[0], index: parseInt(p[1], 10) }; }
  function targetName(t) { return t.kind === "class" ? "class " + H.classes[t.index] : "hidden unit " + t.index; }

  // sequences offered for the current mode/target/filter: [{value, text}]
  function sequenceChoices() {
    var t = parseTarget(state.target), out = [];
    if (state.mode === "maximisation") {
      P.maxruns.forEach(function (r, i) {
        if (r.target.kind === t.kind && r.target.index === t.index)
          out.push({ value: i, text: r.sample_id + (r.true !== null ? " (true: " + H.classes[r.true] + ")" : "") });
      });
    } else {
      P.sequences.forEach(function (s, i) {
        if (state.filter === "all" || String(s.label) === state.filter)
          out.push({ value: i, text: s.id + " - true: " + H.classes[s.label] + ", predicted: " + H.classes[s.pred] + " (" + s.split + ")" });
      });
    }
    return out;
  }
  function refillSequences() {
    var sel = $("sequence"), choices = sequenceChoices(), keep = String(state.seq), found = false;
    sel.innerHTML = "";
    choices.forEach(function (c) { sel.appendChild(option(c.value, c.text)); if (String(c.value) === keep) found = true; });
    if (!choices.length) { state.seq = -1; sel.appendChild(option(-1, "(none for this target)")); }
    else if (!found) state.seq = choices[0].value;
    sel.value = String(state.seq);
    sel.disabled = !choices.length;
  }

  // ------------------------------------------------------------------ what to draw
  function currentView() {
    var t = parseTarget(state.target);
    if (state.seq < 0) return null;
    if (state.mode === "maximisation") {
      var r = P.maxruns[state.seq];
      var run = state.run === "unconstrained" && r.unconstrained ? r.unconstrained : r.constrained;
      var snaps = decode(run.snapshots), disp = displacement(run);
      var I = snaps.shape[0] - 1, L = snaps.shape[1], J = snaps.shape[2];
      var it = state.iteration === null ? I : Math.min(state.iteration, I);
      return { kind: "max", L: L, J: J, I: I, it: it, run: run, entry: r,
               pos: function (f) { return slice3(snaps.data, (it * L + f) * J * 3, J); },
               pos0: function (f) { return slice3(snaps.data, f * J * 3, J); },
               values: function (f) { return Array.prototype.slice.call(disp.data, (it * L + f) * J, (it * L + f + 1) * J); },
               map: { data: disp.data.subarray(it * L * J, (it + 1) * L * J) }, vmax: maxOf(disp.data) || 1,
               cbar: "displacement", title: targetName(t) + ", sample " + r.sample_id + ", " + state.run + ", iteration " + it + " of " + I,
               allPos: snaps.data };
    }
    var s = P.sequences[state.seq], pos = decode(s.pos), Ls = s.length, Js = pos.shape[1], enc, what;
    if (!hasSal) {
      enc = { _cache: { data: new Float64Array(Ls * Js), shape: [Ls, Js] } }; what = "true class " + H.classes[s.label] + " (no sensitivity maps in this page)";
    } else if (t.kind === "class") {
      if (s.label === t.index) { enc = s.class_map; what = "sensitivity of class " + H.classes[t.index] + " (true class)"; }
      else if (s.pred === t.index) { enc = s.pred_map; what = "sensitivity of class " + H.classes[t.index] + " (predicted class)"; }
      else { enc = s.class_map; what = "sensitivity of its true class " + H.classes[s.label] + " (no map for class " + H.classes[t.index] + " on this sequence)"; }
    } else {
      var k = P.units.indexOf(t.index), um = decode(s.unit_maps);
      if (k < 0 || k >= um.shape[0]) return { kind: "none", msg: "no sensitivity map for hidden unit " + t.index };
      var m = um.data.subarray(k * Ls * Js, (k + 1) * Ls * Js);
      enc = { _cache: { data: m, shape: [Ls, Js] } }; what = "sensitivity of hidden unit " + t.index;
    }
    var map = decode(enc);
    return { kind: "sens", L: Ls, J: Js, pos: function (f) { return slice3(pos.data, f * Js * 3, Js); },
             values: function (f) { return Array.prototype.slice.call(map.data, f * Js, (f + 1) * Js); },
             map: map, vmax: maxOf(map.data) || 1, cbar: "sensitivity", allPos: pos.data,
             title: s.id + ": " + what };
  }
  function slice3(a, off, J) {
    var x = [], y = [], z = [];
    // body frame (+x person's left, +y up, +z forward) -> plotly (x, -z, y): vertical up, seen from the front
    for (var j = 0; j < J; j++) { x.push(a[off + 3 * j]); y.push(-a[off + 3 * j + 2]); z.push(a[off + 3 * j + 1]); }
    return { x: x, y: y, z: z };
  }
  function boneLines(p) {
    var x = [], y = [], z = [];
    P.bones.forEach(function (b) { x.push(p.x[b[0]], p.x[b[1]], null); y.push(p.y[b[0]], p.y[b[1]], null); z.push(p.z[b[0]], p.z[b[1]], null); });
    return { x: x, y: y, z: z };
  }
  function ranges(all) {
    var lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
    for (var i = 0; i < all.length; i += 3) {
      var v = [all[i], -all[i + 2], all[i + 1]];
      for (var d = 0; d < 3; d++) { if (v[d] < lo[d]) lo[d] = v[d]; if (v[d] > hi[d]) hi[d] = v[d]; }
    }
    var half = 0; for (var e = 0; e < 3; e++) half = Math.max(half, (hi[e] - lo[e]) / 2);
    half = half * 1.08 || 1;
    return [0, 1, 2].map(function (d) { var c = (hi[d] + lo[d]) / 2; return [c - half, c + half]; });
  }

  // ------------------------------------------------------------------ plotting
  var CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["toImage"] };
  var view = null, rng = null, lastMode = null;
  function sceneLayout(title) {
    var ax = function (r, t) { return { range: r, title: { text: t }, showspikes: false, zeroline: false }; };
    return { title: { text: title, font: { size: 13 } }, margin: { l: 0, r: 0, t: 40, b: 0 }, showlegend: false,
             uirevision: "keep",
             scene: { xaxis: ax(rng[0], "x (left)"), yaxis: ax(rng[1], "depth (-z)"), zaxis: ax(rng[2], "y (up)"),
                      aspectmode: "cube", camera: { eye: { x: 0.45, y: -1.35, z: 0.3 }, up: { x: 0, y: 0, z: 1 } } } };
  }
  function skeletonTraces(p, values, vmax, cbarTitle, showScale) {
    var b = boneLines(p);
    return [
      { type: "scatter3d", mode: "lines", x: b.x, y: b.y, z: b.z, line: { color: BONE_COLOR, width: 5 }, hoverinfo: "skip", name: "bones" },
      { type: "scatter3d", mode: "markers", x: p.x, y: p.y, z: p.z, text: P.joints, name: "joints",
        hovertemplate: "%{text}<br>" + cbarTitle + " %{marker.color:.3g}<extra></extra>",
        marker: { size: 6, color: values, colorscale: COLORSCALE, cmin: 0, cmax: vmax, showscale: showScale,
                  line: { color: "#333", width: 1 },
                  colorbar: { title: { text: cbarTitle, side: "right" }, thickness: 14, len: 0.8 } } }
    ];
  }
  function drawAll() {
    view = currentView();
    $("status").textContent = "";
    var isMax = state.mode === "maximisation";
    if (lastMode !== state.mode) { Plotly.purge($("player")); lastMode = state.mode; }  // its width changes with the mode
    $("max-controls").classList.toggle("hidden", !isMax);
    $("player2").classList.toggle("hidden", !isMax);
    $("response").classList.toggle("hidden", !isMax);
    $("class-filter").disabled = isMax;
    if (!view || view.kind === "none") {
      $("status").textContent = view ? view.msg : "nothing to show for " + targetName(parseTarget(state.target)) + " in this mode";
      ["player", "player2", "heatmap", "response"].forEach(function (id) { Plotly.purge($(id)); });
      return;
    }
    if (state.frame < 0) state.frame = isMax ? peakFrame(view) : 0;  // -1: choose (a new run or mode)
    state.frame = Math.min(state.frame, view.L - 1);
    $("frame").max = view.L - 1; $("frame").value = state.frame;
    if (isMax) { $("iteration").max = view.I; $("iteration").value = view.it; state.iteration = view.it; }
    rng = ranges(view.allPos);
    var f = state.frame;
    if (isMax) {
      var zero = new Array(view.J).fill(0);
      Plotly.react($("player"), skeletonTraces(view.pos0(f), zero, view.vmax, "displacement", false),
                   sceneLayout("original (iteration 0), sample " + view.entry.sample_id), CONFIG);
      Plotly.react($("player2"), skeletonTraces(view.pos(f), view.values(f), view.vmax, "displacement", true),
                   sceneLayout(view.title), CONFIG);
    } else {
      Plotly.react($("player"), skeletonTraces(view.pos(f), view.values(f), view.vmax, "sensitivity", true),
                   sceneLayout(view.title), CONFIG);
      Plotly.purge($("player2"));
    }
    drawHeatmap();
    if (isMax) drawResponse(); else Plotly.purge($("response"));
    updateLabels();
  }
  // frame where the shown iteration moved the skeleton most (summed over joints)
  function peakFrame(v) {
    var best = 0, bv = -1;
    for (var t = 0; t < v.L; t++) { var sum = 0; for (var j = 0; j < v.J; j++) sum += v.map.data[t * v.J + j]; if (sum > bv) { bv = sum; best = t; } }
    return best;
  }
  function drawHeatmap() {
    var z = [], J = view.J, L = view.L;
    for (var j = 0; j < J; j++) { var row = []; for (var t = 0; t < L; t++) row.push(view.map.data[t * J + j]); z.push(row); }
    var frames = []; for (var t2 = 0; t2 < L; t2++) frames.push(t2);
    Plotly.react($("heatmap"), [{ type: "heatmap", z: z, x: frames, y: P.joints, colorscale: COLORSCALE, zmin: 0, zmax: view.vmax,
      colorbar: { title: { text: view.cbar, side: "right" }, thickness: 14 },
      hovertemplate: "frame %{x}<br>%{y}<br>" + view.cbar + " %{z:.3g}<extra></extra>" }],
      { title: { text: (view.kind === "max" ? "joint displacement from the original, " : "") + view.title + " (joint x time; click to jump)", font: { size: 13 } },
        margin: { l: 120, r: 10, t: 40, b: 40 }, xaxis: { title: { text: "frame" } }, yaxis: { autorange: "reversed", tickfont: { size: 9 } },
        shapes: [frameLine()] }, CONFIG);
    var hm = $("heatmap");
    if (!hm._skelvisClick) { hm._skelvisClick = true; hm.on("plotly_click", function (ev) { if (ev.points && ev.points.length) setFrame(ev.points[0].x); }); }
  }
  function frameLine() {
    return { type: "line", xref: "x", yref: "paper", x0: state.frame, x1: state.frame, y0: 0, y1: 1, line: { color: "#1f77b4", width: 2 } };
  }
  function drawResponse() {
    var e = view.entry, traces = [];
    [["constrained", "#d62728"], ["unconstrained", "#7f7f7f"]].forEach(function (rc) {
      var run = e[rc[0]];
      if (run && run.response) traces.push({ type: "scatter", mode: "lines+markers", name: rc[0], y: run.response,
        x: run.response.map(function (_, i) { return i; }), line: { color: rc[1], dash: rc[0] === "constrained" ? "solid" : "dot" } });
    });
    Plotly.react($("response"), traces, { title: { text: "response of " + targetName(e.target) + " per iteration", font: { size: 13 } },
      margin: { l: 60, r: 10, t: 40, b: 40 }, xaxis: { title: { text: "iteration" }, dtick: 1 }, yaxis: { title: { text: "response" } },
      shapes: [{ type: "line", xref: "x", yref: "paper", x0: view.it, x1: view.it, y0: 0, y1: 1, line: { color: "#1f77b4", width: 2 } }],
      legend: { orientation: "h", y: 1.12, x: 1, xanchor: "right" } }, CONFIG);
  }
  function updateFrame() {
    var f = state.frame, main = view.kind === "max" ? $("player2") : $("player"), p = view.pos(f), b = boneLines(p);
    Plotly.restyle(main, { x: [b.x, p.x], y: [b.y, p.y], z: [b.z, p.z], "marker.color": [undefined, view.values(f)] }, [0, 1]);
    if (view.kind === "max") {
      var p0 = view.pos0(f), b0 = boneLines(p0);
      Plotly.restyle($("player"), { x: [b0.x, p0.x], y: [b0.y, p0.y], z: [b0.z, p0.z] }, [0, 1]);
    }
    Plotly.relayout($("heatmap"), { shapes: [frameLine()] });
    updateLabels();
  }
  function updateLabels() {
    $("frame").value = state.frame;
    $("frame-label").textContent = "frame " + state.frame + " / " + (view ? view.L - 1 : 0);
    if (view && view.kind === "max") $("iteration-label").textContent = "iteration " + view.it + " / " + view.I;
  }
  function setFrame(f) { if (!view || view.kind === "none") return; state.frame = Math.max(0, Math.min(view.L - 1, +f)); updateFrame(); }

  // ------------------------------------------------------------------ events
  function onTarget() {
    state.target = $("target").value;
    var t = parseTarget(state.target);
    if (t.kind === "class") { state.filter = String(t.index); $("class-filter").value = state.filter; }
    if (state.mode === "maximisation") state.frame = -1;
    refillSequences(); drawAll();
  }
  $("target").addEventListener("change", onTarget);
  $("class-filter").addEventListener("change", function () { state.filter = this.value; refillSequences(); drawAll(); });
  $("sequence").addEventListener("change", function () { state.seq = parseInt(this.value, 10); state.frame = state.mode === "maximisation" ? -1 : 0; drawAll(); });
  Array.prototype.forEach.call(document.querySelectorAll("input[name=mode]"), function (el) {
    el.addEventListener("change", function () { state.mode = this.value; state.seq = -1; state.frame = -1; refillSequences(); drawAll(); });
  });
  Array.prototype.forEach.call(document.querySelectorAll("input[name=run]"), function (el) {
    el.addEventListener("change", function () { state.run = this.value; drawAll(); });
  });
  $("iteration").addEventListener("input", function () { state.iteration = parseInt(this.value, 10); drawAll(); });
  $("frame").addEventListener("input", function () { setFrame(parseInt(this.value, 10)); });
  var timer = null;
  $("play").addEventListener("click", function () {
    if (timer) { clearInterval(timer); timer = null; this.innerHTML = "&#9654; play"; state.playing = false; return; }
    this.innerHTML = "&#10074;&#10074; pause"; state.playing = true;
    timer = setInterval(function () { if (view && view.L) setFrame((state.frame + 1) % view.L); }, 1000 / Math.min(H.fps || 30, 15));
  });

  // ------------------------------------------------------------------ start
  $("target").value = state.target; $("class-filter").value = state.filter;
  refillSequences(); drawAll();
  var T_DRAWN = performance.now();
  window.skelvis = {
    payload: P, state: state,
    timing: { script_start_ms: T_START, data_parsed_ms: T_PARSED, first_draw_ms: T_DRAWN },
    /* what is drawn now: the joint colours of the (maximised) skeleton, the frame/iteration shown */
    drawn: function () {
      var gd = view && view.kind === "max" ? $("player2") : $("player");
      var colors = gd.data && gd.data[1] ? Array.prototype.slice.call(gd.data[1].marker.color) : [];
      var best = -1, bv = -Infinity;
      colors.forEach(function (c, j) { if (c > bv) { bv = c; best = j; } });
      return { mode: state.mode, target: state.target, seq: state.seq, frame: state.frame, iteration: state.iteration,
               run: state.run, colors: colors, argmax: best, cmax: gd.data && gd.data[1] ? gd.data[1].marker.cmax : null,
               title: gd.layout && gd.layout.title ? gd.layout.title.text : "",
               iterationLabel: $("iteration-label").textContent, frameLabel: $("frame-label").textContent,
               x0: gd.data && gd.data[1] ? gd.data[1].x[0] : null };
    },
    ready: true
  };
  document.body.setAttribute("data-ready", "1");
})();

/* gprofiler studio's web UI: one page over the JSON API (/api/v1/...).
   The URL's query string holds the whole state (service, time, filters, search, comparison), so a
   link shows the same view. Libraries: d3 + d3-flame-graph (flame graphs), uPlot (time series),
   frame_kinds.js (the agent's frame colors). Names from profiles are only ever set as text. */
(function () {
  "use strict";

  var RANGES = { "15m": 15 * 60e3, "1h": 3600e3, "6h": 6 * 3600e3, "24h": 24 * 3600e3, "7d": 7 * 24 * 3600e3 };
  var FILTERS = ["host", "container", "process"];
  var MATCH_COLOR = "#ff00ff";
  var TOP_ROWS = 200;
  var MAX_DRAWN = 5000;

  var $ = function (id) { return document.getElementById(id); };
  var state = readUrl();
  var charts = {};        // element id -> d3-flame-graph chart
  var wholeTree = null;   // the flat tree of the graph whose search share is shown
  var timeseries = null;  // uPlot
  var topRows = [];
  var topTotal = 0;
  var topSort = "self";
  var generation = 0;     // a newer load makes the answers of older ones moot

  // ---- state <-> URL -------------------------------------------------------------------------
  function readUrl() {
    var query = new URLSearchParams(window.location.search);
    var read = {
      service: query.get("service") || "",
      range: query.get("range") || (query.get("from") ? "custom" : "1h"),
      from: query.get("from") || "",
      to: query.get("to") || "",
      search: query.get("search") || "",
      compare: query.get("compare") === "1",
      base: query.get("base") || "previous",
      baseFrom: query.get("base_from") || "",
      baseTo: query.get("base_to") || ""
    };
    if (!(read.range in RANGES) && read.range !== "custom") { read.range = "1h"; }
    FILTERS.forEach(function (name) { read[name] = query.getAll(name); });
    return read;
  }

  function writeUrl(push) {
    var query = new URLSearchParams();
    if (state.service) { query.set("service", state.service); }
    if (state.range === "custom") { query.set("from", state.from); query.set("to", state.to); }
    else { query.set("range", state.range); }
    FILTERS.forEach(function (name) { state[name].forEach(function (v) { query.append(name, v); }); });
    if (state.search) { query.set("search", state.search); }
    if (state.compare) {
      query.set("compare", "1");
      query.set("base", state.base);
      if (state.base === "custom") { query.set("base_from", state.baseFrom); query.set("base_to", state.baseTo); }
    }
    var url = window.location.pathname + "?" + query.toString();
    if (url !== window.location.pathname + window.location.search) {
      (push ? history.pushState : history.replaceState).call(history, null, "", url);
    }
  }

  // ---- time ------------------------------------------------------------------------------------
  function parseTime(text) {
    var when = new Date(text);
    return isNaN(when.getTime()) ? null : when;
  }

  function currentRange() {
    if (state.range === "custom") {
      var start = parseTime(state.from), end = parseTime(state.to);
      if (start && end && start < end) { return { start: start, end: end }; }
      state.range = "1h";
    }
    var now = new Date();
    return { start: new Date(now.getTime() - RANGES[state.range]), end: now };
  }

  function baselineRange(range) {
    var length = range.end - range.start;
    var shift = { previous: length, day: 24 * 3600e3, week: 7 * 24 * 3600e3 }[state.base];
    if (state.base === "custom") {
      var start = parseTime(state.baseFrom), end = parseTime(state.baseTo);
      if (start && end && start < end) { return { start: start, end: end }; }
      shift = length;
    }
    return { start: new Date(range.start - shift), end: new Date(range.end - shift) };
  }

  function localInput(when) {  // a Date as a datetime-local input's value (local time, minutes)
    var shifted = new Date(when.getTime() - when.getTimezoneOffset() * 60e3);
    return shifted.toISOString().slice(0, 16);
  }

  function fromInput(value) { var when = value ? new Date(value) : null; return when && !isNaN(when) ? when.toISOString() : ""; }

  function describe(range) {
    var options = { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
    return range.start.toLocaleString(undefined, options) + " to " + range.end.toLocaleString(undefined, options);
  }

  // ---- the API -------------------------------------------------------------------------------
  function ApiError(message, kind) { this.message = message; this.kind = kind; }

  function params(range, extra, unfiltered) {
    var query = new URLSearchParams();
    query.set("service", state.service);
    query.set("start", range.start.toISOString());
    query.set("end", range.end.toISOString());
    if (!unfiltered) {
      FILTERS.forEach(function (name) { state[name].forEach(function (v) { query.append(name, v); }); });
    }
    Object.keys(extra || {}).forEach(function (key) { query.set(key, extra[key]); });
    return query;
  }

  function api(path, query) {
    var url = "/api/v1/" + path + (query ? "?" + query.toString() : "");
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(
      function (response) {
        if (response.status === 401) { throw new ApiError("", "session"); }
        return response.json().catch(function () { return {}; }).then(function (body) {
          if (!response.ok) {
            throw new ApiError(body.message || ("studio answered " + response.status), "server");
          }
          return body;
        });
      },
      function () { throw new ApiError("", "unreachable"); }
    );
  }

  /* The flat tree studio sends (format=flat): frame names once, then per node its name index,
     samples and parent, in depth-first order (a parent first, then its whole subtree). The whole
     tree stays flat (search shares, top functions); only what is drawn is nested, as
     d3-flame-graph reads it: {n, v, c: [...]}. */
  function nestTree(flat, least) {
    var count = flat.value.length, nodes = new Array(count);
    for (var i = 0; i < count; i++) {
      if (flat.value[i] < least && i > 0) { continue; }  // its ancestors are at least as wide
      var node = { n: flat.names[flat.name[i]], v: flat.value[i] };
      nodes[i] = node;
      var parent = flat.parent[i];
      if (parent >= 0) { (nodes[parent].c || (nodes[parent].c = [])).push(node); }
    }
    return nodes[0];
  }

  /* d3-flame-graph lays out every node it is given, drawn or not (~2 s for 450,000 nodes here), and
     a frame narrower than a pixel cannot be seen anyway: it gets the MAX_DRAWN widest frames (their
     ancestors are at least as wide, so they are among them). The value a frame needs to be drawn: */
  function leastDrawn(values) {
    if (values.length <= MAX_DRAWN) { return 0; }
    var sorted = Float64Array.from(values).sort();
    return Math.max(sorted[sorted.length - MAX_DRAWN], 1e-300);
  }

  /* Calls `visit(node, parentOfPath)` in order, keeping `path` (the nodes from the root to the
     current one's parent); `leave(node)` when a node's subtree is done. */
  function walk(flat, visit, leave) {
    var parent = flat.parent, path = [];
    for (var i = 0; i < parent.length; i++) {
      while (path.length && path[path.length - 1] !== parent[i]) { leave(path.pop()); }
      visit(i, path.length);
      path.push(i);
    }
    while (path.length) { leave(path.pop()); }
  }

  /* Samples in frames whose name matches `pattern`, a frame inside a matching one not counted again. */
  function matchShare(flat, pattern) {
    var matches = flat.names.map(function (name) { return pattern.test(name); });
    var inside = 0, sum = 0, name = flat.name, value = flat.value;
    walk(flat, function (i) {
      if (matches[name[i]]) { if (!inside) { sum += value[i]; } inside++; }
    }, function (i) { if (matches[name[i]]) { inside--; } });
    return sum;
  }

  /* Self and total samples per function; a function recursing into itself is counted once in its
     total. The root and the process names (depth 1) are left out. */
  function topFunctions(flat) {
    var names = flat.names.length, name = flat.name, value = flat.value, parent = flat.parent;
    var self = new Float64Array(names), total = new Float64Array(names), onPath = new Int32Array(names);
    var childSum = new Float64Array(value.length);
    for (var i = 1; i < value.length; i++) { childSum[parent[i]] += value[i]; }
    walk(flat, function (i, depth) {
      if (depth < 2) { return; }
      self[name[i]] += value[i] - childSum[i];
      if (!onPath[name[i]]) { total[name[i]] += value[i]; }
      onPath[name[i]]++;
    }, function (i) { if (onPath[name[i]]) { onPath[name[i]]--; } });
    var rows = [];
    for (var n = 0; n < names; n++) {
      if (total[n]) { rows.push({ name: flat.names[n], self: self[n], total: total[n] }); }
    }
    return rows;
  }

  function flameTree(range) {
    return api("flamegraph", params(range, { format: "flat" }));
  }

  // ---- messages --------------------------------------------------------------------------------
  function say(text, isError, linkText, linkHref) {
    var box = $("message");
    box.textContent = text;
    box.className = "message" + (isError ? " error" : "");
    if (linkText) {
      var link = document.createElement("a");
      link.textContent = linkText;
      link.href = linkHref;
      box.appendChild(document.createTextNode(" "));
      box.appendChild(link);
    }
    box.hidden = false;
  }

  function quiet() { $("message").hidden = true; }

  function failed(error) {
    if (error && error.kind === "session") {
      say("Your session has ended: it expired, or its token was revoked.", true, "Log in again",
          window.location.pathname + window.location.search);
    } else if (error && error.kind === "unreachable") {
      say("Studio is unreachable: the server did not answer. Check that gprofiler-studio is running, then press Refresh.", true);
    } else {
      say("Something went wrong: " + ((error && error.message) || error), true);
      if (!(error instanceof ApiError)) { console.error(error); }
    }
  }

  // ---- flame graphs ----------------------------------------------------------------------------
  function formatCount(value) { return Math.round(value).toLocaleString(); }
  function percent(part, whole) { return whole ? (100 * part / whole).toFixed(2) + "%" : "0%"; }

  function rootOf(node) { while (node.parent) { node = node.parent; } return node; }

  /* The MAX_DRAWN widest frames of a nested tree (see leastDrawn), and how many there were. */
  function widest(tree) {
    var values = [], pending = [tree];
    while (pending.length) {
      var node = pending.pop();
      values.push(node.v);
      if (node.c) { for (var i = 0; i < node.c.length; i++) { pending.push(node.c[i]); } }
    }
    var least = leastDrawn(values), kept = 0;
    function copy(node) {
      kept++;
      var out = {};
      for (var key in node) { if (key !== "c") { out[key] = node[key]; } }
      var children = (node.c || []).filter(function (child) { return child.v >= least; });
      if (children.length) { out.c = children.map(copy); }
      return out;
    }
    return { tree: least ? copy(tree) : tree, nodes: values.length, kept: least ? kept : values.length, least: least };
  }

  function drawnOfFlat(flat) {
    var least = leastDrawn(flat.value), tree = nestTree(flat, least), kept = flat.value.length;
    if (least) { kept = 0; for (var i = 0; i < flat.value.length; i++) { if (flat.value[i] >= least) { kept++; } } }
    return { tree: tree, nodes: flat.value.length, kept: kept, least: least };
  }

  /* `tree`: the flat tree studio sent, or a nested one (the differential graph). */
  function drawFlame(id, tree, options) {
    var element = $(id);
    if (charts[id]) { charts[id].destroy(); delete charts[id]; }
    element.textContent = "";
    var tooltip = flamegraph.tooltip.defaultFlamegraphTooltip().text(options.tooltip || function (d) {
      return d.data.n + "\n" + formatCount(d.value) + " samples, " + percent(d.value, rootOf(d).value) + " of all";
    });
    var chart = flamegraph.default()
      .width(Math.max(300, element.clientWidth))
      .cellHeight(18)
      .transitionDuration(250)
      .minFrameSize(1)
      .sort(true)
      .title("")
      .selfValue(false)
      .tooltip(tooltip)
      .setColorMapper(function (node) {
        return node.highlight ? MATCH_COLOR : (options.color || defaultColor)(node);
      });
    if (options.details) { chart.setDetailsElement($(options.details)); }
    if (options.label) { chart.setLabelHandler(options.label); }
    chart.setSearchHandler(function () {});  // applySearch counts the share on the whole tree
    var drawn = tree.names ? drawnOfFlat(tree) : widest(tree);
    d3.select(element).datum(drawn.tree).call(chart);
    charts[id] = chart;
    if (options.note) {
      $(options.note).textContent = drawn.kept < drawn.nodes
        ? "Drawn: the " + drawn.kept.toLocaleString() + " widest of " + drawn.nodes.toLocaleString() +
          " frames (each " + percent(drawn.least, drawn.tree.v) + " of the width or more); " +
          "search and top functions count them all."
        : "";
    }
    return chart;
  }

  function defaultColor(node) { return frameKinds.colorOf(node.data.n, node.depth); }

  function searchTerm() {
    var term = state.search;
    if (!term) { return ""; }
    try { new RegExp(term); } catch (e) { term = term.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }
    return term;
  }

  function applySearch() {
    var term = searchTerm();
    Object.keys(charts).forEach(function (id) {
      if (term) { charts[id].search(term); } else { charts[id].clear(); }
    });
    if (!term || !wholeTree) { $("match").textContent = ""; return; }
    var sum = matchShare(wholeTree, new RegExp(term)), total = wholeTree.value[0];
    $("match").textContent = formatCount(sum) + " of " + formatCount(total) + " samples match (" + percent(sum, total) + ")";
  }

  // ---- top functions ---------------------------------------------------------------------------
  function drawTop() {
    var all = topTotal;
    var body = $("top-table").querySelector("tbody");
    body.textContent = "";
    topRows.sort(function (a, b) { return b[topSort] - a[topSort] || a.name.localeCompare(b.name); });
    document.querySelectorAll("#top-table th.sortable").forEach(function (th) {
      th.classList.toggle("sorted", th.dataset.sort === topSort);
    });
    topRows.slice(0, TOP_ROWS).forEach(function (row) {
      var tr = document.createElement("tr");
      var fn = document.createElement("td");
      fn.className = "fn";
      fn.textContent = row.name;
      fn.title = row.name;
      tr.appendChild(fn);
      [row.self, row.total].forEach(function (value) {
        var td = document.createElement("td");
        td.className = "num";
        td.textContent = percent(value, all);
        td.title = formatCount(value) + " samples";
        tr.appendChild(td);
      });
      tr.addEventListener("click", function () {
        state.search = "^" + row.name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") + "$";
        $("search").value = state.search;
        writeUrl(true);
        applySearch();
      });
      body.appendChild(tr);
    });
  }

  // ---- the differential flame graph ------------------------------------------------------------
  var SCALE = 1e6;

  /* A tree of both ranges: each frame's width is its mean share of A and B, `a`/`b` its samples,
     `d` the change of its share (B - A), so that ranges of different sizes compare fairly. */
  function diffTree(treeA, treeB) {
    var totalA = treeA.v || 0, totalB = treeB.v || 0;
    function share(value, total) { return total ? value / total : 0; }
    function merge(name, a, b) {
      var va = a ? a.v : 0, vb = b ? b.v : 0;
      var pa = share(va, totalA), pb = share(vb, totalB);
      var node = { n: name, a: va, b: vb, v: (pa + pb) / 2 * SCALE, d: (pb - pa) * SCALE };
      var byName = new Map();
      ((a && a.c) || []).forEach(function (child) { byName.set(child.n, [child, null]); });
      ((b && b.c) || []).forEach(function (child) {
        var pair = byName.get(child.n);
        if (pair) { pair[1] = child; } else { byName.set(child.n, [null, child]); }
      });
      if (byName.size) {
        node.c = [];
        byName.forEach(function (pair, childName) { node.c.push(merge(childName, pair[0], pair[1])); });
      }
      return node;
    }
    return merge("all", treeA, treeB);
  }

  function diffColor(node) {
    var a = node.data.a, b = node.data.b;
    if (!a && b) { return "rgb(220,40,40)"; }
    if (a && !b) { return "rgb(40,90,220)"; }
    var pa = node.data.v - node.data.d / 2, pb = node.data.v + node.data.d / 2;  // shares x SCALE
    var change = (pb - pa) / Math.max(pa, pb, 1e-9);
    if (Math.abs(change) < 0.05) { return "rgb(215,215,215)"; }
    var strength = Math.min(1, Math.abs(change));
    var fade = Math.round(215 - 175 * strength);
    return change > 0 ? "rgb(220," + fade + "," + fade + ")" : "rgb(" + fade + "," + (fade + 20) + ",220)";
  }

  function diffTooltip(d) {
    var root = rootOf(d).data;
    var pa = percent(d.data.a, root.a), pb = percent(d.data.b, root.b);
    var change = (100 * d.data.d / SCALE);
    return d.data.n + "\nA: " + formatCount(d.data.a) + " samples (" + pa + ")\nB: " +
      formatCount(d.data.b) + " samples (" + pb + ")\nchange: " + (change >= 0 ? "+" : "") +
      change.toFixed(2) + " points";
  }

  // ---- the time series -------------------------------------------------------------------------
  function drawTimeseries(points, range) {
    var element = $("timeseries");
    if (timeseries) { timeseries.destroy(); timeseries = null; }
    element.textContent = "";
    var xs = [], samples = [], cpu = [], mem = [];
    points.forEach(function (p) {
      xs.push(new Date(p.time).getTime() / 1000);
      samples.push(p.samples);
      cpu.push(p.cpu_avg);
      mem.push(p.mem_avg);
    });
    var options = {
      width: Math.max(300, element.clientWidth),
      height: 150,
      cursor: { drag: { x: true, y: false, setScale: false } },
      scales: {
        x: { time: true, range: function () { return [range.start / 1000, range.end / 1000]; } },
        pct: { range: [0, 100] }
      },
      axes: [
        {},
        { label: "samples", size: 60 },
        { scale: "pct", side: 1, label: "%", grid: { show: false } }
      ],
      series: [
        {},
        { label: "samples", stroke: "#c0392b", fill: "rgba(192,57,43,0.12)", width: 1.5 },
        { label: "CPU %", scale: "pct", stroke: "#2471a3", width: 1.2, spanGaps: true },
        { label: "memory %", scale: "pct", stroke: "#27ae60", width: 1.2, spanGaps: true }
      ],
      hooks: {
        setSelect: [function (plot) {
          if (plot.select.width < 4) { return; }
          var start = plot.posToVal(plot.select.left, "x");
          var end = plot.posToVal(plot.select.left + plot.select.width, "x");
          plot.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
          state.range = "custom";
          state.from = new Date(start * 1000).toISOString();
          state.to = new Date(end * 1000).toISOString();
          load(true);
        }]
      }
    };
    timeseries = new uPlot(options, [xs, samples, cpu, mem], element);
  }

  // ---- loading ---------------------------------------------------------------------------------
  function fillSelect(select, values, chosen) {
    select.textContent = "";
    var all = values.slice();
    chosen.forEach(function (v) { if (all.indexOf(v) < 0) { all.push(v); } });
    all.forEach(function (value) {
      var option = document.createElement("option");
      option.value = value;
      option.textContent = value === "" ? "(none)" : value;
      option.selected = chosen.indexOf(value) >= 0;
      select.appendChild(option);
    });
  }

  function syncControls(range) {
    $("range").value = state.range;
    $("custom-range").hidden = state.range !== "custom";
    $("from").value = localInput(range.start);
    $("to").value = localInput(range.end);
    $("search").value = state.search;
    $("compare-toggle").checked = state.compare;
    $("compare-bar").hidden = !state.compare;
    $("base").value = state.base;
    $("base-custom").hidden = state.base !== "custom";
    $("single").hidden = state.compare;
    $("compare").hidden = !state.compare;
  }

  function downloads(range) {
    var collapsed = params(range, { format: "collapsed", download: "1" });
    var page = params(range, { format: "html", download: "1" });
    $("download-collapsed").href = "/api/v1/flamegraph?" + collapsed.toString();
    $("download-html").href = "/api/v1/flamegraph?" + page.toString();
    ["pprof", "speedscope"].forEach(function (format) {
      $("download-" + format).href = "/api/v1/flamegraph?" + params(range, { format: format, download: "1" }).toString();
    });
  }

  function noData(total, range) {
    if (total) { return false; }
    var narrowed = FILTERS.some(function (name) { return state[name].length; });
    say("No samples for " + state.service + " from " + describe(range) +
        (narrowed ? " with these filters. Clear the filters or" : ".") + " Try a longer time range.", false);
    return true;
  }

  function load(push) {
    var mine = ++generation;
    var range = currentRange();
    if (state.range === "custom") { state.from = range.start.toISOString(); state.to = range.end.toISOString(); }
    writeUrl(push);
    syncControls(range);
    quiet();
    if (!state.service) { return Promise.resolve(); }
    downloads(range);
    var current = function () { return mine === generation; };
    // Every value seen in the range, whatever is picked, so that a pick can be changed.
    var seen = api("seen", params(range, {}, true)).then(function (found) {
      if (!current()) { return; }
      fillSelect($("host"), found.hosts, state.host);
      fillSelect($("container"), found.containers, state.container);
      fillSelect($("process"), found.processes, state.process);
    });
    var series = api("timeseries", params(range, {})).then(function (body) {
      if (current()) { drawTimeseries(body.points, range); }
    });
    var graphs;
    if (!state.compare) {
      performance.mark("flamegraph-requested");
      graphs = flameTree(range).then(function (tree) {
        if (!current()) { return; }
        performance.mark("flamegraph-received");
        noData(tree.value[0], range);
        wholeTree = tree;
        drawFlame("flame", tree, { details: "details", note: "drawn-note" });
        topRows = topFunctions(tree);
        topTotal = tree.value[0];
        drawTop();
        applySearch();
        performance.mark("flamegraph-drawn");  // benchmarks/bench_studio_ui.py reads these marks
      });
    } else {
      var base = baselineRange(range);
      $("label-a").textContent = describe(base);
      $("label-b").textContent = describe(range);
      $("base-from").value = localInput(base.start);
      $("base-to").value = localInput(base.end);
      graphs = Promise.all([flameTree(base), flameTree(range)])
        .then(function (both) {
          if (!current()) { return; }
          var treeA = both[0], treeB = both[1];
          var totalA = treeA.value[0], totalB = treeB.value[0];
          if (!totalA && !totalB) { noData(0, range); }
          else if (!totalA) { say("A (" + describe(base) + ") has no samples: everything in B shows as new.", false); }
          else if (!totalB) { say("B (" + describe(range) + ") has no samples: everything in A shows as gone.", false); }
          drawFlame("flame-a", treeA, {});
          wholeTree = treeB;
          drawFlame("flame-b", treeB, {});
          drawFlame("flame-diff", diffTree(nestTree(treeA, 0), nestTree(treeB, 0)), {
            details: "diff-details", color: diffColor, tooltip: diffTooltip, note: "drawn-note",
            label: function (d) { return diffTooltip(d).replace(/\n/g, "  "); }
          });
          applySearch();
        });
    }
    return Promise.all([seen, series, graphs]).catch(failed);
  }

  function start() {
    // A link that names its service loads it at once; the service list arrives meanwhile.
    var early = state.service ? load(false) : null;
    Promise.all([api("session"), api("services")]).then(function (answers) {
      var who = answers[0], body = answers[1];
      $("who").textContent = who.all_services ? "all services" : "service " + who.service;
      var select = $("service");
      select.textContent = "";
      body.services.forEach(function (name) {
        var option = document.createElement("option");
        option.value = option.textContent = name;
        select.appendChild(option);
      });
      if (!body.services.length) {
        say("No profiles have arrived yet. Point an agent here: gprofiler --upload-results --token TOKEN " +
            "--service-name NAME --server-host " + window.location.origin, false);
        return;
      }
      var known = body.services.indexOf(state.service) >= 0;
      if (!known) { state.service = body.services[0]; }
      select.value = state.service;
      if (!known || !early) { return load(false); }
    }).catch(failed);
  }

  // ---- controls --------------------------------------------------------------------------------
  $("service").addEventListener("change", function () {
    state.service = this.value;
    FILTERS.forEach(function (name) { state[name] = []; });
    load(true);
  });
  $("range").addEventListener("change", function () {
    state.range = this.value;
    if (state.range === "custom") {
      var range = currentRange();
      state.range = "custom";
      state.from = range.start.toISOString();
      state.to = range.end.toISOString();
    }
    load(true);
  });
  // A custom range's two inputs, into two state fields (the time chosen, and compare's baseline).
  function rangeInputs(fromId, toId, fromKey, toKey) {
    [fromId, toId].forEach(function (id) {
      $(id).addEventListener("change", function () {
        state[fromKey] = fromInput($(fromId).value);
        state[toKey] = fromInput($(toId).value);
        load(true);
      });
    });
  }
  rangeInputs("from", "to", "from", "to");
  FILTERS.forEach(function (name) {
    $(name).addEventListener("change", function () {
      state[name] = Array.prototype.filter.call(this.options, function (o) { return o.selected; })
        .map(function (o) { return o.value; });
      load(true);
    });
  });
  $("clear-filters").addEventListener("click", function () {
    FILTERS.forEach(function (name) { state[name] = []; });
    load(true);
  });
  $("refresh").addEventListener("click", function () { load(false); });
  $("compare-toggle").addEventListener("change", function () { state.compare = this.checked; load(true); });
  $("base").addEventListener("change", function () {
    state.base = this.value;
    if (state.base === "custom") {
      var base = baselineRange(currentRange());
      state.baseFrom = base.start.toISOString();
      state.baseTo = base.end.toISOString();
    }
    load(true);
  });
  rangeInputs("base-from", "base-to", "baseFrom", "baseTo");
  var searchTimer = null;
  $("search").addEventListener("input", function () {
    var value = this.value;
    clearTimeout(searchTimer);
    searchTimer = setTimeout(function () { state.search = value; writeUrl(false); applySearch(); }, 200);
  });
  $("search").addEventListener("keydown", function (event) {
    if (event.key === "Enter") { clearTimeout(searchTimer); state.search = this.value; writeUrl(true); applySearch(); }
  });
  $("reset-zoom").addEventListener("click", function () {
    Object.keys(charts).forEach(function (id) { charts[id].resetZoom(); });
  });
  document.querySelectorAll("#top-table th.sortable").forEach(function (th) {
    th.addEventListener("click", function () { topSort = th.dataset.sort; drawTop(); });
  });
  window.addEventListener("popstate", function () { state = readUrl(); $("service").value = state.service; load(false); });
  // A new width redraws in place (zoom and search kept); nothing is fetched again.
  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      Object.keys(charts).forEach(function (id) {
        var width = Math.max(300, $(id).clientWidth);
        if (width !== charts[id].width()) { charts[id].width(width).update(); }
      });
      var series = $("timeseries");
      if (timeseries && Math.max(300, series.clientWidth) !== timeseries.width) {
        timeseries.setSize({ width: Math.max(300, series.clientWidth), height: 150 });
      }
    }, 300);
  });

  frameKinds.legend($("legend"), [["search match", MATCH_COLOR]]);
  window.studio = { state: function () { return state; }, load: load };  // for tests and the console
  start();
})();

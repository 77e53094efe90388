/* Frame kinds by the suffixes and shapes the agent writes (see docs/architecture.md), and a color
   for each: shared by the agent's flame graph file and studio's web UI. Defines `frameKinds`. */
var frameKinds = (function () {
  "use strict";
  var PATTERNS = [
    ["process", /^appid: /],
    ["profiling error", /^\[Profiling error/],
    ["kernel", /_\[k\]$/],
    ["Python", /_\[p\]$|_\[pe\]$/],
    ["Java", /_\[j\]$|_\[i\]$/],
    ["JavaScript", /_\[js\]$|^JS:/],
    ["Ruby", /_\[rb\]$/],
    ["PHP", /_\[php\]$/]
  ];
  var COLORS = {
    "process": [176, 176, 176],
    "kernel": [232, 163, 59],
    "native": [224, 85, 58],
    "Python": [61, 143, 214],
    "Java": [72, 168, 96],
    "JavaScript": [201, 184, 44],
    "Ruby": [190, 60, 90],
    "PHP": [130, 110, 200],
    "profiling error": [211, 23, 154]
  };
  function hash(name) {
    var h = 0;
    for (var i = 0; i < name.length && i < 24; i++) { h = (h * 31 + name.charCodeAt(i)) | 0; }
    return ((h >>> 0) % 1000) / 1000;
  }
  function shade(rgb, name) {
    var f = 0.82 + 0.3 * hash(name);
    return "rgb(" + rgb.map(function (c) { return Math.min(255, Math.round(c * f)); }).join(",") + ")";
  }
  /* The kind of a frame: depth 0 is the root and depth 1 the process (or container) name. */
  function kindOf(name, depth) {
    if (depth === 0 || depth === 1) { return "process"; }
    for (var i = 0; i < PATTERNS.length; i++) {
      if (PATTERNS[i][1].test(name)) { return PATTERNS[i][0]; }
    }
    return "native";
  }
  function colorOf(name, depth) { return shade(COLORS[kindOf(name, depth)], name); }
  /* Fill `element` with one swatch per kind; `extra` adds [label, CSS color] pairs. */
  function legend(element, extra) {
    var entries = Object.keys(COLORS).map(function (kind) { return [kind, "rgb(" + COLORS[kind].join(",") + ")"]; });
    entries.concat(extra || []).forEach(function (entry) {
      var swatch = document.createElement("span");
      swatch.style.setProperty("--swatch", entry[1]);
      swatch.textContent = entry[0];
      element.appendChild(swatch);
    });
  }
  return { kindOf: kindOf, colorOf: colorOf, legend: legend };
})();

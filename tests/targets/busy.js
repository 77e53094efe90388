// A CPU-bound Node.js target with a known call chain: gpOuter -> gpMiddle -> gpLeaf.
// Runs for argv[2] seconds (default 30).
"use strict";

function gpLeaf() {
  let total = 0;
  for (let i = 0; i < 1e6; i++) {
    total += i * i;
  }
  return total;
}

function gpMiddle() {
  return gpLeaf();
}

function gpOuter(seconds) {
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    gpMiddle();
  }
}

gpOuter(Number(process.argv[2] || 30));

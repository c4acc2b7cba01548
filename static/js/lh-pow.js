/* LeadHub proof of work: find a counter such that sha256(challenge + ":" + counter)
   starts with `difficulty` zero bits (capture/spam.py checks it).

   A small SHA-256 in plain JavaScript rather than crypto.subtle.digest: the challenge's
   first 64-byte block is hashed once and reused (only the tail changes per attempt),
   and a synchronous loop avoids a promise per attempt. In Chromium that is several
   times faster than awaiting crypto.subtle per attempt (see the report in
   tests/capture/test_pow_js.py). Work runs in slices so the page stays responsive.

   Defines LeadHubPow.solve(challenge, difficulty, done) and LeadHubPow.sha256Hex(text).
   Loaded as its own file on LeadHub's pages; the embed script includes it in its own
   scope, so nothing leaks onto other websites' pages. */
var LeadHubPow = (function () {
  "use strict";
  var K = new Int32Array([
    0x428a2f98, 0x71374491, -0x4a3f0431, -0x164a245b, 0x3956c25b, 0x59f111f1, -0x6dc07d5c, -0x54e3a12b,
    -0x27f85568, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, -0x7f214e02, -0x6423f959, -0x3e640e8c,
    -0x1b64963f, -0x1041b87a, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    -0x67c1aeae, -0x57ce3993, -0x4ffcd838, -0x40a68039, -0x391ff40d, -0x2a586eb9, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, -0x7e3d36d2, -0x6d8dd37b,
    -0x5d40175f, -0x57e599b5, -0x3db47490, -0x3893ae5d, -0x2e6d17e7, -0x2966f9dc, -0xbf1ca7b, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, -0x7b3787ec, -0x7338fdf8, -0x6f410006, -0x5baf9315, -0x41065c09, -0x398e870e
  ]);
  var H0 = [0x6a09e667, -0x4498517b, 0x3c6ef372, -0x5ab00ac6, 0x510e527f, -0x64fa9774, 0x1f83d9ab, 0x5be0cd19];
  var W = new Int32Array(64);

  // One 64-byte block (bytes[off..off+63]) into the state st (8 words, changed in place).
  function block(st, bytes, off) {
    var i, x, y, t1, t2;
    for (i = 0; i < 16; i++) {
      W[i] = (bytes[off + 4 * i] << 24) | (bytes[off + 4 * i + 1] << 16) |
             (bytes[off + 4 * i + 2] << 8) | bytes[off + 4 * i + 3];
    }
    for (i = 16; i < 64; i++) {
      x = W[i - 15]; y = W[i - 2];
      W[i] = (W[i - 16] + ((x >>> 7 | x << 25) ^ (x >>> 18 | x << 14) ^ (x >>> 3)) + W[i - 7] +
              ((y >>> 17 | y << 15) ^ (y >>> 19 | y << 13) ^ (y >>> 10))) | 0;
    }
    var a = st[0], b = st[1], c = st[2], d = st[3], e = st[4], f = st[5], g = st[6], h = st[7];
    for (i = 0; i < 64; i++) {
      t1 = (h + ((e >>> 6 | e << 26) ^ (e >>> 11 | e << 21) ^ (e >>> 25 | e << 7)) +
            ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
      t2 = (((a >>> 2 | a << 30) ^ (a >>> 13 | a << 19) ^ (a >>> 22 | a << 10)) +
            ((a & b) ^ (a & c) ^ (b & c))) | 0;
      h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    st[0] = (st[0] + a) | 0; st[1] = (st[1] + b) | 0; st[2] = (st[2] + c) | 0; st[3] = (st[3] + d) | 0;
    st[4] = (st[4] + e) | 0; st[5] = (st[5] + f) | 0; st[6] = (st[6] + g) | 0; st[7] = (st[7] + h) | 0;
  }

  function utf8(text) {
    if (typeof TextEncoder !== "undefined") return new TextEncoder().encode(text);
    var s = unescape(encodeURIComponent(text)), out = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }

  // A hasher for prefix + suffix where the prefix's whole blocks are hashed only once.
  function prefixed(prefix) {
    var p = utf8(prefix), full = p.length - (p.length % 64), mid = new Int32Array(H0), off;
    for (off = 0; off < full; off += 64) block(mid, p, off);
    var rest = p.subarray(full), buf = new Uint8Array(192), st = new Int32Array(8);
    return function (suffix) {  // suffix: ASCII (digits); returns the state (8 words)
      var n = rest.length, i, len = p.length + suffix.length, bits;
      buf.fill(0);
      buf.set(rest);
      for (i = 0; i < suffix.length; i++) buf[n++] = suffix.charCodeAt(i);
      buf[n++] = 0x80;
      var end = n + 8 <= 64 ? 64 : (n + 8 <= 128 ? 128 : 192);
      bits = len * 8;  // a challenge is far below 512 MB: the length's top 4 bytes stay 0
      buf[end - 4] = bits >>> 24; buf[end - 3] = bits >>> 16; buf[end - 2] = bits >>> 8; buf[end - 1] = bits;
      for (i = 0; i < 8; i++) st[i] = mid[i];
      for (off = 0; off < end; off += 64) block(st, buf, off);
      return st;
    };
  }

  function hex(st) {
    var out = "";
    for (var i = 0; i < 8; i++) out += ("0000000" + (st[i] >>> 0).toString(16)).slice(-8);
    return out;
  }

  function zeroBits(st) {
    var bits = 0;
    for (var i = 0; i < 8; i++) {
      if (st[i] === 0) { bits += 32; continue; }
      return bits + Math.clz32(st[i]);
    }
    return bits;
  }

  // Calls done(counter) once sha256(challenge + ":" + counter) has `difficulty` zero bits.
  // Returns a function that stops the search.
  function solve(challenge, difficulty, done) {
    var hash = prefixed(challenge + ":"), counter = 0, stopped = false;
    function slice() {
      if (stopped) return;
      var until = Date.now() + 40;
      while (Date.now() < until) {
        for (var j = 0; j < 2000; j++, counter++) {
          if (zeroBits(hash(String(counter))) >= difficulty) { done(counter); return; }
        }
      }
      setTimeout(slice, 0);
    }
    slice();
    return function () { stopped = true; };
  }

  // The whole hash of any text, as hex (for tests and for anyone checking the code).
  function sha256Hex(text) {
    var p = utf8(text), len = p.length, total = (len + 9 + 63) & ~63;
    var buf = new Uint8Array(total), st = new Int32Array(H0), bits = len * 8;
    buf.set(p);
    buf[len] = 0x80;
    buf[total - 8] = Math.floor(bits / 0x100000000) >>> 24; buf[total - 7] = Math.floor(bits / 0x100000000) >>> 16;
    buf[total - 6] = Math.floor(bits / 0x100000000) >>> 8; buf[total - 5] = Math.floor(bits / 0x100000000);
    buf[total - 4] = bits >>> 24; buf[total - 3] = bits >>> 16; buf[total - 2] = bits >>> 8; buf[total - 1] = bits;
    for (var off = 0; off < total; off += 64) block(st, buf, off);
    return hex(st);
  }

  return { solve: solve, sha256Hex: sha256Hex };
})();

// The photo view's maths, for the page: disguise/photo/view.py's PhotoCanvas.apply, ported.
//
// Pure functions on typed arrays (no DOM), so that web/live.js draws with them in the browser
// and Node's test runner checks them against fixtures written by the Python code
// (tests/test_page_maths.py, web/tests/photo_view.test.mjs): at most 1 level apart.
//
// The edit z + sum_i alpha_i v_i is decoded (onnxruntime-web), then the change from the
// reconstruction r to the edit e is carried onto the photo: per model pixel, the share of its
// headroom it moved, (e - r) / (255 - r) lighter or (e - r) / r darker, and the largest change in
// levels; that field is warped to the photo's pixels with OpenCV's bicubic kernel at OpenCV's own
// sample positions (replicated border), weighted by a ramp from NEGLIGIBLE to FULL levels and by the soft
// mask at the crop's border, and each photo level moves that share of its own headroom.

// z + alphas @ bank: the edited code (alphas of 0 are skipped, as the server's direction does).
// Below 0 a slider moves along its row of `removal` where the model gives one (removal rows,
// disguise/sliders/removal_rows.py); without it, along `bank` both ways.
export function editedCode(z, bank, alphas, removal = null) {
  const out = Float32Array.from(z);
  const n = z.length;
  for (let i = 0; i < alphas.length; i++) {
    const a = alphas[i];
    if (a === 0) continue;
    const rows = a < 0 && removal ? removal : bank;
    const row = i * n;
    for (let k = 0; k < n; k++) out[k] += a * rows[row + k];
  }
  return out;
}

// OpenCV's cubic kernel (A = -0.75) at the offsets of the four taps from a fraction t.
export function cubicWeights(t, out, k) {
  const A = -0.75;
  const x0 = t + 1, x1 = t, x2 = 1 - t;
  out[k] = ((A * x0 - 5 * A) * x0 + 8 * A) * x0 - 4 * A;
  out[k + 1] = ((A + 2) * x1 - (A + 3)) * x1 * x1 + 1;
  out[k + 2] = ((A + 2) * x2 - (A + 3)) * x2 * x2 + 1;
  out[k + 3] = 1 - out[k] - out[k + 1] - out[k + 2];
}

export function smoothstep(t) {
  t = Math.min(Math.max(t, 0), 1);
  return t * t * (3 - 2 * t);
}

// C's lrint under the default rounding (half to even), as OpenCV's saturate_cast<int> rounds.
function rint(v) {
  const r = Math.round(v);
  return (r - v === 0.5 && r % 2 !== 0) ? r - 1 : r;
}

// Every photo pixel the crop can change: its index, its taps into the padded field, its mask.
// photo: {box: [x0, y0, x1, y1], warp: the 2 x 3 footprint -> model transform (6 numbers),
// width: the photo's width, feather}; size: the model's side. Where each pixel samples the field
// is worked out as cv2.warpAffine does: in fixed point, 1/1024 of a pixel, then the 1/32 grid of
// its interpolation tables (imgwarp.cpp, WarpAffineInvoker), so the taps are OpenCV's own.
export function footprint(photo, size) {
  const [x0, y0, x1, y1] = photo.box;
  const [a0, a1, a2, a3, a4, a5] = photo.warp;
  const pad = size + 4;  // the field is padded by 2 on each side (replicated), so taps need no clamp
  const pixels = [], taps = [], weights = [], masks = [];
  const w = new Float32Array(8);
  for (let y = y0; y < y1; y++) {
    const fy = y - y0;
    const X0 = rint((a1 * fy + a2) * 1024) + 16, Y0 = rint((a4 * fy + a5) * 1024) + 16;
    for (let x = x0; x < x1; x++) {
      const fx = x - x0;
      const jx = a0 * fx + a1 * fy + a2, jy = a3 * fx + a4 * fy + a5;
      const edge = Math.min(jx + 0.5, size - 0.5 - jx, jy + 0.5, size - 0.5 - jy);
      const mask = smoothstep(edge / (photo.feather * size));
      if (!(mask > 0)) continue;
      const X = (X0 + rint(a0 * fx * 1024)) >> 5, Y = (Y0 + rint(a3 * fx * 1024)) >> 5;
      const ix = X >> 5, iy = Y >> 5;
      cubicWeights((X & 31) / 32, w, 0);
      cubicWeights((Y & 31) / 32, w, 4);
      pixels.push((y * photo.width + x) * 4);
      taps.push(((iy - 1 + 2) * pad + (ix - 1 + 2)) * 4);
      for (let k = 0; k < 8; k++) weights.push(w[k]);
      masks.push(mask);
    }
  }
  return {pixels: Int32Array.from(pixels), taps: Int32Array.from(taps),
          weights: Float32Array.from(weights), masks: Float32Array.from(masks), pad};
}

// The change field of view.py's change_shares and the largest change per pixel, 4 channels,
// padded by 2 (replicated): recon and edited are the model's RGB pixels (size x size x 3).
export function fillField(recon, edited, size, field) {
  const pad = size + 4;
  for (let y = -2; y < size + 2; y++) {
    const sy = Math.min(Math.max(y, 0), size - 1);
    for (let x = -2; x < size + 2; x++) {
      const sx = Math.min(Math.max(x, 0), size - 1);
      const src = (sy * size + sx) * 3, dst = ((y + 2) * pad + (x + 2)) * 4;
      let most = 0;
      for (let c = 0; c < 3; c++) {
        const rv = recon[src + c], d = edited[src + c] - rv;
        field[dst + c] = d >= 0 ? d / Math.max(255 - rv, 1) : d / Math.max(rv, 1);
        const m = Math.abs(d);
        if (m > most) most = m;
      }
      field[dst + 3] = most;
    }
  }
  return field;
}

// A photo level p moved by a share of its headroom (towards 255 when positive, 0 when negative);
// stored into a Uint8ClampedArray it is rounded half to even and clamped, as numpy's rint and clip.
export function moved(p, share, weight) {
  share = share < -1 ? -1 : (share > 1 ? 1 : share);
  const up = share > 0 ? share : 0;
  return p + (p * (share - 2 * up) + 255 * up) * weight;
}

// PhotoCanvas.apply ("ratio") over the footprint: base and out are the photo's RGBA pixels
// (Uint8ClampedArray), taps from footprint(), field from fillField(); negligible and full in levels.
export function composite(taps, field, base, out, negligible, full) {
  const row = taps.pad * 4;
  const ramp = 1 / (full - negligible);
  const n = taps.pixels.length;
  for (let i = 0; i < n; i++) {
    const w = i * 8, o = taps.pixels[i];
    let s0 = 0, s1 = 0, s2 = 0, lv = 0;
    let at = taps.taps[i];
    for (let dy = 0; dy < 4; dy++, at += row) {
      const wy = taps.weights[w + 4 + dy];
      let r0 = 0, r1 = 0, r2 = 0, r3 = 0;
      for (let dx = 0, q = at; dx < 4; dx++, q += 4) {
        const wx = taps.weights[w + dx];
        r0 += wx * field[q]; r1 += wx * field[q + 1]; r2 += wx * field[q + 2]; r3 += wx * field[q + 3];
      }
      s0 += wy * r0; s1 += wy * r1; s2 += wy * r2; lv += wy * r3;
    }
    let weight = (lv - negligible) * ramp;
    weight = weight <= 0 ? 0 : (weight >= 1 ? 1 : weight) * taps.masks[i];
    if (weight === 0) {
      out[o] = base[o]; out[o + 1] = base[o + 1]; out[o + 2] = base[o + 2];
      continue;
    }
    out[o] = moved(base[o], s0, weight);
    out[o + 1] = moved(base[o + 1], s1, weight);
    out[o + 2] = moved(base[o + 2], s2, weight);
  }
  return out;
}

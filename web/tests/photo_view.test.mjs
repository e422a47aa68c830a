// web/photo_view.mjs against the Python it ports (disguise/photo/view.py, PhotoCanvas.apply, and
// the edit z + alphas @ bank), on fixtures tests/test_page_maths.py writes for many random edits,
// photo sizes and transforms. Run by that test:  PHOTO_VIEW_FIXTURES=DIR node --test web/tests/
import assert from "node:assert/strict";
import {readFileSync, readdirSync} from "node:fs";
import {join} from "node:path";
import {test} from "node:test";

import {composite, editedCode, fillField, footprint} from "../photo_view.mjs";

const folder = process.env.PHOTO_VIEW_FIXTURES;
const bytes = (text) => new Uint8Array(Buffer.from(text, "base64"));
const floats = (text) => new Float32Array(bytes(text).buffer);
const cases = folder ? readdirSync(folder).filter((n) => n.endsWith(".json")).sort() : [];

test("there are fixtures to check", () => {
  assert.ok(folder, "set PHOTO_VIEW_FIXTURES to the folder tests/test_page_maths.py writes");
  assert.ok(cases.length >= 20, `only ${cases.length} fixtures in ${folder}`);
});

for (const name of cases) {
  const fx = JSON.parse(readFileSync(join(folder, name), "utf8"));
  if (fx.kind === "photo") {
    test(`photo view ${name}: ${fx.photo.width} x ${fx.photo.height}, model ${fx.size} px`, () => {
      const {width, height} = fx.photo;
      const rgb = bytes(fx.base), want = bytes(fx.expected);
      const base = new Uint8ClampedArray(width * height * 4);
      for (let i = 0, j = 0; i < width * height; i++, j += 3) {
        base[i * 4] = rgb[j]; base[i * 4 + 1] = rgb[j + 1]; base[i * 4 + 2] = rgb[j + 2]; base[i * 4 + 3] = 255;
      }
      const taps = footprint(fx.photo, fx.size);
      const field = fillField(bytes(fx.recon), bytes(fx.edited), fx.size, new Float32Array((fx.size + 4) ** 2 * 4));
      const out = composite(taps, field, base, new Uint8ClampedArray(base), fx.photo.negligible, fx.photo.full);
      let worst = 0, changed = 0;
      for (let i = 0, j = 0; i < width * height; i++, j += 3) {
        for (let c = 0; c < 3; c++) {
          const d = Math.abs(out[i * 4 + c] - want[j + c]);
          if (d > worst) worst = d;
          if (want[j + c] !== rgb[j + c]) changed++;
        }
      }
      assert.ok(worst <= 1, `${name}: a pixel ${worst} levels from PhotoCanvas.apply`);
      assert.ok(fx.unchanged || changed > 0, `${name}: the fixture's edit changes nothing`);
    });
  } else {
    test(`edited code ${name}: z + alphas @ bank${fx.removal ? " (removal rows below 0)" : ""}, ${fx.zDim} dimensions`, () => {
      const got = editedCode(floats(fx.z), floats(fx.bank), Float32Array.from(fx.alphas),
                           fx.removal ? floats(fx.removal) : null);
      const want = floats(fx.expected);
      assert.equal(got.length, want.length);
      for (let k = 0; k < want.length; k++) {
        assert.ok(Math.abs(got[k] - want[k]) <= 1e-4 * (1 + Math.abs(want[k])), `${name}: [${k}] ${got[k]} != ${want[k]}`);
      }
    });
  }
}

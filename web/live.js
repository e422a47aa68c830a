// The picture: the edited photo, large, before and after in one canvas with a compare handle,
// drawn by the page itself while a slider is dragged.
//
// Runs as the `js_on_load` of the app's `gr.HTML` live component (app.py), with `element`,
// `trigger`, `props` and `watch` from Gradio. The server sends one JSON document per face, view,
// set of locks and picture size (disguise/serving/live.py) as the component's value; from it the
// page computes z + sum_i alpha_i v_i, decodes it with onnxruntime-web (WASM) and, in the photo
// view, draws the change on the photo as disguise/photo/view.py's PhotoCanvas.apply does (the
// maths: web/photo_view.mjs, checked against the Python by Node's test runner).
//
// Two layers, "before" (the photo, or the model's reconstruction) and "after" (the edit), are
// presented in the canvas at its displayed size times the device pixel ratio: the after layer
// right of the handle, the before layer left of it. The handle follows a drag (mouse or touch)
// and the arrow keys; a double click puts it back in the middle.
//
// Until the runtime and the decoder have loaded, and for good if they cannot (an old browser,
// blocked files), the layers are the server's pictures (#recon, #edited, kept out of sight) and
// every slider move goes to the server as before (`trigger("input")`). One decode at a time: a
// move during a decode only marks the picture stale; when the decode ends the latest slider
// values are decoded, never a queue of old ones.

const SLIDER_LIMIT = props.slider_limit || 4;
const STATS_KEPT = 5000;
const MAX_DPR = 2.5;

const live = {
  mode: "loading",      // "loading" | "browser" | "server"
  problem: "",          // why the page fell back to the server (console only)
  doc: null,            // the parsed document and what is worked out from it
  alphas: null,         // Float32Array(40): the slider positions the page draws
  lastInput: 0,         // timeStamp of the newest slider input not drawn yet
  busy: false,
  seq: 0,
  stale: false,
  frames: 0,            // pictures the page decoded and drew
  stats: [],            // {input, drawn, decode, present} per picture, ms (performance.now() clock)
  session: null,
  handle: 0.5,          // where the compare handle is, a share of the picture's width
  source: "none",       // what the layers show: "none" | "server" | "page"
};
window.disguiseLive = live;

// ---------------------------------------------------------------------------------------------
// URLs from the page's root, so the app also works mounted under a sub-path.

function rootUrl() {
  const root = (window.gradio_config && window.gradio_config.root) || window.location.href;
  return root.endsWith("/") ? root : root + "/";
}

function resolve(url) {
  return new URL(url, rootUrl()).href;
}

// The photo view's maths (web/photo_view.mjs), served beside the decoder.
let maths = null;
const mathsReady = (props.maths_url ? import(resolve(props.maths_url))
  : Promise.reject(new Error("the server offers no page maths"))).then((m) => { maths = m; });
mathsReady.catch(() => {});

// ---------------------------------------------------------------------------------------------
// The layers and the canvas they are presented in.

const stage = element.querySelector(".stage");
const canvas = element.querySelector("canvas.live-canvas");
const note = element.querySelector(".live-note");
const ctx = canvas.getContext("2d");
const before = document.createElement("canvas");
const after = document.createElement("canvas");
const beforeCtx = before.getContext("2d");
const afterCtx = after.getContext("2d", {willReadFrequently: true});
live.before = before;
live.after = after;

function sizeLayers(w, h) {
  for (const layer of [before, after]) {
    if (layer.width !== w || layer.height !== h) {
      layer.width = w;
      layer.height = h;
    }
  }
}

// The canvas's pixels match its displayed size (times the device pixel ratio, capped).
function fitCanvas() {
  const box = canvas.getBoundingClientRect();
  const dpr = Math.min(window.devicePixelRatio || 1, MAX_DPR);
  const w = Math.max(1, Math.round(box.width * dpr)), h = Math.max(1, Math.round(box.height * dpr));
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  return dpr;
}

function label(text, x, y, alignRight, dpr) {
  ctx.font = `${Math.round(12 * dpr)}px sans-serif`;
  const w = ctx.measureText(text).width + 12 * dpr;
  const left = alignRight ? x - w : x;
  ctx.fillStyle = "rgba(0, 0, 0, 0.55)";
  ctx.fillRect(left, y, w, 20 * dpr);
  ctx.fillStyle = "white";
  ctx.fillText(text, left + 6 * dpr, y + 14 * dpr);
}

// After right of the handle, before left of it, the picture fitted into the canvas.
function present() {
  const t0 = performance.now();
  const dpr = fitCanvas();
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  stage.classList.toggle("has-picture", live.source !== "none");
  if (live.source === "none" || !after.width) return 0;
  const s = Math.min(canvas.width / after.width, canvas.height / after.height);
  const dw = after.width * s, dh = after.height * s;
  const dx = (canvas.width - dw) / 2, dy = (canvas.height - dh) / 2;
  live.rect = {dx, dy, dw, dh, dpr};
  // Each layer drawn only where it shows; "high" (a mipmapped filter) only when shrinking: when
  // enlarging, bilinear looks the same and costs a third of it on a CPU-drawn canvas.
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = s < 1 ? "high" : "low";
  const hx = live.handle * dw, split = live.handle * after.width;
  const left = hx > 0.5 && before.width ? hx : 0;
  if (left) ctx.drawImage(before, 0, 0, live.handle * before.width, before.height, dx, dy, hx, dh);
  if (dw - left > 0.5) ctx.drawImage(after, left ? split : 0, 0, after.width - (left ? split : 0), after.height,
                                     dx + left, dy, dw - left, dh);
  // The handle: a line across the picture and a grip in its middle.
  const x = dx + hx, r = 14 * dpr;
  ctx.fillStyle = "rgba(255, 255, 255, 0.9)";
  ctx.fillRect(x - dpr, dy, 2 * dpr, dh);
  ctx.beginPath();
  ctx.arc(x, dy + dh / 2, r, 0, 2 * Math.PI);
  ctx.fill();
  ctx.fillStyle = "rgba(30, 30, 30, 0.85)";
  ctx.font = `${Math.round(14 * dpr)}px sans-serif`;
  ctx.textAlign = "center";
  ctx.fillText("\u25C2\u25B8", x, dy + dh / 2 + 5 * dpr);
  ctx.textAlign = "start";
  if (live.handle > 0.12) label("Before", dx + 6 * dpr, dy + 6 * dpr, false, dpr);
  if (live.handle < 0.88) label("After", dx + dw - 6 * dpr, dy + 6 * dpr, true, dpr);
  return performance.now() - t0;
}

new ResizeObserver(() => present()).observe(stage);

// The compare handle: dragged with a pointer (touch too), moved by the arrow keys.
function handleAt(clientX) {
  const box = canvas.getBoundingClientRect(), r = live.rect;
  if (!r) return;
  const x = (clientX - box.left) * r.dpr;
  live.handle = Math.min(Math.max((x - r.dx) / r.dw, 0), 1);
  present();
}

let dragging = false;
canvas.addEventListener("pointerdown", (e) => {
  if (live.source === "none") return;
  dragging = true;
  canvas.setPointerCapture(e.pointerId);
  handleAt(e.clientX);
});
canvas.addEventListener("pointermove", (e) => { if (dragging) handleAt(e.clientX); });
canvas.addEventListener("pointerup", () => { dragging = false; });
canvas.addEventListener("pointercancel", () => { dragging = false; });
canvas.addEventListener("dblclick", () => { live.handle = 0.5; present(); });
canvas.addEventListener("keydown", (e) => {
  const step = e.key === "ArrowLeft" ? -0.05 : e.key === "ArrowRight" ? 0.05 : 0;
  if (!step) return;
  e.preventDefault();
  live.handle = Math.min(Math.max(live.handle + step, 0), 1);
  present();
});

// ---------------------------------------------------------------------------------------------
// The server's pictures (#recon, #edited: Gradio's images, kept out of sight) fill the layers
// until the page draws its own, and for good when it cannot.

const served = {recon: "", edited: ""};

function loadInto(layer, g, src, size) {
  const img = new Image();
  img.onload = () => {
    if (size) sizeLayers(img.naturalWidth, img.naturalHeight);
    g.drawImage(img, 0, 0, layer.width, layer.height);
    if (live.source !== "page") live.source = "server";
    present();
  };
  img.src = src;
}

function followServer() {
  for (const [id, layer, g] of [["edited", after, afterCtx], ["recon", before, beforeCtx]]) {
    const img = document.querySelector(`#${id} img`);
    const src = img ? img.getAttribute("src") || "" : "";
    if (src === served[id]) continue;
    served[id] = src;
    if (!src) continue;
    // The page's own picture wins while it can decode this face.
    if (live.mode === "browser" && live.doc && live.doc.drawn) continue;
    loadInto(layer, g, src, id === "edited");
  }
}
setInterval(followServer, 120);

function fallBack(why) {
  if (live.mode === "server") return;
  live.mode = "server";
  live.problem = String(why);
  console.info("disguise: editing through the server:", live.problem);
  served.recon = served.edited = "";  // show the server's pictures again
  if (live.source === "page") live.source = "server";
  note.textContent = "";
}

// ---------------------------------------------------------------------------------------------
// Loading the runtime (a pinned file: ours, or a CDN's with its integrity hash) and the decoder.

function loadScript(src, integrity) {
  return new Promise((resolveLoad, reject) => {
    const s = document.createElement("script");
    s.src = src;
    if (integrity) {
      s.integrity = integrity;
      s.crossOrigin = "anonymous";
    }
    s.onload = () => resolveLoad();
    s.onerror = () => reject(new Error("could not load " + src));
    document.head.appendChild(s);
  });
}

async function start() {
  if (!props.model_url || !props.runtime_url) throw new Error("the server offers no decoder");
  if (typeof WebAssembly !== "object") throw new Error("this browser has no WebAssembly");
  await mathsReady;
  if (!window.ort) await loadScript(resolve(props.runtime_url), props.runtime_integrity || "");
  const ort = window.ort;
  if (!ort || !ort.InferenceSession) throw new Error("the runtime did not define ort");
  ort.env.wasm.wasmPaths = resolve(props.wasm_base);
  ort.env.wasm.numThreads = 1;  // threads need a cross-origin isolated page
  ort.env.logLevel = "error";
  live.session = await ort.InferenceSession.create(resolve(props.model_url), {
    executionProviders: ["wasm"], graphOptimizationLevel: "all"});
  live.ort = ort;
  live.mode = "browser";
  live.readyAt = performance.now();  // ms since the page's navigation began
  if (live.doc) request(performance.now());
}

// ---------------------------------------------------------------------------------------------
// The document: typed arrays, and for the photo view every footprint pixel's bicubic taps.

function fromBase64(text, Type) {
  const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  return new Type(bytes.buffer);
}

async function photoPixels(photo) {
  const img = new Image();
  img.src = photo.src;
  await img.decode();
  const c = document.createElement("canvas");
  c.width = photo.width;
  c.height = photo.height;
  const g = c.getContext("2d", {willReadFrequently: true});
  g.drawImage(img, 0, 0);
  return g.getImageData(0, 0, photo.width, photo.height);
}

// A model-sized RGB picture into a layer, smoothly enlarged.
let small = null;

function drawModelPixels(rgb, size, layer, g) {
  if (!small || small.width !== size) {
    small = document.createElement("canvas");
    small.width = small.height = size;
  }
  const img = new ImageData(size, size);
  for (let i = 0, j = 0; i < size * size; i++, j += 3) {
    img.data[i * 4] = rgb[j]; img.data[i * 4 + 1] = rgb[j + 1]; img.data[i * 4 + 2] = rgb[j + 2];
    img.data[i * 4 + 3] = 255;
  }
  small.getContext("2d").putImageData(img, 0, 0);
  g.imageSmoothingEnabled = true;
  g.imageSmoothingQuality = "high";
  g.drawImage(small, 0, 0, layer.width, layer.height);
}

async function prepare(text) {
  const seq = ++live.seq;  // a newer document may arrive while this one's photo decodes
  let raw;
  try {
    raw = text ? JSON.parse(text) : null;
  } catch (e) {
    raw = null;
  }
  if (!raw || raw.format !== 3) {
    live.doc = null;
    return;
  }
  const doc = {
    face: raw.face, view: raw.view, size: raw.size, zDim: raw.zDim, display: raw.display,
    attributes: raw.attributes,
    z: fromBase64(raw.z, Float32Array), bank: fromBase64(raw.bank, Float32Array),
    removal: raw.removal ? fromBase64(raw.removal, Float32Array) : null,
    recon: fromBase64(raw.recon, Uint8Array), photo: null, drawn: false,
  };
  if (raw.view === "photo" && raw.photo) {
    const p = raw.photo;
    const [base] = await Promise.all([photoPixels(p), mathsReady]);
    if (seq !== live.seq) return;
    doc.photo = {...p, base, out: new ImageData(new Uint8ClampedArray(base.data), p.width, p.height),
                 taps: maths.footprint(p, raw.size)};
  }
  doc.field = new Float32Array((raw.size + 4) * (raw.size + 4) * 4);
  doc.edited = new Uint8Array(raw.size * raw.size * 3);
  doc.index = Object.fromEntries(raw.attributes.map((name, i) => [name, i]));
  live.alphas = Float32Array.from(raw.alphas);
  live.doc = doc;
  request(performance.now());
}

// The before layer for a document: the photo itself, or the reconstruction.
function drawBefore(doc) {
  if (doc.photo) {
    sizeLayers(doc.photo.width, doc.photo.height);
    beforeCtx.putImageData(doc.photo.base, 0, 0);
    afterCtx.putImageData(doc.photo.base, 0, 0);
  } else {
    sizeLayers(doc.display, doc.display);
    drawModelPixels(doc.recon, doc.size, before, beforeCtx);
  }
}

// ---------------------------------------------------------------------------------------------
// Drawing one picture.

function composite(doc) {
  const ph = doc.photo;
  maths.fillField(doc.recon, doc.edited, doc.size, doc.field);
  maths.composite(ph.taps, doc.field, ph.base.data, ph.out.data, ph.negligible, ph.full);
  const [x0, y0, x1, y1] = ph.box;
  afterCtx.putImageData(ph.out, 0, 0, x0, y0, Math.max(x1 - x0, 0), Math.max(y1 - y0, 0));
}

async function draw(doc, alphas) {
  const t0 = performance.now();
  const z = maths.editedCode(doc.z, doc.bank, alphas, doc.removal);
  const feeds = {z: new live.ort.Tensor("float32", z, [1, doc.zDim])};
  const result = await live.session.run(feeds);
  doc.edited.set(result.image.data);
  const decoded = performance.now();
  if (doc !== live.doc) return;  // a new face arrived meanwhile
  if (!doc.drawn) drawBefore(doc);
  if (doc.photo) composite(doc);
  else drawModelPixels(doc.edited, doc.size, after, afterCtx);
  doc.drawn = true;
  live.source = "page";
  const composed = performance.now();
  const presentMs = present();
  return {decode: decoded - t0, photo: composed - decoded, present: presentMs};
}

function request(inputTime) {
  if (!live.lastInput || inputTime < live.lastInput) live.lastInput = inputTime;
  if (live.busy) {
    live.stale = true;
    return;
  }
  if (live.mode === "browser" && live.doc) run();
}

async function run() {
  live.busy = true;
  try {
    do {
      live.stale = false;
      const doc = live.doc, input = live.lastInput;
      live.lastInput = 0;
      const ms = await draw(doc, Float32Array.from(live.alphas));
      if (doc === live.doc && doc.drawn && ms) {
        const drawn = performance.now();
        live.frames += 1;
        if (live.stats.length >= STATS_KEPT) live.stats.shift();
        const entry = {input, drawn, decode: ms.decode, photo: ms.photo, present: ms.present, frame: null};
        live.stats.push(entry);
        requestAnimationFrame(() => { entry.frame = performance.now(); });
        note.textContent = `Drawn in your browser (decode ${ms.decode.toFixed(1)} ms)`;
      }
    } while (live.stale && live.mode === "browser");
  } catch (e) {
    fallBack(e && e.message ? e.message : e);
    trigger("input");  // the server draws the picture the page could not
  } finally {
    live.busy = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Sliders: their DOM events, delegated, in the bubbling phase: Gradio's own handlers have taken
// the new value by the time these run.

function sliderOf(target) {
  const box = target && target.closest ? target.closest('[id^="slider-"]') : null;
  return box ? box.id.slice("slider-".length) : null;
}

document.addEventListener("input", (e) => {
  const name = sliderOf(e.target);
  if (name === null) return;
  const doc = live.doc;
  if (live.mode !== "browser" || !doc || !(name in doc.index)) {
    trigger("input");  // the server draws it, as without the live view
    return;
  }
  let a = parseFloat(e.target.value);
  if (!Number.isFinite(a)) a = 0;
  live.alphas[doc.index[name]] = Math.min(Math.max(a, -SLIDER_LIMIT), SLIDER_LIMIT);
  request(e.timeStamp);
});

// The end of a move that Gradio's release event does not see (keys, a value set by a script):
// the range input's own "change". The server then draws its picture and the identity line.
document.addEventListener("change", (e) => {
  if (live.mode === "browser" && e.target.type === "range" && sliderOf(e.target) !== null) trigger("input");
});

// Values set without an input event (Reset, a random face, a slider's own reset button, an API
// client) reach the sliders only: the page draws whatever a slider newly says.
const seen = {};  // each slider's value when last looked at

function followSliders() {
  const doc = live.doc;
  if (live.mode !== "browser" || !doc || !doc.drawn || !live.alphas) return;
  let moved = false;
  for (const [name, i] of Object.entries(doc.index)) {
    const range = document.querySelector(`#slider-${name} input[type=range]`);
    const a = range ? parseFloat(range.value) : NaN;
    if (!Number.isFinite(a) || a === seen[name]) continue;
    seen[name] = a;
    const clamped = Math.min(Math.max(a, -SLIDER_LIMIT), SLIDER_LIMIT);
    if (Math.abs(clamped - live.alphas[i]) > 1e-6) {
      live.alphas[i] = clamped;
      moved = true;
    }
  }
  if (moved) request(performance.now());
}
setInterval(followSliders, 150);

// For tests and benchmarks: load a document as the server would send it, decode given slider
// positions with it (the model-sized pixels, RGB), and read the after layer back (a PNG).
live.prepare = prepare;
live.render = async (alphas) => {
  while (live.busy) await new Promise((r) => setTimeout(r, 5));  // one decode at a time
  live.busy = true;
  try {
    live.alphas = Float32Array.from(alphas);
    await draw(live.doc, live.alphas);
    return Array.from(live.doc.edited);
  } finally {
    live.busy = false;
  }
};
live.afterPixels = () => after.toDataURL("image/png");  // the after layer, lossless
live.present = present;

watch("value", () => prepare(props.value).catch((e) => fallBack(e && e.message ? e.message : e)));
prepare(props.value).catch(() => {});
start().catch((e) => fallBack(e && e.message ? e.message : e));
present();

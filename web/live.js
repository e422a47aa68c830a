// The live view in the browser: the page decodes edits itself while a slider is dragged.
//
// Runs as the `js_on_load` of the app's `gr.HTML` live component (app.py), with `element`,
// `trigger`, `props` and `watch` from Gradio. The server sends one JSON document per face, view
// and set of locks (disguise/live.py) as the component's value; from it the page computes
// z + sum_i alpha_i v_i, decodes it with onnxruntime-web (WASM) and, in the photo view, draws the
// change on the photo as disguise/photo.py's PhotoCanvas.apply does.
//
// Until the runtime and the decoder have loaded, and for good if they cannot (an old browser,
// blocked files), every slider move goes to the server as before (`trigger("input")`).
// One decode at a time: a move during a decode only marks the picture stale; when the decode
// ends the latest slider values are decoded, never a queue of old ones.

const SLIDER_LIMIT = props.slider_limit || 4;
const STATS_KEPT = 5000;

const live = {
  mode: "loading",      // "loading" | "browser" | "server"
  problem: "",          // why the page fell back to the server (console only)
  doc: null,            // the parsed document and what is worked out from it
  alphas: null,         // Float32Array(40): the slider positions the page draws
  lastInput: 0,         // timeStamp of the newest slider input not drawn yet
  busy: false,
  seq: 0,
  stale: false,
  frames: 0,            // pictures drawn
  stats: [],            // {input, drawn, decode} per picture, ms (performance.now() clock)
  session: null,
};
window.disguiseLive = live;

// The photo view's maths (web/photo_view.mjs), served beside the decoder.
let maths = null;
const mathsReady = (props.maths_url ? import(resolve(props.maths_url))
  : Promise.reject(new Error("the server offers no page maths"))).then((m) => { maths = m; });
mathsReady.catch(() => {});

const canvas = element.querySelector("canvas.live-canvas");
const note = element.querySelector(".live-note");
const ctx = canvas.getContext("2d");

// ---------------------------------------------------------------------------------------------
// URLs from the page's root, so the app also works mounted under a sub-path.

function rootUrl() {
  const root = (window.gradio_config && window.gradio_config.root) || window.location.href;
  return root.endsWith("/") ? root : root + "/";
}

function resolve(url) {
  return new URL(url, rootUrl()).href;
}

// ---------------------------------------------------------------------------------------------
// Which picture is shown: the server's image (#edited) or this canvas.

const block = element.closest("#live") || element;  // Gradio's wrapper around this component

function showCanvas(on) {
  const server = document.getElementById("edited");
  block.style.display = on ? "" : "none";
  if (server) server.style.display = on ? "none" : "";
}

function fallBack(why) {
  if (live.mode === "server") return;
  live.mode = "server";
  live.problem = String(why);
  console.info("disguise: editing through the server:", live.problem);
  showCanvas(false);
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

async function prepare(text) {
  const seq = ++live.seq;  // a newer document may arrive while this one's photo decodes
  let raw;
  try {
    raw = text ? JSON.parse(text) : null;
  } catch (e) {
    raw = null;
  }
  if (!raw || raw.format !== 1) {
    live.doc = null;
    showCanvas(false);
    return;
  }
  const doc = {
    face: raw.face, view: raw.view, size: raw.size, zDim: raw.zDim, display: raw.display,
    attributes: raw.attributes,
    z: fromBase64(raw.z, Float32Array), bank: fromBase64(raw.bank, Float32Array),
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
  if (doc.photo) {
    canvas.width = doc.photo.width;
    canvas.height = doc.photo.height;
  } else {
    canvas.width = canvas.height = raw.display;
  }
  request(performance.now());
}

// ---------------------------------------------------------------------------------------------
// Drawing one picture: the maths are web/photo_view.mjs's (the same module Node's tests check).

function composite(doc) {
  const ph = doc.photo;
  maths.fillField(doc.recon, doc.edited, doc.size, doc.field);
  maths.composite(ph.taps, doc.field, ph.base.data, ph.out.data, ph.negligible, ph.full);
  const [x0, y0, x1, y1] = ph.box;
  ctx.putImageData(ph.out, 0, 0, x0, y0, Math.max(x1 - x0, 0), Math.max(y1 - y0, 0));
}

let small = null;  // a model-sized canvas for the model view

function drawModel(doc) {
  const s = doc.size;
  if (!small || small.width !== s) {
    small = document.createElement("canvas");
    small.width = small.height = s;
  }
  const img = new ImageData(s, s), e = doc.edited;
  for (let i = 0, j = 0; i < s * s; i++, j += 3) {
    img.data[i * 4] = e[j]; img.data[i * 4 + 1] = e[j + 1]; img.data[i * 4 + 2] = e[j + 2];
    img.data[i * 4 + 3] = 255;
  }
  small.getContext("2d").putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(small, 0, 0, canvas.width, canvas.height);
}

async function draw(doc, alphas) {
  const t0 = performance.now();
  const z = maths.editedCode(doc.z, doc.bank, alphas);
  const feeds = {z: new live.ort.Tensor("float32", z, [1, doc.zDim])};
  const result = await live.session.run(feeds);
  doc.edited.set(result.image.data);
  const decoded = performance.now();
  if (doc !== live.doc) return;  // a new face arrived meanwhile
  if (doc.photo) {
    if (!doc.drawn) ctx.putImageData(doc.photo.base, 0, 0);
    composite(doc);
  } else {
    drawModel(doc);
  }
  doc.drawn = true;
  return decoded - t0;
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
      const decodeMs = await draw(doc, Float32Array.from(live.alphas));
      if (doc === live.doc && doc.drawn) {
        const drawn = performance.now();
        live.frames += 1;
        if (live.stats.length >= STATS_KEPT) live.stats.shift();
        const entry = {input, drawn, decode: decodeMs, frame: null};
        live.stats.push(entry);
        requestAnimationFrame(() => { entry.frame = performance.now(); });
        note.textContent = `Drawn in your browser (decode ${decodeMs.toFixed(1)} ms)`;
        showCanvas(true);
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
// Sliders: their DOM events, delegated (closed accordions render their sliders later), in the
// bubbling phase: Gradio's own handlers have taken the new value by the time these run.

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

// A slider's own reset button sets its value without an input event.
document.addEventListener("click", (e) => {
  const name = sliderOf(e.target);
  if (name === null || !e.target.closest("button") || live.mode !== "browser" || !live.doc) return;
  setTimeout(() => {
    const range = document.querySelector(`#slider-${name} input[type=range]`);
    if (range && name in live.doc.index) {
      live.alphas[live.doc.index[name]] = parseFloat(range.value) || 0;
      request(performance.now());
    }
  }, 50);
});

// The end of a move that Gradio's release event does not see (keys, a value set by a script):
// the range input's own "change". The server then draws its picture and the identity line.
document.addEventListener("change", (e) => {
  if (live.mode === "browser" && e.target.type === "range" && sliderOf(e.target) !== null) trigger("input");
});

// For tests and benchmarks: load a document as the server would send it, and decode given
// slider positions with it (the model-sized pixels, RGB).
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

watch("value", () => prepare(props.value).catch((e) => fallBack(e && e.message ? e.message : e)));
showCanvas(false);
prepare(props.value).catch(() => {});
start().catch((e) => fallBack(e && e.message ? e.message : e));

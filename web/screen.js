// How big the picture is shown: the stage's box in CSS pixels and the device pixel ratio, as this
// component's value ({"w", "h", "dpr"}), which the server reads to make the live photo copy the
// page draws on as sharp as it is shown (disguise/serving/studio.py, live_side).
// Runs as the `js_on_load` of a `gr.HTML` component; reported a moment after loading (Gradio
// wires the value after js_on_load runs) and again when the stage changes size.

let last = "";
function report() {
  const stage = document.querySelector("#live .stage");
  if (!stage) return;
  const box = stage.getBoundingClientRect();
  const value = JSON.stringify({w: Math.round(box.width), h: Math.round(box.height),
                                dpr: Math.round((window.devicePixelRatio || 1) * 100) / 100});
  if (value !== last && box.width > 0) {
    last = value;
    props.value = value;
  }
}

let timer = null;
function soon() {
  clearTimeout(timer);
  timer = setTimeout(report, 250);
}
setTimeout(report, 200);
const watchStage = () => {
  const stage = document.querySelector("#live .stage");
  if (stage) new ResizeObserver(soon).observe(stage);
  else setTimeout(watchStage, 200);
};
watchStage();

// Dragging the point over the Latent space tab's plane (the `js_on_load` of a gr.HTML in app.py).
//
// A click on the plane is Gradio's own select event; a drag moves the two sliders, as if a person
// moved them, so the server draws each position (trigger mode "always_last": never a queue).
// props.to_pixel = [ax, bx, ay, by] maps a latent point to a pixel of the plane's picture:
// px = ax * x + bx, py = ay * y + by; props.limit bounds both axes.

const [ax, bx, ay, by] = props.to_pixel;
const limit = props.limit;
let dragging = false;

function plane(target) {
  return target && target.closest ? target.closest("#latent-plane img") : null;
}

function setSlider(id, value) {
  const range = document.querySelector(`#${id} input[type=range]`);
  if (!range) return;
  range.value = value.toFixed(2);
  range.dispatchEvent(new Event("input", {bubbles: true}));
}

function moveTo(e) {
  const img = document.querySelector("#latent-plane img");
  if (!img || !img.naturalWidth) return;
  // the picture is drawn "contain"-fitted in its box: find where it lies
  const box = img.getBoundingClientRect();
  const scale = Math.min(box.width / img.naturalWidth, box.height / img.naturalHeight);
  const left = box.left + (box.width - img.naturalWidth * scale) / 2;
  const top = box.top + (box.height - img.naturalHeight * scale) / 2;
  const px = (e.clientX - left) / scale, py = (e.clientY - top) / scale;
  const clamp = (v) => Math.max(-limit, Math.min(limit, v));
  setSlider("latent-x", clamp((px - bx) / ax));
  setSlider("latent-y", clamp((py - by) / ay));
}

document.addEventListener("dragstart", (e) => { if (plane(e.target)) e.preventDefault(); });
document.addEventListener("pointerdown", (e) => {
  if (plane(e.target) && e.button === 0) dragging = true;
});
document.addEventListener("pointermove", (e) => {
  if (dragging && e.buttons & 1) moveTo(e);
  else dragging = false;
});
document.addEventListener("pointerup", () => { dragging = false; });
